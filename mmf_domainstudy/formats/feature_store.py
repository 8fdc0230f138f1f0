"""Fast, fork-safe reading of an MMF LMDB feature store, plus consistency checks."""
import json
import os

import lmdb
import numpy as np
import torch

from mmf_domainstudy.formats.errors import DataFormatError
from mmf_domainstudy.formats.lmdb_store import open_lmdb_readonly, read_keys, to_key
from mmf_domainstudy.formats.safe_pickle import safe_loads
from mmf_domainstudy.utils.atomic import atomic_write_text

FEATURE_INFO_NAME = "feature_info.json"
_CAST_CHUNK = 16384  # below torch's parallel grain size (32768), so casts run inline
# The attributes MMF's ImageDatabase tries, in order, to name a sample's image.
_IMAGE_ATTRS = ("Flickr30kID", "Flikr30kID", "identifier", "image_path", "image_name", "img", "image_id")


class FeatureStore:
    """``store[image_id] -> record dict`` over an LMDB feature store.

    The environment opens lazily and again in every new process (a DataLoader
    worker must not reuse its parent's LMDB handle), readonly without locks as
    MMF does, and is shared with other readers of the same store. Records are
    unpickled with the restricted unpickler. ``expected_dim`` makes every read
    check the feature width; ``float16`` halves the memory of ``features``.
    """

    def __init__(self, path, expected_dim=None, float16=False):
        self.path = os.fspath(path)
        self.expected_dim = expected_dim
        self.float16 = float16
        self._env = None
        self._keys = None
        self._key_set = None

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_env"] = None
        return state

    def _environment(self):
        env = open_lmdb_readonly(self.path)
        if env is not self._env:  # first use, new process, or reopened after a write
            with env.begin(buffers=True) as txn:
                self._keys = read_keys(txn, self.path)
            self._key_set = set(self._keys)
            self._env = env
        return env

    def keys(self):
        """The stored image ids (bytes), in insertion order."""
        self._environment()
        return list(self._keys)

    def __len__(self):
        self._environment()
        return len(self._keys)

    def __contains__(self, image_id):
        self._environment()
        return to_key(image_id) in self._key_set

    def __getitem__(self, image_id):
        key = to_key(image_id)
        env = self._environment()
        source = f"feature store {self.path} key {key!r}"
        try:
            with env.begin(buffers=True) as txn:
                raw = txn.get(key)
                record = None if raw is None else safe_loads(raw, source=source)
        except lmdb.Error as err:
            raise DataFormatError(f"{source}: the store is corrupt ({err}); re-extract it.") from None
        if record is None:
            raise DataFormatError(
                f"image id {key.decode()!r} is not in feature store {self.path} ({len(self._keys)} images); "
                "the annotations and features come from different sources: extract the missing images "
                "with tools/extract_features.py (it resumes) or point the config at the matching store."
            )
        return self._checked(record, source)

    def _checked(self, record, source):
        features = record.get("features") if isinstance(record, dict) else None
        if not isinstance(features, np.ndarray) or features.ndim != 2:
            raise DataFormatError(f"{source}: not a feature record with 2-d 'features'; re-extract the store.")
        if self.expected_dim is not None and features.shape[1] != self.expected_dim:
            raise DataFormatError(
                f"{source}: features are {features.shape[1]}-d but {self.expected_dim}-d were expected; "
                f"set the model's visual_embedding_dim to {features.shape[1]} (see read_feature_dim) "
                "or extract features with the backbone the config assumes."
            )
        if self.float16:
            record["features"] = to_float16(features)
        return record

    def key_for_feature_path(self, feature_path):
        """The key MMF's LMDBFeatureReader reads for an imdb ``feature_path``.

        MMF first tries the number after the last ``_`` (``COCO_train2014_000000000009.npy``
        -> ``b"9"``), then the whole name without ``.npy``.
        """
        self._environment()
        stem = os.path.normpath(feature_path).split(".npy")[0]
        try:
            numeric = str(int(stem.split("_")[-1])).encode()
        except ValueError:
            numeric = None
        for key in (numeric, stem.encode()):
            if key is not None and key in self._key_set:
                return key
        raise DataFormatError(
            f"feature path {feature_path!r} matches no image in feature store {self.path} "
            f"(tried {numeric!r} and {stem.encode()!r}); extract the missing images or fix the annotations."
        )

    def read_feature_path(self, feature_path):
        return self[self.key_for_feature_path(feature_path)]


def to_float16(array):
    """``array.astype(float16)``, bit-identical, about 10x faster than numpy's cast.

    torch's cast is vectorised, but on a whole record it fans out over OpenMP
    threads, which stall for milliseconds when other processes load the CPUs;
    slices below torch's parallel grain size run inline.
    """
    out = np.empty(array.shape, dtype=np.float16)
    source = torch.from_numpy(np.ascontiguousarray(array)).reshape(-1)
    target = torch.from_numpy(out).reshape(-1)
    for start in range(0, source.numel(), _CAST_CHUNK):
        target[start : start + _CAST_CHUNK].copy_(source[start : start + _CAST_CHUNK])
    return out


def feature_path_for_sample(sample):
    """The ``feature_path`` MMF derives for an annotation sample (imdb or jsonl)."""
    if "feature_path" in sample:
        return sample["feature_path"]
    for attr in _IMAGE_ATTRS:
        if sample.get(attr) is not None:
            image = str(sample[attr])
            if attr in ("image_name", "image_id"):
                return image + ".npy"
            return ".".join(image.split(".")[:-1]) + ".npy"
    raise DataFormatError(f"annotation sample has no image reference (one of {('feature_path',) + _IMAGE_ATTRS}).")


def check_annotations_against_store(samples, store, annotation_path):
    """Fail early, listing them, if any annotated image is absent from ``store``."""
    missing = []
    for sample in samples:
        feature_path = feature_path_for_sample(sample)
        try:
            store.key_for_feature_path(feature_path)
        except DataFormatError:
            missing.append(feature_path)
    if missing:
        raise DataFormatError(
            f"{len(missing)} of {len(samples)} samples in {annotation_path} have no features in "
            f"{store.path} (first: {missing[:5]}); extract those images with tools/extract_features.py "
            "(it resumes) or use the feature store that belongs to these annotations."
        )


def feature_info_path(store_path):
    return os.path.join(os.fspath(store_path), FEATURE_INFO_NAME)


def write_feature_info(store_path, info):
    """Record how a store was made (backbone, dim, regions) inside its directory."""
    atomic_write_text(feature_info_path(store_path), json.dumps(info, indent=2, sort_keys=True) + "\n")


def read_feature_info(store_path):
    """The store's ``feature_info.json`` as a dict, or ``None`` for stores made elsewhere."""
    path = feature_info_path(store_path)
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except json.JSONDecodeError as err:
        raise DataFormatError(f"{path} is not valid JSON ({err.msg}); delete it and re-run extraction.") from None


def read_feature_dim(store_path):
    """The feature width, so configs can set ``visual_embedding_dim`` without hand edits.

    Taken from ``feature_info.json`` when present, else from the first record.
    """
    info = read_feature_info(store_path)
    if info is not None and "dim" in info:
        return int(info["dim"])
    store = FeatureStore(store_path)
    keys = store.keys()
    if not keys:
        raise DataFormatError(f"feature store {store_path} is empty; extract features into it first.")
    return int(store[keys[0]]["features"].shape[1])
