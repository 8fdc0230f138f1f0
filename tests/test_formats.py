"""MMF file formats: round trips, MMF's own readers on our files, every user-facing error."""
import io
import multiprocessing
import os
import pickle

import lmdb
import numpy as np
import pytest

from mmf_domainstudy.formats.errors import DataFormatError

from mmf_domainstudy.formats.feature_store import FeatureStore, check_annotations_against_store, read_feature_dim, write_feature_info

from mmf_domainstudy.formats.imdb import read_imdb, write_imdb

from mmf_domainstudy.formats.jsonl import read_jsonl, write_jsonl

from mmf_domainstudy.formats.lmdb_store import LMDBFeatureWriter

from mmf_domainstudy.formats.npy_features import read_npy_features, write_npy_features

from mmf_domainstudy.formats.safe_pickle import safe_loads
from mmf_domainstudy.formats.feature_store import feature_path_for_sample
from mmf_domainstudy.formats.layout import DATA_DIR_ENV, default_data_dir
from mmf_domainstudy.formats.lmdb_store import KEYS_KEY, release_lmdb_readonly
from mmf_domainstudy.formats.npy import object_array
from tests.fixtures.make_fixtures import make_fixtures


def make_record(rng, num_boxes=5, dim=16, classes=7):
    return {
        "features": rng.normal(size=(num_boxes, dim)).astype(np.float32),
        "bbox": rng.uniform(0, 100, size=(num_boxes, 4)).astype(np.float32),
        "image_width": 640,
        "image_height": 480,
        "cls_prob": rng.dirichlet(np.ones(classes), size=num_boxes).astype(np.float32),
    }


def write_store(path, ids, seed=0, **record_options):
    rng = np.random.default_rng(seed)
    records = {image_id: make_record(rng, **record_options) for image_id in ids}
    with LMDBFeatureWriter(path) as writer:
        writer.write_batch(records)
    return records


def raw_store_contents(path):
    """Every key/value of the store, read with plain lmdb (independent of our reader)."""
    env = lmdb.open(str(path), readonly=True, lock=False)
    try:
        with env.begin() as txn:
            return dict(txn.cursor())
    finally:
        env.close()


