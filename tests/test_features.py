"""Feature extraction: real backbone outputs, store layout, resumption and every refusal."""
import os
import runpy
import shutil
import sys

import matplotlib.cbook
import numpy as np
import pytest
import torch

from mmf_domainstudy.features.backbones import load_backbone
from mmf_domainstudy.features.extract import extract_features, extract_from_source
from mmf_domainstudy.formats.feature_store import read_feature_dim
from mmf_domainstudy.features.extract import grid_boxes
from mmf_domainstudy.formats.errors import DataFormatError
from mmf_domainstudy.formats.feature_store import FeatureStore, read_feature_info

EASY_VQA_IMAGES = os.path.join(os.path.dirname(__import__("easy_vqa").__file__), "data", "train", "images")
MILITARY_UNIFORM = 652  # ImageNet class of matplotlib's Grace Hopper photo
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def image_folder(path, names=("0.png", "1.png")):
    path.mkdir()
    for name in names:
        shutil.copy(os.path.join(EASY_VQA_IMAGES, name), path / name)
    return path


@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
    """One real extraction at 320 px: a photo, a shape image, a text file and a broken image."""
    folder = tmp_path_factory.mktemp("images")
    shutil.copy(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False), folder / "hopper.jpg")
    shutil.copy(os.path.join(EASY_VQA_IMAGES, "0.png"), folder / "0.png")
    (folder / "notes.txt").write_text("not an image")
    (folder / "broken.png").write_bytes(b"not a png")
    store = tmp_path_factory.mktemp("store") / "images.lmdb"
    summary = extract_from_source(folder, store, batch_size=2)
    return folder, store, summary


def test_summary_counts_images_regions_and_skips(extracted):
    _, store, summary = extracted
    assert (summary.extracted, summary.already_stored, summary.skipped_non_images, summary.failed) == (2, 0, 1, 1)
    assert (summary.regions, summary.dim) == (200, 1280)
    assert summary.store_mb == pytest.approx(os.path.getsize(store / "data.mdb") / 2**20)


def test_records_hold_grid_regions_boxes_and_class_distributions(extracted):
    _, store, _ = extracted
    record = FeatureStore(store, expected_dim=1280)["hopper"]
    assert record["features"].shape == (100, 1280) and record["features"].dtype == np.float32
    assert (record["image_width"], record["image_height"], record["num_boxes"]) == (512, 600, 100)
    np.testing.assert_allclose(record["bbox"][0], [0, 0, 51.2, 60])
    np.testing.assert_allclose(record["bbox"][-1], [460.8, 540, 512, 600])
    assert record["cls_prob"].shape == (100, 1000)
    np.testing.assert_allclose(record["cls_prob"].sum(axis=1), 1, rtol=1e-4)
    assert read_feature_info(store) == {
        "backbone": "efficientnet-lite0",
        "cls_prob_classes": 1000,
        "dim": 1280,
        "image_size": 320,
        "regions": 100,
        "with_cls_prob": True,
    }
    assert read_feature_dim(store) == 1280


def test_a_real_photo_is_classified_sensibly(extracted):
    _, store, _ = extracted
    record = FeatureStore(store)["hopper"]
    classifier = load_backbone(image_size=320).classifier
    pooled_logits = classifier(torch.from_numpy(record["features"]).mean(dim=0))
    assert int(pooled_logits.argmax()) == MILITARY_UNIFORM
    assert int(record["cls_prob"].mean(axis=0).argmax()) == MILITARY_UNIFORM


def test_rerun_resumes_without_touching_stored_images(extracted, tmp_path):
    folder, store, _ = extracted
    before = FeatureStore(store)["0"]["features"].copy()
    grown = tmp_path / "grown"
    shutil.copytree(folder, grown)
    shutil.copy(os.path.join(EASY_VQA_IMAGES, "1.png"), grown / "1.png")
    summary = extract_from_source(grown, store, batch_size=2)
    assert (summary.extracted, summary.already_stored, summary.failed) == (1, 2, 1)
    reader = FeatureStore(store)
    np.testing.assert_array_equal(reader["0"]["features"], before)
    assert reader.keys() == [b"0", b"hopper", b"1"]


