"""MMF "imdb" annotation files: a pickled object array of dicts, one per sample.

MMF's ``AnnotationDatabase`` treats element 0 as a metadata header when it has
no ``image_id`` key. Our writer always writes such a header (so MMF and this
reader agree on where the samples start) and requires ``image_id`` in every
sample (otherwise MMF would silently drop the first sample as "the header").
"""
import datetime
import os

from mmf_domainstudy.formats.errors import DataFormatError
from mmf_domainstudy.formats.npy import load_npy, npy_shape, object_array, save_npy

_FIX = "create it with tools/prepare_easy_vqa.py or download the dataset's annotations into the data dir"


def read_imdb(path):
    """Return ``(metadata, samples)`` of an imdb ``.npy`` file, with or without a header."""
    path = os.fspath(path)
    array = load_npy(path, what="annotation file", fix=_FIX)
    if array.ndim == 0 and isinstance(array.item(), dict):
        content = array.item()
        metadata, samples = content.get("metadata", {}), list(content.get("data", []))
    elif array.ndim == 1:
        samples = list(array)
        metadata = {}
        if samples and isinstance(samples[0], dict) and "image_id" not in samples[0]:
            metadata, samples = samples[0], samples[1:]
    else:
        raise DataFormatError(
            f"annotation file {path}: expected a list of dicts, found an array of shape {array.shape}; {_FIX}."
        )
    if not samples:
        raise _no_samples(path)
    bad = next((i for i, s in enumerate(samples) if not isinstance(s, dict)), None)
    if bad is not None:
        raise DataFormatError(
            f"annotation file {path}: sample {bad} is a {type(samples[bad]).__name__}, not a dict; {_FIX}."
        )
    return metadata, samples


def check_imdb_header(path):
    """Refuse a missing, empty (0-byte) or zero-length imdb from its header alone, before a reader
    that loads the whole file (rc10's AnnotationDatabase then fails on ``data[0]`` or at EOF)."""
    if 0 in npy_shape(path, what="annotation file", fix=_FIX):
        raise _no_samples(path)


def _no_samples(path):
    return DataFormatError(f"annotation file {path} has no samples (empty split); {_FIX}.")


def write_imdb(path, samples, dataset_name, **metadata):
    """Atomically write ``samples`` behind a metadata header, as MMF's imdbs are laid out."""
    path = os.fspath(path)
    if not samples:
        raise DataFormatError(f"refusing to write {path}: no samples (empty split).")
    missing = [i for i, sample in enumerate(samples) if "image_id" not in sample]
    if missing:
        raise DataFormatError(
            f"refusing to write {path}: samples {missing[:5]} lack 'image_id', which MMF's "
            "AnnotationDatabase uses to tell samples from the header."
        )
    header = {
        "version": 1,
        "dataset_name": dataset_name,
        "create_time": datetime.datetime.now().isoformat(timespec="seconds"),
        "has_answer": "answers" in samples[0],
        **metadata,
    }
    save_npy(path, object_array([header] + list(samples)))

