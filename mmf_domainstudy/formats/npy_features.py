"""Per-image ``.npy`` features: ``<name>.npy`` (features) beside ``<name>_info.npy`` (the rest).

This is the layout MMF's ``PaddedFasterRCNNFeatureReader`` reads when the
features path is a folder rather than an ``.lmdb``.
"""
import os

import numpy as np

from mmf_domainstudy.formats.errors import DataFormatError
from mmf_domainstudy.formats.lmdb_store import validate_record
from mmf_domainstudy.formats.npy import load_npy, save_npy

_FIX = "extract features into this folder or point the config at the right features path"


def npy_feature_paths(feature_dir, name):
    """``(features_path, info_path)`` for image ``name`` (without ``.npy``)."""
    base = os.path.join(os.fspath(feature_dir), name)
    return base + ".npy", base + "_info.npy"


def write_npy_features(feature_dir, name, record):
    """Write one image's record; info is written first so features imply a complete pair."""
    record = validate_record(record, source=f"record {name!r} for {feature_dir}")
    features_path, info_path = npy_feature_paths(feature_dir, name)
    info = {key: value for key, value in record.items() if key != "features"}
    info_array = np.empty((), dtype=object)
    info_array[()] = info
    save_npy(info_path, info_array)
    save_npy(features_path, record["features"])


def read_npy_features(feature_dir, name):
    """One image's record: features plus whatever its ``_info.npy`` holds (if present)."""
    features_path, info_path = npy_feature_paths(feature_dir, name)
    features = load_npy(features_path, what="feature file", fix=_FIX)
    if features.dtype == object or features.ndim != 2:
        raise DataFormatError(f"feature file {features_path}: expected a 2-d numeric array, got {features.shape}.")
    record = {"features": features}
    if os.path.isfile(info_path):
        info = load_npy(info_path, what="feature info file", fix=_FIX)
        if info.ndim != 0 or not isinstance(info.item(), dict):
            raise DataFormatError(f"feature info file {info_path}: expected a pickled dict; {_FIX}.")
        record.update(info.item())
    return record