class _Exploit:
    """Pickles to a call of os.system that would create ``marker``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


# ---------------------------------------------------------------- imdb / jsonl


def test_imdb_round_trip_writes_a_metadata_header(tmp_path):
    samples = [{"image_id": i, "question_str": f"q{i}", "answers": ["yes"] * 10} for i in range(3)]
    path = tmp_path / "imdb_train.npy"
    write_imdb(path, samples, dataset_name="vqa2")
    metadata, read_back = read_imdb(path)
    assert read_back == samples
    assert metadata["dataset_name"] == "vqa2" and metadata["has_answer"] is True
    raw = np.load(path, allow_pickle=True)
    assert len(raw) == 4 and "image_id" not in raw[0]


def test_imdb_without_header_and_dict_form_are_read(tmp_path):
    samples = [{"image_id": 7, "captions": ["a cat"]}, {"image_id": 8, "captions": ["a dog"]}]
    np.save(tmp_path / "old.npy", object_array(samples), allow_pickle=True)
    assert read_imdb(tmp_path / "old.npy") == ({}, samples)
    as_dict = np.empty((), dtype=object)
    as_dict[()] = {"metadata": {"version": 2}, "data": samples}
    np.save(tmp_path / "dict.npy", as_dict, allow_pickle=True)
    assert read_imdb(tmp_path / "dict.npy") == ({"version": 2}, samples)


def test_imdb_errors_name_the_file(tmp_path):
    missing = tmp_path / "imdb_val.npy"
    with pytest.raises(DataFormatError, match=f"{missing}.*does not exist.*prepare_easy_vqa"):
        read_imdb(missing)
    header_only = tmp_path / "imdb_empty.npy"
    np.save(header_only, object_array([{"version": 1}]), allow_pickle=True)
    with pytest.raises(DataFormatError, match=f"{header_only} has no samples \\(empty split\\)"):
        read_imdb(header_only)
    with pytest.raises(DataFormatError, match="lack 'image_id'"):
        write_imdb(tmp_path / "x.npy", [{"question_str": "q"}], dataset_name="vqa2")
    with pytest.raises(DataFormatError, match="empty split"):
        write_imdb(tmp_path / "x.npy", [], dataset_name="vqa2")
    assert not (tmp_path / "x.npy").exists()


def test_imdb_with_a_malicious_pickle_is_refused_not_executed(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "imdb_evil.npy"
    np.save(path, object_array([{"image_id": 1, "payload": _Exploit(marker)}]), allow_pickle=True)
    with pytest.raises(DataFormatError, match=f"{path}: refused to unpickle.*system"):
        read_imdb(path)
    assert not marker.exists()


def test_jsonl_round_trip_and_errors(tmp_path):
    records = [{"Flikr30kID": "1.jpg", "sentence2": "A dog.", "gold_label": "neutral"}]
    path = tmp_path / "snli_ve_train.jsonl"
    write_jsonl(path, records)
    assert read_jsonl(path) == records
    path.write_text(path.read_text() + "{not json\n")
    with pytest.raises(DataFormatError, match=f"{path}:2: not valid JSON"):
        read_jsonl(path)
    with pytest.raises(DataFormatError, match="does not exist"):
        read_jsonl(tmp_path / "dev.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(DataFormatError, match="empty split"):
        read_jsonl(tmp_path / "empty.jsonl")


# ---------------------------------------------------------------- LMDB stores


def test_lmdb_round_trip_in_mmf_layout(tmp_path):
    path = tmp_path / "trainval2014.lmdb"
    records = write_store(path, [9, 25, "VizWiz_val_00000003"])
    raw = raw_store_contents(path)
    assert pickle.loads(raw[KEYS_KEY]) == [b"9", b"25", b"VizWiz_val_00000003"]
    stored = pickle.loads(raw[b"25"])
    assert stored["num_boxes"] == 5 and stored["image_id"] == "25"
    store = FeatureStore(path)
    assert len(store) == 3 and 9 in store and "9" in store and 10 not in store
    for image_id, record in records.items():
        read = store[image_id]
        for name in ("features", "bbox", "cls_prob"):
            np.testing.assert_array_equal(read[name], record[name])
        assert (read["image_width"], read["image_height"]) == (640, 480)


def test_writer_appends_skips_stored_ids_and_keeps_keys_consistent(tmp_path):
    path = tmp_path / "store.lmdb"
    first = write_store(path, [1, 2], seed=0)
    rng = np.random.default_rng(1)
    with LMDBFeatureWriter(path) as writer:
        assert len(writer) == 2 and 1 in writer
        written = writer.write_batch({2: make_record(rng), 3: make_record(rng), "3": make_record(rng)})
    assert written == 1
    raw = raw_store_contents(path)
    assert pickle.loads(raw[KEYS_KEY]) == [b"1", b"2", b"3"]
    assert set(raw) == {KEYS_KEY, b"1", b"2", b"3"}
    np.testing.assert_array_equal(FeatureStore(path)[2]["features"], first[2]["features"])


def test_writer_grows_the_map_instead_of_failing(tmp_path):
    path = tmp_path / "small.lmdb"
    rng = np.random.default_rng(0)
    with LMDBFeatureWriter(path, map_size=64 * 1024) as writer:
        writer.write_batch({i: make_record(rng, num_boxes=100, dim=256) for i in range(8)})
    assert len(FeatureStore(path)) == 8


class _TxnDyingAfter:
    """A write transaction that dies (like a killed process) after ``puts`` puts."""

    def __init__(self, txn, puts):
        self.txn, self.puts = txn, puts

    def __enter__(self):
        self.txn.__enter__()
        return self

    def __exit__(self, *exc_info):
        return self.txn.__exit__(*exc_info)

    def put(self, key, value):
        if self.puts == 0:
            raise KeyboardInterrupt("killed mid-batch")
        self.puts -= 1
        return self.txn.put(key, value)


class _EnvDyingMidBatch:
    def __init__(self, env):
        self.env = env

    def begin(self, write=False):
        return _TxnDyingAfter(self.env.begin(write=write), puts=2)

    def __getattr__(self, name):
        return getattr(self.env, name)


def test_a_batch_interrupted_mid_commit_leaves_no_trace(tmp_path):
    path = tmp_path / "store.lmdb"
    rng = np.random.default_rng(0)
    writer = LMDBFeatureWriter(path)
    writer.write_batch({1: make_record(rng)})
    writer._env = _EnvDyingMidBatch(writer._env)
    with pytest.raises(KeyboardInterrupt):
        writer.write_batch({i: make_record(rng) for i in (2, 3, 4)})
    writer._env.env.close()
    raw = raw_store_contents(path)
    assert set(raw) == {KEYS_KEY, b"1"} and pickle.loads(raw[KEYS_KEY]) == [b"1"]
    with LMDBFeatureWriter(path) as resumed:
        assert resumed.write_batch({i: make_record(rng) for i in (1, 2, 3, 4)}) == 3
    assert FeatureStore(path).keys() == [b"1", b"2", b"3", b"4"]


def test_writer_rejects_malformed_records(tmp_path):
    rng = np.random.default_rng(0)
    bad = make_record(rng)
    bad["bbox"] = bad["bbox"][:, :3]
    with LMDBFeatureWriter(tmp_path / "s.lmdb") as writer:
        with pytest.raises(DataFormatError, match=r"record 5 .*'bbox' must be \[5, 4\]"):
            writer.write_batch({4: make_record(rng), 5: bad})
        with pytest.raises(DataFormatError, match="collides with the store's index key"):
            writer.write_batch({"keys": make_record(rng)})
        assert len(writer) == 0


def test_reader_float16_and_dimension_check(tmp_path):
    path = tmp_path / "store.lmdb"
    records = write_store(path, [1], dim=16)
    half = FeatureStore(path, float16=True)[1]["features"]
    assert half.dtype == np.float16
    np.testing.assert_array_equal(half, records[1]["features"].astype(np.float16))
    with pytest.raises(DataFormatError, match=f"{path} key b'1'.*16-d but 2048-d were expected.*visual_embedding_dim to 16"):
        FeatureStore(path, expected_dim=2048)[1]


def test_reader_reports_ids_missing_from_the_store(tmp_path):
    path = tmp_path / "store.lmdb"
    write_store(path, [1, 2])
    store = FeatureStore(path)
    with pytest.raises(DataFormatError, match=f"image id '3' is not in feature store {path}"):
        store[3]
    samples = [{"image_id": i, "feature_path": f"COCO_val2014_{i:012d}.npy"} for i in (1, 2, 3, 4)]
    with pytest.raises(DataFormatError, match=r"2 of 4 samples in ann.npy have no features.*COCO_val2014_000000000003"):
        check_annotations_against_store(samples, store, "ann.npy")
    check_annotations_against_store(samples[:2], store, "ann.npy")


def test_feature_paths_resolve_like_mmf(tmp_path):
    path = tmp_path / "store.lmdb"
    write_store(path, [9, "VizWiz_train_00000001", "0012345"])
    store = FeatureStore(path)
    assert store.key_for_feature_path("COCO_train2014_000000000009.npy") == b"9"
    assert store.key_for_feature_path("VizWiz_train_00000001.npy") == b"VizWiz_train_00000001"
    assert store.key_for_feature_path("0012345.npy") == b"0012345"
    with pytest.raises(DataFormatError, match="matches no image"):
        store.key_for_feature_path("COCO_train2014_000000000010.npy")
    assert feature_path_for_sample({"Flikr30kID": "3416050480.jpg"}) == "3416050480.npy"
    assert feature_path_for_sample({"img": "0012345.jpeg", "id": "0012345"}) == "0012345.npy"
    assert feature_path_for_sample({"image_id": 9}) == "9.npy"


def _read_in_child(store, queue):
    queue.put(store[2]["features"].sum())


def test_reader_reopens_in_a_forked_worker(tmp_path):
    path = tmp_path / "store.lmdb"
    records = write_store(path, [1, 2])
    store = FeatureStore(path)
    store[1]  # the parent's handle must not be reused by the child
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_read_in_child, args=(store, queue))
    child.start()
    child.join(timeout=60)
    assert child.exitcode == 0
    assert queue.get(timeout=5) == pytest.approx(records[2]["features"].sum())
    assert pickle.loads(pickle.dumps(store))[1]["num_boxes"] == 5


def test_two_readers_share_a_store_and_see_appended_records(tmp_path):
    path = tmp_path / "trainval2014.lmdb"
    write_store(path, [1])
    train, val = FeatureStore(path), FeatureStore(path)
    assert train[1]["num_boxes"] == val[1]["num_boxes"] == 5
    write_store(path, [2], seed=3)
    assert 2 in train and val[2]["num_boxes"] == 5


def test_missing_corrupt_and_truncated_stores_are_clear_errors(tmp_path):
    with pytest.raises(DataFormatError, match="does not exist.*extract_features.py"):
        FeatureStore(tmp_path / "nowhere.lmdb")[1]
    not_lmdb = tmp_path / "garbage.lmdb"
    not_lmdb.mkdir()
    (not_lmdb / "data.mdb").write_bytes(os.urandom(20000))
    with pytest.raises(DataFormatError, match="is not an LMDB file"):
        FeatureStore(not_lmdb)[1]
    with pytest.raises(DataFormatError, match="is not an LMDB file"):
        LMDBFeatureWriter(not_lmdb)
    truncated = tmp_path / "truncated.lmdb"
    write_store(truncated, range(40), num_boxes=50, dim=256)
    data = truncated / "data.mdb"
    os.truncate(data, data.stat().st_size // 2)
    with pytest.raises(DataFormatError, match="truncated or corrupt.*re-extract"):
        FeatureStore(truncated)[39]
    with pytest.raises(DataFormatError, match="truncated or corrupt"):
        LMDBFeatureWriter(truncated)


def test_store_without_keys_index_is_refused(tmp_path):
    path = tmp_path / "nokeys.lmdb"
    env = lmdb.open(str(path), map_size=1 << 20)
    with env.begin(write=True) as txn:
        txn.put(b"1", pickle.dumps({"features": np.zeros((1, 2))}))
    env.close()
    with pytest.raises(DataFormatError, match="no b'keys' index"):
        len(FeatureStore(path))


def test_malicious_record_is_refused_and_not_executed(tmp_path):
    path = tmp_path / "evil.lmdb"
    write_store(path, [1])
    marker = tmp_path / "pwned"
    env = lmdb.open(str(path), map_size=1 << 24)
    with env.begin(write=True) as txn:
        txn.put(b"1", pickle.dumps({"features": _Exploit(marker)}))
    env.close()
    release_lmdb_readonly(path)
    with pytest.raises(DataFormatError, match=f"feature store {path} key b'1': refused to unpickle.*system"):
        FeatureStore(path)[1]
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_restricted_unpickler_reads_numpy_and_builtins_of_every_protocol(protocol):
    value = {
        "features": np.arange(6, dtype=np.float32).reshape(2, 3),
        "num_boxes": np.int64(2),
        "scale": np.float32(0.5),
        "dtype": np.dtype("float16"),
        "names": ("a", b"b"),
        "tags": {1, 2},
        "z": 1 + 2j,
        "blob": bytearray(b"xy"),
    }
    loaded = safe_loads(pickle.dumps(value, protocol=protocol), source="test")
    np.testing.assert_array_equal(loaded.pop("features"), value.pop("features"))
    assert loaded == value


def test_restricted_unpickler_reads_numpy_1x_pickles():
    # numpy 1.x writes numpy.core.multiarray where numpy 2.x writes numpy._core.multiarray.
    modern = pickle.dumps(np.arange(4.0), protocol=2)
    legacy = modern.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    assert legacy != modern
    np.testing.assert_array_equal(safe_loads(legacy, source="legacy"), np.arange(4.0))


@pytest.mark.parametrize("payload", [os.system, eval, pickle.loads, io.BytesIO])
def test_restricted_unpickler_refuses_other_globals(payload):
    with pytest.raises(DataFormatError, match="refused to unpickle"):
        safe_loads(pickle.dumps(payload), source="test")


def test_truncated_pickle_is_a_clear_error():
    with pytest.raises(DataFormatError, match="corrupt pickle"):
        safe_loads(pickle.dumps({"features": np.zeros(100)})[:-20], source="store key b'1'")


# ---------------------------------------------------------------- .npy features, info, layout


def test_npy_features_round_trip(tmp_path):
    record = make_record(np.random.default_rng(0))
    write_npy_features(tmp_path, "COCO_val2014_000000000042", record)
    assert (tmp_path / "COCO_val2014_000000000042_info.npy").exists()
    read = read_npy_features(tmp_path, "COCO_val2014_000000000042")
    np.testing.assert_array_equal(read["features"], record["features"])
    np.testing.assert_array_equal(read["cls_prob"], record["cls_prob"])
    assert read["num_boxes"] == 5 and read["image_height"] == 480
    with pytest.raises(DataFormatError, match="feature file .*missing.npy does not exist"):
        read_npy_features(tmp_path, "missing")


def test_read_feature_dim_from_info_or_first_record(tmp_path):
    path = tmp_path / "store.lmdb"
    write_store(path, [1], dim=24)
    assert read_feature_dim(path) == 24
    write_feature_info(path, {"backbone": "x", "dim": 1280, "regions": 100})
    assert read_feature_dim(path) == 1280


def test_default_data_dir_honours_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    assert default_data_dir() == str(tmp_path)
    monkeypatch.delenv(DATA_DIR_ENV)
    assert default_data_dir().endswith(os.path.join(".cache", "mmf_domainstudy", "data"))


# ---------------------------------------------------------------- fixtures


def test_fixtures_are_deterministic_and_consistent(tmp_path):
    first = make_fixtures(tmp_path / "a", feature_dim=8, num_classes=5)
    second = make_fixtures(tmp_path / "b", feature_dim=8, num_classes=5)
    assert set(first) == {"vqa2", "coco", "cc", "vizwiz", "visual_entailment", "mmimdb"}
    for name, entry in first.items():
        for split, annotation in entry["annotations"].items():
            samples = read_jsonl(annotation) if annotation.endswith(".jsonl") else read_imdb(annotation)[1]
            other = second[name]["annotations"][split]
            assert samples == (read_jsonl(other) if other.endswith(".jsonl") else read_imdb(other)[1])
            store = FeatureStore(entry["features"][split], expected_dim=8)
            check_annotations_against_store(samples, store, annotation)
            record = store.read_feature_path(feature_path_for_sample(samples[0]))
            assert record["cls_prob"].shape == (record["num_boxes"], 5)
            np.testing.assert_allclose(record["cls_prob"].sum(axis=1), 1, rtol=1e-5)
    vqa_train = read_imdb(first["vqa2"]["annotations"]["train"])[1]
    assert all(len(s["all_answers"]) == 10 for s in vqa_train)
    assert os.path.relpath(first["vqa2"]["features"]["train"], tmp_path / "a") == os.path.join(
        "datasets", "coco", "defaults", "features", "trainval2014.lmdb"
    )


# ---------------------------------------------------------------- MMF's own readers on our files


def test_mmf_annotation_database_reads_our_imdbs(tmp_path):
    from mmf.datasets.databases.annotation_database import AnnotationDatabase

    paths = make_fixtures(tmp_path, feature_dim=8, num_classes=5)
    for name in ("vqa2", "coco", "vizwiz", "cc"):
        for annotation in paths[name]["annotations"].values():
            _, samples = read_imdb(annotation)
            database = AnnotationDatabase({}, annotation)
            assert len(database) == len(samples)
            assert [database[i]["image_id"] for i in range(len(database))] == [s["image_id"] for s in samples]
    for annotation in paths["mmimdb"]["annotations"].values():
        assert AnnotationDatabase({}, annotation)[0]["genres"] == read_jsonl(annotation)[0]["genres"]


@pytest.mark.parametrize("name", ["vqa2", "vizwiz", "visual_entailment", "mmimdb"])
def test_mmf_feature_reader_reads_our_lmdb(tmp_path, name):
    from mmf.datasets.databases.readers.feature_readers import FeatureReader

    paths = make_fixtures(tmp_path, feature_dim=8, num_classes=5)
    annotation = paths[name]["annotations"]["train"]
    samples = read_jsonl(annotation) if annotation.endswith(".jsonl") else read_imdb(annotation)[1]
    store_path = paths[name]["features"]["train"]
    mmf_reader = FeatureReader(base_path=store_path, depth_first=False, max_features=100)
    ours = FeatureStore(store_path)
    for sample in samples[:4]:
        feature_path = feature_path_for_sample(sample)
        features, info = mmf_reader.read(feature_path)
        expected = ours.read_feature_path(feature_path)
        num_boxes = expected["num_boxes"]
        assert tuple(features.shape) == (100, 8) and int(info["max_features"]) == num_boxes
        np.testing.assert_array_equal(features[:num_boxes].numpy(), expected["features"])
        assert not features[num_boxes:].any()
        assert (info["image_width"], info["image_height"]) == (expected["image_width"], expected["image_height"])


def test_mmf_feature_reader_reads_our_npy_features(tmp_path):
    from mmf.datasets.databases.readers.feature_readers import FeatureReader

    record = make_record(np.random.default_rng(0), num_boxes=7, dim=12)
    write_npy_features(tmp_path, "COCO_val2014_000000000042", record)
    features, info = FeatureReader(str(tmp_path), depth_first=False, max_features=100).read(
        "COCO_val2014_000000000042.npy"
    )
    assert tuple(features.shape) == (100, 12) and int(info["max_features"]) == 7
    np.testing.assert_array_equal(features[:7].numpy(), record["features"])
    np.testing.assert_array_equal(np.asarray(info["bbox"])[:7], record["bbox"])
