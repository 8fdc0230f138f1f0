"""easy-vqa -> MMF's VQA layout: splits, imdb fields, features, idempotence, MMF readability."""
import os
import runpy
import sys

import numpy as np
import pytest

from mmf_domainstudy.features import extract
from mmf_domainstudy.features.easy_vqa import easy_vqa_paths, prepare_easy_vqa
from mmf_domainstudy.features.easy_vqa import (
    TEST_IMAGE_ID_OFFSET,
    TEST_QUESTION_ID_OFFSET,
    question_tokens,
    select_images,
)
from mmf_domainstudy.formats.feature_store import FeatureStore
from mmf_domainstudy.formats.imdb import read_imdb
from mmf_domainstudy.formats.layout import DATA_DIR_ENV

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("data")
    paths, summary = prepare_easy_vqa(data_dir, max_images=20, image_size=32, batch_size=10)
    return data_dir, paths, summary


def test_select_images_is_deterministic_disjoint_and_within_budget():
    splits = select_images(range(4000), range(1000), max_images=300)
    assert {split: len(ids) for split, ids in splits.items()} == {"train": 216, "val": 24, "test": 60}
    assert splits["val"][:3] == [9, 19, 29] and not set(splits["val"]) & set(splits["train"])
    full = select_images(range(4000), range(1000))
    assert (len(full["train"]), len(full["val"]), len(full["test"])) == (3600, 400, 1000)
    assert set(splits["val"]) <= set(full["val"])  # the held-out images do not move with the budget
    with pytest.raises(ValueError, match="leaves a split empty"):
        select_images(range(4000), range(1000), max_images=10)


def test_question_tokens_follow_mmf():
    assert question_tokens("What color is the shape?") == ["what", "color", "is", "the", "shape"]
    assert question_tokens("Is there a circle, or not?") == ["is", "there", "a", "circle", "or", "not"]


def test_layout_and_vocabulary(prepared):
    data_dir, paths, summary = prepared
    assert paths == easy_vqa_paths(data_dir)
    base = os.path.join(data_dir, "datasets", "easy_vqa", "defaults")
    assert paths["annotations"]["val"] == os.path.join(base, "annotations", "imdb_val.npy")
    assert paths["features"] == os.path.join(base, "features", "easy_vqa.lmdb")
    answers = open(paths["answers"]).read().split("\n")[:-1]
    assert answers[0] == "<unk>" and len(answers) == 14 and "circle" in answers
    assert (summary.extracted, summary.failed) == (20, 0)


def test_imdbs_hold_vqa_fields_with_features_for_every_question(prepared):
    _, paths, _ = prepared
    store = FeatureStore(paths["features"], expected_dim=1280)
    seen_images = {}
    for split, path in paths["annotations"].items():
        metadata, samples = read_imdb(path)
        assert metadata["dataset_name"] == "easy_vqa" and samples
        for sample in samples:
            assert sample["answers"] == sample["all_answers"] == [sample["answers"][0]] * 10
            assert sample["feature_path"] == sample["image_name"] + ".npy"
            assert store.key_for_feature_path(sample["feature_path"]) == str(sample["image_id"]).encode()
            assert sample["question_tokens"] == question_tokens(sample["question_str"])
        seen_images[split] = {sample["image_id"] for sample in samples}
        if split == "test":
            assert min(seen_images[split]) >= TEST_IMAGE_ID_OFFSET
            assert min(s["question_id"] for s in samples) >= TEST_QUESTION_ID_OFFSET
    assert seen_images["val"] == {9}  # every 10th train image, by sorted id
    assert not seen_images["train"] & seen_images["val"]
    assert len(store) == 20


def test_rerun_is_idempotent(prepared):
    data_dir, paths, _ = prepared
    before = {split: read_imdb(path)[1] for split, path in paths["annotations"].items()}
    features = FeatureStore(paths["features"])["5"]["features"].copy()
    _, summary = prepare_easy_vqa(data_dir, max_images=20, image_size=32)
    assert (summary.extracted, summary.already_stored) == (0, 20)
    assert {split: read_imdb(path)[1] for split, path in paths["annotations"].items()} == before
    np.testing.assert_array_equal(FeatureStore(paths["features"])["5"]["features"], features)


def test_mmf_reads_the_prepared_dataset(prepared):
    from mmf.datasets.databases.annotation_database import AnnotationDatabase
    from mmf.datasets.databases.readers.feature_readers import FeatureReader
    from mmf.utils.text import VocabDict

    _, paths, _ = prepared
    database = AnnotationDatabase({}, paths["annotations"]["test"])
    _, samples = read_imdb(paths["annotations"]["test"])
    assert len(database) == len(samples) and database[0]["question_id"] == samples[0]["question_id"]
    features, info = FeatureReader(paths["features"], depth_first=False, max_features=100).read(
        database[0]["feature_path"]
    )
    assert tuple(features.shape) == (100, 1280) and int(info["max_features"]) == 1
    vocab = VocabDict(paths["answers"])
    assert vocab.get_unk_index() == 0 and vocab.word2idx(samples[0]["answers"][0]) > 0


def test_cli_uses_the_data_dir_from_the_environment(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    argv = ["prepare_easy_vqa.py", "--max-images", "20", "--image-size", "32", "--no-cls-prob", "--threads", "1"]
    monkeypatch.setattr(sys, "argv", argv)
    requested_threads = []
    real_torch_threads = extract.torch_threads
    monkeypatch.setattr(extract, "torch_threads", lambda n: requested_threads.append(n) or real_torch_threads(n))
    with pytest.raises(SystemExit) as exited:
        runpy.run_path(os.path.join(REPO, "tools", "prepare_easy_vqa.py"), run_name="__main__")
    assert exited.value.code == 0
    assert "20 images extracted" in capsys.readouterr().out
    assert requested_threads == [1]
    store = FeatureStore(easy_vqa_paths(tmp_path)["features"])
    assert len(store) == 20 and "cls_prob" not in store["0"]
