"""Streams of texts and region features from files, for the domain-similarity measures."""
import os
import random

from ..formats.errors import DataFormatError
from ..formats.feature_store import FeatureStore
from ..formats.npy import load_npy

CHUNK_ROWS = 65536


def iter_text_lines(paths):
    """Every line of every UTF-8 text file, one text per line."""
    for path in paths:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"text file {path} does not exist; pass UTF-8 files with one text per line")
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                yield line.rstrip("\n")


def _is_lmdb(path):
    return path.endswith(".lmdb") or os.path.isfile(os.path.join(path, "data.mdb"))


def _lmdb_regions(path, max_images, seed):
    """Real regions only: each record's first ``num_boxes`` rows (the rest is padding)."""
    store = FeatureStore(path)
    keys = store.keys()
    if max_images is not None and max_images < len(keys):
        keys = random.Random(seed).sample(keys, max_images)
    for key in keys:
        record = store[key]
        features = record["features"]
        yield features[: int(record.get("num_boxes", len(features)))]


def _npy_regions(path):
    array = load_npy(path, what="feature array", fix="pass an [n, d] or [images, regions, d] numeric .npy")
    if array.dtype.hasobject or array.ndim not in (2, 3):
        raise DataFormatError(
            f"feature array {path}: expected a numeric [n, d] or [images, regions, d] array, got shape {array.shape}"
        )
    rows = array.reshape(-1, array.shape[-1])
    for start in range(0, len(rows), CHUNK_ROWS):
        yield rows[start : start + CHUNK_ROWS]


def iter_region_features(paths, max_images=None, seed=0):
    """[regions, d] batches from MMF LMDB feature stores and/or ``.npy`` arrays.

    ``max_images`` draws that many images per LMDB store, seeded, so a large store can
    be summarised quickly and reproducibly; ``.npy`` arrays are read whole.
    """
    for path in map(os.fspath, paths):
        if _is_lmdb(path):
            yield from _lmdb_regions(path, max_images, seed)
        elif path.endswith(".npy"):
            yield from _npy_regions(path)
        else:
            raise DataFormatError(f"feature source {path}: expected an MMF .lmdb feature store or a .npy array")
