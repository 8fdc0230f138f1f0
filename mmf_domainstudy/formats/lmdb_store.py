"""MMF's LMDB feature stores: opening them safely, and writing them resumably.

Layout (what MMF's ``LMDBFeatureReader`` reads): key ``b"keys"`` holds a pickled
list of the image ids as ``bytes``; every other key is an image id whose value
is a pickled dict with ``features`` [N, D] float32, ``bbox`` [N, 4],
``image_width``, ``image_height``, ``num_boxes``, optionally ``cls_prob``
[N, C] and ``image_id``.
"""
import logging
import os
import pickle
import struct

import lmdb
import numpy as np

from mmf_domainstudy.formats.errors import DataFormatError
from mmf_domainstudy.formats.safe_pickle import safe_loads

logger = logging.getLogger(__name__)

KEYS_KEY = b"keys"
_REEXTRACT = "re-extract it with tools/extract_features.py (it resumes) or restore it from its download"
# LMDB's on-disk meta page (64-bit, little endian): a 16-byte page header, then
# mm_magic, mm_version, mm_address, mm_mapsize, two 48-byte MDB_db records (the
# first one's md_pad field holds the page size), mm_last_pg, mm_txnid.
_META = struct.Struct("<16xIIQQI44x48xQQ")
_LMDB_MAGIC = 0xBEEFC0DE


def to_key(image_id):
    """The LMDB key of an image id: its decimal/string form as bytes, as MMF looks it up."""
    key = image_id if isinstance(image_id, bytes) else str(image_id).encode()
    if key == KEYS_KEY:
        raise DataFormatError(f"image id {image_id!r} collides with the store's index key b'keys'; rename the image.")
    return key


def lmdb_data_file(path):
    """The data file of a store: ``<dir>/data.mdb``, or the path itself for a single-file store."""
    return os.path.join(path, "data.mdb") if os.path.isdir(path) else path


def check_lmdb_intact(path):
    """Refuse a store whose data file is not LMDB or is shorter than its own meta page says.

    A truncated data.mdb opens fine and then kills the reading process with
    SIGBUS on the first access past the end of the file, so check up front.
    """
    data_file = lmdb_data_file(path)
    if not os.path.isfile(data_file):
        raise DataFormatError(
            f"feature store {path} does not exist (no {data_file}); extract features into it with "
            "tools/extract_features.py or point the config's features path at the right .lmdb."
        )
    size = os.path.getsize(data_file)
    with open(data_file, "rb") as handle:
        first = handle.read(_META.size)
        if len(first) < _META.size:
            raise DataFormatError(f"feature store {path} is truncated ({size} bytes); {_REEXTRACT}.")
        magic, _, _, _, page_size, last_page, txn_id = _META.unpack(first)
        if magic != _LMDB_MAGIC or page_size < _META.size:
            raise DataFormatError(f"feature store {path}: {data_file} is not an LMDB file; {_REEXTRACT}.")
        handle.seek(page_size)
        second = handle.read(_META.size)
    if len(second) == _META.size:
        magic2, _, _, _, _, last_page2, txn_id2 = _META.unpack(second)
        if magic2 == _LMDB_MAGIC and txn_id2 > txn_id:
            last_page = last_page2
    needed = (last_page + 1) * page_size
    if size < needed:
        raise DataFormatError(
            f"feature store {path} is truncated or corrupt: {data_file} has {size} bytes but its "
            f"last committed page needs {needed}; {_REEXTRACT}."
        )


# py-lmdb refuses to open one environment twice in a process, yet train and val
# datasets often share one store: every reader in a process shares one handle.
# Entries are {realpath: (pid, env)}; a forked child inherits its parent's.
_READONLY_ENVS = {}
_REAL_PATHS = {}


def _real_path(path):
    """``os.path.realpath``, memoised: it costs several syscalls, and readers call this per record."""
    real_path = _REAL_PATHS.get(path)
    if real_path is None:
        real_path = _REAL_PATHS[path] = os.path.realpath(path)
    return real_path


def open_lmdb_readonly(path):
    """This process's shared readonly handle (no lock, no readahead, as MMF opens stores)."""
    path = os.fspath(path)
    real_path = _real_path(path)
    pid, env = _READONLY_ENVS.get(real_path, (None, None))
    if pid == os.getpid():
        return env
    if env is not None:
        # Inherited through fork: LMDB handles must not cross fork, and py-lmdb
        # refuses a second open while the inherited one is registered.
        env.close()
    check_lmdb_intact(path)
    try:
        env = lmdb.open(path, subdir=os.path.isdir(path), readonly=True, lock=False, readahead=False, meminit=False)
    except lmdb.Error as err:
        raise DataFormatError(
            f"feature store {path} cannot be opened ({err}); if another reader in this process holds it "
            f"open, close that one, else {_REEXTRACT}."
        ) from None
    _READONLY_ENVS[real_path] = (os.getpid(), env)
    return env


def release_lmdb_readonly(path):
    """Close this process's shared handle (readers reopen on next use), e.g. before writing."""
    _, env = _READONLY_ENVS.pop(_real_path(os.fspath(path)), (None, None))
    if env is not None:
        env.close()