def test_a_different_recipe_is_not_mixed_into_a_store(extracted):
    folder, store, _ = extracted
    with pytest.raises(DataFormatError, match=r"different recipe .*'image_size': \(320, 160\)"):
        extract_from_source(folder, store, image_size=160)


def test_grid_boxes_tile_the_image():
    boxes = grid_boxes(width=300, height=200, rows=2, cols=3)
    np.testing.assert_allclose(boxes, [[0, 0, 100, 100], [100, 0, 200, 100], [200, 0, 300, 100],
                                       [0, 100, 100, 200], [100, 100, 200, 200], [200, 100, 300, 200]])


def test_list_file_with_ids_and_without_cls_prob(tmp_path):
    folder = image_folder(tmp_path / "images")
    list_file = tmp_path / "images.txt"
    list_file.write_text("img_a\timages/0.png\nimages/1.png\nimages/readme.md\n")
    threads = torch.get_num_threads()
    summary = extract_from_source(list_file, tmp_path / "s.lmdb", image_size=64, with_cls_prob=False, threads=1)
    assert (summary.extracted, summary.skipped_non_images) == (2, 1)
    assert torch.get_num_threads() == threads  # the thread setting is scoped to the run
    store = FeatureStore(tmp_path / "s.lmdb")
    assert store.keys() == [b"img_a", b"1"] and "cls_prob" not in store["1"]
    assert store["1"]["features"].shape == (4, 1280)  # 64 px -> 2x2 grid
    assert os.path.isdir(folder)


def test_empty_or_missing_sources_are_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "captions.json").write_text("{}")
    with pytest.raises(DataFormatError, match=f"no image files in {empty} \\(1 other files skipped\\)"):
        extract_from_source(empty, tmp_path / "s.lmdb")
    with pytest.raises(DataFormatError, match="does not exist"):
        extract_from_source(tmp_path / "nowhere", tmp_path / "s.lmdb")
    assert not (tmp_path / "s.lmdb").exists()


def test_duplicate_image_ids_are_refused(tmp_path):
    folder = image_folder(tmp_path / "images")
    shutil.copy(folder / "0.png", folder / "0.jpg")
    with pytest.raises(DataFormatError, match="two images with id '0'"):
        extract_from_source(folder, tmp_path / "s.lmdb")


def test_unknown_backbones_and_missing_weights_are_clear_errors(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="unknown backbone 'resnet50'.*torchvision:<arch>"):
        load_backbone("resnet50")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="torchvision:resnet18 are not available offline.*resnet18-"):
        load_backbone("torchvision:resnet18")
    monkeypatch.setitem(sys.modules, "timm", None)
    with pytest.raises(ImportError, match="needs the timm package"):
        load_backbone("timm:resnet50")


def test_torchvision_backbone_with_locally_cached_weights(tmp_path, monkeypatch):
    import torchvision

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    weights = torchvision.models.ResNet18_Weights.DEFAULT
    checkpoint = os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(weights.url))
    os.makedirs(os.path.dirname(checkpoint))
    torch.manual_seed(0)
    torch.save(torchvision.models.resnet18().state_dict(), checkpoint)
    images = {"a": os.path.join(EASY_VQA_IMAGES, "0.png")}
    summary = extract_features(images, tmp_path / "r.lmdb", backbone="torchvision:resnet18", image_size=64)
    record = FeatureStore(tmp_path / "r.lmdb")["a"]
    assert (summary.dim, record["features"].shape, record["cls_prob"].shape) == (512, (4, 512), (4, 1000))


def test_extract_features_cli(tmp_path, monkeypatch, capsys):
    folder = image_folder(tmp_path / "images")
    store = tmp_path / "cli.lmdb"
    argv = ["extract_features.py", str(folder), "--output", str(store), "--image-size", "32", "--no-cls-prob"]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exited:
        runpy.run_path(os.path.join(REPO, "tools", "extract_features.py"), run_name="__main__")
    assert exited.value.code == 0
    assert "2 images extracted" in capsys.readouterr().out
    assert len(FeatureStore(store)) == 2 and read_feature_dim(store) == 1280