def read_keys(txn, path):
    """The store's id list, as bytes; MMF's reader needs bytes, old stores may hold str."""
    try:
        raw = txn.get(KEYS_KEY)
    except lmdb.Error as err:
        raise DataFormatError(f"feature store {path} is corrupt ({err}); {_REEXTRACT}.") from None
    if raw is None:
        raise DataFormatError(
            f"feature store {path} has no b'keys' index; it was not written for MMF: {_REEXTRACT}."
        )
    keys = safe_loads(raw, source=f"feature store {path} key b'keys'")
    if not isinstance(keys, (list, tuple)):
        raise DataFormatError(f"feature store {path}: b'keys' holds a {type(keys).__name__}, not a list; {_REEXTRACT}.")
    return [key if isinstance(key, bytes) else str(key).encode() for key in keys]


def validate_record(record, source):
    """Check and normalise one record (float32 arrays, ``num_boxes`` filled in)."""
    if not isinstance(record, dict):
        raise DataFormatError(f"{source}: a record must be a dict, got {type(record).__name__}.")
    missing = [name for name in ("features", "bbox", "image_width", "image_height") if name not in record]
    if missing:
        raise DataFormatError(f"{source}: record lacks {missing}; MMF's readers need them.")
    record = dict(record)
    features = np.asarray(record["features"], dtype=np.float32)
    if features.ndim != 2:
        raise DataFormatError(f"{source}: 'features' must be [num_boxes, dim], got shape {features.shape}.")
    num_boxes = features.shape[0]
    bbox = np.asarray(record["bbox"], dtype=np.float32)
    if bbox.shape != (num_boxes, 4):
        raise DataFormatError(f"{source}: 'bbox' must be [{num_boxes}, 4], got shape {bbox.shape}.")
    if record.setdefault("num_boxes", num_boxes) != num_boxes:
        raise DataFormatError(f"{source}: 'num_boxes' is {record['num_boxes']} but features have {num_boxes} rows.")
    if "cls_prob" in record:
        cls_prob = np.asarray(record["cls_prob"], dtype=np.float32)
        if cls_prob.ndim != 2 or cls_prob.shape[0] != num_boxes:
            raise DataFormatError(f"{source}: 'cls_prob' must be [{num_boxes}, classes], got {cls_prob.shape}.")
        record["cls_prob"] = cls_prob
    record.update(
        features=features,
        bbox=bbox,
        num_boxes=int(num_boxes),
        image_width=int(record["image_width"]),
        image_height=int(record["image_height"]),
    )
    return record


class LMDBFeatureWriter:
    """Appends records to a store, one LMDB transaction per batch.

    The id index ``b"keys"`` is rewritten in the same transaction as the batch's
    records, so after a crash the store holds exactly the batches committed
    before it, and a rerun skips the ids already there.
    """

    def __init__(self, path, map_size=1 << 30):
        self.path = os.fspath(path)
        if os.path.isfile(self.path):
            raise DataFormatError(f"{self.path} is a file; the writer creates a store directory: pick another path.")
        if os.path.exists(lmdb_data_file(self.path)):
            check_lmdb_intact(self.path)
        os.makedirs(self.path, exist_ok=True)
        release_lmdb_readonly(self.path)
        try:
            self._env = lmdb.open(self.path, subdir=True, map_size=map_size, readahead=False, meminit=False)
        except lmdb.Error as err:
            raise DataFormatError(f"feature store {self.path} cannot be opened for writing ({err}).") from None
        with self._env.begin() as txn:
            has_index = txn.get(KEYS_KEY) is not None
            self._keys = read_keys(txn, self.path) if has_index else []
        self._key_set = set(self._keys)
        if self._keys:
            logger.info("Appending to %s, which holds %d images", self.path, len(self._keys))

    def __contains__(self, image_id):
        return to_key(image_id) in self._key_set

    def __len__(self):
        return len(self._keys)

    def write_batch(self, records):
        """Commit ``{image_id: record}`` atomically; ids already stored are skipped. Returns #written."""
        payloads = {}
        for image_id, record in records.items():
            key = to_key(image_id)
            if key in self._key_set or key in payloads:
                continue
            record = validate_record(record, source=f"record {image_id!r} for {self.path}")
            record.setdefault("image_id", key.decode())
            payloads[key] = pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL)
        if not payloads:
            return 0
        keys = self._keys + list(payloads)
        payloads[KEYS_KEY] = pickle.dumps(keys, protocol=pickle.HIGHEST_PROTOCOL)
        self._commit(payloads)
        self._keys = keys
        self._key_set.update(keys)
        return len(payloads) - 1

    def _commit(self, payloads):
        while True:
            try:
                with self._env.begin(write=True) as txn:
                    for key, value in payloads.items():
                        txn.put(key, value)
                return
            except lmdb.MapFullError:
                self._env.set_mapsize(self._env.info()["map_size"] * 2)

    def close(self):
        self._env.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
