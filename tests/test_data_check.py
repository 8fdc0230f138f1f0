"""A real MMF data dir (issue 15): runs build only the splits their run_type uses, and every
file those splits read is checked before the run starts, all missing ones in one error line.

The data dirs are the fixture's (MMF's layout) with one file removed at a time; each
missing path the check reports is the one rc10's own loading fails on. A real run with
missing files: tests/test_bad_inputs.py (``missing_data_files``).
"""
import dataclasses
import os
import shutil
import subprocess
import sys

import pytest
import torch

import mmf_domainstudy

mmf_domainstudy.activate()  # compat shims, MMF, the plugin's registered components

from mmf.common.dataset_loader import DatasetLoader  # noqa: E402
from mmf.common.registry import registry
from mmf_domainstudy.compat.data_files import SPLITS, splits_for_run_type
from mmf_domainstudy.utils.errors import ConfigError
from mmf_domainstudy.datasets import data_check_runs
from mmf_domainstudy.datasets.data_check import MissingDataFiles, format_table, override_example
from mmf_domainstudy.datasets.data_check_runs import RunCommand, check_runs, data_files_of_runs
from tests.conftest import REPO, mmf_env, write_run_config
from tests.datasets_support import FIXTURE_GAPS, write_generated_captions, write_lowercase_genres
from tests.test_bad_inputs import assert_one_clear_error
from tests.test_fast_paths import (build_tiny_trainer, classification_sections, isolated_mmf,  # noqa: F401
                                   loss_curve, merged, pretrain_sections)

CONFIGS = os.path.join(REPO, "projects", "domain_study", "configs", "visual_bert")
# dataset -> the project config a user runs it with (VisualBERT; ViLBERT's read the same files)
STUDY_CONFIGS = {
    "masked_coco": "pretrain/coco.yaml",
    "masked_vqa_p": "pretrain/vqa_p.yaml",
    "masked_conceptual_captions": "pretrain/cc_full.yaml",
    "masked_cc_small": "pretrain/cc_small.yaml",
    "masked_ccg": "pretrain/ccg.yaml",
    "vqa2": "finetune/vqa2.yaml",
    "vizwiz": "finetune/vizwiz.yaml",
    "visual_entailment": "finetune/snli_ve.yaml",
    "mmimdb": "finetune/mmimdb.yaml",
}


@pytest.fixture
def data_copy(tmp_path, fixture_data_dir):
    """The fixture data root, hard-linked: files removed from the copy stay in the original."""
    root = tmp_path / "data"
    shutil.copytree(fixture_data_dir, root, copy_function=os.link)
    return root


def command(dataset, data_dir, *overrides, name=None, configs=None):
    configs = configs or [os.path.join(CONFIGS, STUDY_CONFIGS[dataset])]
    opts = ("model=visual_bert", f"dataset={dataset}", f"env.data_dir={data_dir}", *overrides)
    return RunCommand(name or dataset, opts, tuple(configs))


def gaps_config(tmp_path, dataset):
    """The fixture's differences from MMF's layout (tests/datasets_support.py) as an overlay."""
    return write_run_config(tmp_path / f"{dataset}_gaps.yaml", dataset_config={dataset: FIXTURE_GAPS.get(dataset, {})})


def check_one(run_command):
    config, files = data_files_of_runs([run_command])[run_command.name]
    return config, files


def missing_error(run_command):
    with pytest.raises(MissingDataFiles) as raised:
        check_runs([run_command])
    return raised.value


def rc10_loading_error(config, dataset, split):
    """What rc10's own loading of ``split`` raises from ``config`` (the check not involved)."""
    dataset_config = config.dataset_config[dataset]
    for processor in dataset_config.processors:
        registry.unregister(f"{dataset}_{processor}")  # else a processor built earlier is reused, not read
    with pytest.raises(Exception) as raised:
        registry.get_builder_class(dataset)().load_dataset(dataset_config, split)[0]
    return str(raised.value)


@pytest.mark.parametrize("run_type, splits", [
    ("train", ("train", "val")),  # rc10 validates while training
    ("train_val", ("train", "val")),
    ("val", ("val",)),
    ("test", ("test",)),
    ("inference", ("test",)),
    ("predict", ("test",)),
    ("train_inference", SPLITS),
    ("train_val_inference", SPLITS),
])
def test_a_run_type_reads_the_splits_rc10s_trainer_uses(run_type, splits):
    assert splits_for_run_type(run_type) == splits


def test_a_run_type_that_reads_nothing_is_refused():
    with pytest.raises(ConfigError, match="run_type='trian' uses no data split.*e.g. run_type=train_val"):
        splits_for_run_type("trian")


@pytest.mark.parametrize("dataset, sections", [
    ("masked_coco", pretrain_sections("visual_bert")),
    ("vqa2", classification_sections("visual_bert")),
])
def test_with_every_file_present_a_run_computes_what_rc10_computes(tmp_path, isolated_mmf, monkeypatch, dataset, sections):
    """Only the test split is left out: same losses, weights and val metrics as rc10's three-split loading."""
    sections = merged(sections, {"run_type": "train_val"})
    ours = build_tiny_trainer(tmp_path / "ours", "visual_bert", dataset, sections)
    assert [len(ours.dataset_loader.mapping[split].datasets) for split in SPLITS] == [1, 1, 0]
    ours_losses = loss_curve(ours)
    with pytest.raises(ConfigError, match="the test split was not built: run_type=train_val does not use it"):
        iter(ours.test_loader)

    monkeypatch.setattr(DatasetLoader, "load_datasets", DatasetLoader.load_datasets.__wrapped__)  # rc10's
    rc10 = build_tiny_trainer(tmp_path / "rc10", "visual_bert", dataset, sections)
    assert [len(rc10.dataset_loader.mapping[split].datasets) for split in SPLITS] == [1, 1, 1]
    rc10_losses = loss_curve(rc10)

    assert ours_losses == rc10_losses and all(loss > 0 for loss in ours_losses)
    assert ours.final_metrics == rc10.final_metrics and set(ours.final_metrics) == {"val"}
    rc10_weights = rc10.model.state_dict()
    assert all(torch.equal(value, rc10_weights[key]) for key, value in ours.model.state_dict().items())


def test_a_test_run_builds_and_evaluates_the_test_split_alone(tmp_path, isolated_mmf):
    sections = merged(classification_sections("visual_bert"), {"run_type": "test"})
    trainer = build_tiny_trainer(tmp_path, "visual_bert", "vqa2", sections)
    assert [len(trainer.dataset_loader.mapping[split].datasets) for split in SPLITS] == [0, 0, 1]
    trainer.train()  # rc10: no "train" in run_type -> inference() on test
    assert set(trainer.final_metrics) == {"test"} and trainer.final_metrics["test"]["test/vqa2/logit_bce"] > 0


@pytest.mark.parametrize("dataset", sorted(STUDY_CONFIGS))
def test_every_study_dataset_reads_annotations_features_and_vocabularies_of_train_and_val(tmp_path, data_copy, dataset):
    write_generated_captions(data_copy)
    write_lowercase_genres(data_copy)
    _, files = check_one(command(dataset, data_copy, "run_type=train_val",
                                 configs=[os.path.join(CONFIGS, STUDY_CONFIGS[dataset]), gaps_config(tmp_path, dataset)]))
    print(format_table(files))
    kinds = {(f.split, f.kind) for f in files}
    expected = {(split, kind) for split in ("train", "val") for kind in ("annotations", "features")}
    if dataset in ("vqa2", "vizwiz", "mmimdb"):
        expected.add(("all", "vocabulary"))
    assert kinds == expected
    assert all(f.present and f.path.startswith(str(data_copy)) for f in files)
    assert all(f.size > 0 for f in files if f.kind != "images")


@dataclasses.dataclass
class MissingCase:
    dataset: str
    run_type: str
    remove: tuple  # paths under datasets/
    expect: dict  # key -> what the file is
    split: str  # a split whose rc10 loading must fail on the first removed path
    gaps: bool = True  # apply the fixture's differences from MMF's layout
    listed_as: str = None  # the error's item for a file several keys name


MISSING_CASES = {
    "coco_test_annotations": MissingCase(
        "masked_coco", "train_val_inference", ("coco/defaults/annotations/imdb_karpathy_test_by_image.npy",),
        {"dataset_config.masked_coco.annotations.test": "COCO captions test annotations (imdb .npy)"}, "test"),
    "vqa2_test2015": MissingCase(
        "vqa2", "test", (), {"dataset_config.vqa2.annotations.test": "VQA v2 test annotations (imdb .npy)",
                             "dataset_config.vqa2.features.test": "VQA v2 test region features (LMDB store)"},
        "test", gaps=False),
    "cc_val_features": MissingCase(
        "masked_conceptual_captions", "train_val", ("cc/defaults/features/cc_val.lmdb",),
        {"dataset_config.masked_conceptual_captions.features.val": "Conceptual Captions val region features (LMDB store)"},
        "val"),
    "vizwiz_answers": MissingCase(
        "vizwiz", "train_val", ("vizwiz/v2019/extras/vocabs/answers_vizwiz_7k.txt",),
        {"dataset_config.vizwiz.processors.answer_processor.params.vocab_file": "VizWiz answer vocabulary"}, "val"),
    "snli_ve_dev_jsonl": MissingCase(
        "visual_entailment", "train_val", ("visual_entailment/defaults/annotations/snli_ve_dev.jsonl",),
        {"dataset_config.visual_entailment.annotations.val": "SNLI-VE val annotations (jsonl)"}, "val"),
    "flickr30k_features": MissingCase(  # the bundled yaml's store, which the fixture writes elsewhere
        "visual_entailment", "train_val", (),
        {"dataset_config.visual_entailment.features.train": "SNLI-VE train region features (LMDB store)",
         "dataset_config.visual_entailment.features.val": "SNLI-VE val region features (LMDB store)"},
        "train", gaps=False,
        listed_as="[1] SNLI-VE train+val region features (LMDB store): dataset_config.visual_entailment.features.train, "
                  "dataset_config.visual_entailment.features.val -> "),
    "ccg_captions": MissingCase(
        "masked_ccg", "train_val", (),
        {"dataset_config.masked_ccg.annotations.train": "CCG generated captions train annotations (imdb .npy)",
         "dataset_config.masked_ccg.annotations.val": "CCG generated captions val annotations (imdb .npy)"}, "train"),
}


@pytest.mark.parametrize("case", sorted(MISSING_CASES))
def test_each_missing_file_is_named_with_its_key_path_and_fix(tmp_path, data_copy, case):
    case = MISSING_CASES[case]
    for relative in case.remove:
        path = data_copy / "datasets" / relative
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    configs = [os.path.join(CONFIGS, STUDY_CONFIGS[case.dataset])] + ([gaps_config(tmp_path, case.dataset)] if case.gaps else [])
    run = command(case.dataset, data_copy, f"run_type={case.run_type}", configs=configs)
    config, files = check_one(run)
    missing = {f.key: f for f in files if not f.present}
    assert {key: f.what for key, f in missing.items()} == case.expect
    error = missing_error(run)
    message = str(error)
    assert [f.key for f in error.files] == list(case.expect)
    for data_file in missing.values():
        assert data_file.key in message and f"-> {data_file.path}" in message
    if case.listed_as:
        assert case.listed_as in message and message.count("->") == 1
    assert f"run_type={case.run_type} reads {', '.join(splits_for_run_type(case.run_type))}" in message
    assert f"env.data_dir={data_copy}" in message and "set env.data_dir (or $MMF_DATA_DIR)" in message
    assert f"point its key at the file, e.g. {override_example(error.files[0])} (" in message
    if case.dataset == "masked_ccg":
        assert "tools/generate_captions.py" in message
    first = next(f for f in error.files if f.split in (case.split, "all"))
    assert first.path in rc10_loading_error(config, case.dataset, case.split)  # the path rc10 opens


def test_a_train_val_run_needs_no_test_file(data_copy):
    (data_copy / "datasets" / "coco/defaults/annotations/imdb_karpathy_test_by_image.npy").unlink()
    _, files = check_one(command("masked_coco", data_copy, "run_type=train_val"))
    assert {f.split for f in files} == {"train", "val"} and all(f.present for f in files)


def test_the_suggested_override_points_the_check_at_the_file(data_copy):
    """The fix the error line gives (``<key>=<path>``) is an override rc10 applies."""
    run = command("vqa2", data_copy, "run_type=test")
    error = missing_error(run)
    val = data_copy / "datasets" / "vqa2/defaults/annotations/imdb_val2014.npy"
    store = data_copy / "datasets" / "coco/defaults/features/trainval2014.lmdb"
    assert "e.g. dataset_config.vqa2.annotations.test=/path/to/imdb_test2015.npy (" in str(error)
    moved = [override_example(f).replace("/path/to/imdb_test2015.npy", str(val)).replace("/path/to/test2015.lmdb", str(store))
             for f in error.files]
    _, files = check_one(command("vqa2", data_copy, "run_type=test", *moved))
    assert {f.path for f in files if f.split == "test"} == {str(val), str(store)} and all(f.present for f in files)


def test_a_split_of_several_files_names_each_by_index_and_pairs_a_single_store_with_all(tmp_path, data_copy):
    karpathy = "coco/defaults/annotations/imdb_karpathy_{}_by_image.npy"
    two_files = write_run_config(tmp_path / "two_files.yaml", dataset_config={"masked_coco": {
        "annotations": {"train": [karpathy.format("train"), karpathy.format("extra")]},
        "features": {"train": "coco/defaults/features/trainval2014.lmdb"}}})
    run = command("masked_coco", data_copy, "run_type=train_val",
                  configs=[os.path.join(CONFIGS, STUDY_CONFIGS["masked_coco"]), two_files])
    _, files = check_one(run)
    assert [(f.key.rsplit(".", 2)[-2:], f.present) for f in files if f.split == "train"] == [
        (["annotations", "train[0]"], True), (["features", "train"], True),
        (["annotations", "train[1]"], False), (["features", "train"], True)]
    error = missing_error(run)
    assert ("dataset_config.masked_coco.annotations.train=\"['/path/to/file0', ..., "
            "'/path/to/imdb_karpathy_extra_by_image.npy']\" (the whole list)") in str(error)


def test_a_study_is_checked_at_once_with_one_config_build_per_distinct_data_setup(tmp_path, data_copy, monkeypatch):
    builds = []
    monkeypatch.setattr(data_check_runs, "build_config", lambda opts, build=data_check_runs.build_config: builds.append(opts) or build(opts))
    shutil.rmtree(data_copy / "datasets" / "cc/defaults/features/cc_val.lmdb")
    moved = write_run_config(tmp_path / "moved.yaml", dataset_config={
        "masked_coco": {"annotations": {"train": ["coco/elsewhere/imdb_karpathy_train_by_image.npy"]}}})
    runs = [
        command("vqa2", data_copy, "run_type=train_val", "training.seed=1", "env.save_dir=a", name="vqa2-s1"),
        command("vqa2", data_copy, "run_type=train_val", "training.seed=2", "dataset_config.vqa2.fraction=0.1",
                "env.save_dir=b", "checkpoint.resume_file=x.pth", name="vqa2-s2-d0.1"),
        command("vqa2", data_copy, "run_type=train_val_inference", name="vqa2-test"),
        command("masked_conceptual_captions", data_copy, "run_type=train_val", name="cc"),
        command("masked_coco", data_copy, "run_type=train_val", name="coco-moved",
                configs=[os.path.join(CONFIGS, STUDY_CONFIGS["masked_coco"]), moved]),
    ]
    with pytest.raises(MissingDataFiles) as raised:
        check_runs(runs)
    assert len(builds) == 4  # the two vqa2 train_val runs differ only in seed, fraction, save dir, checkpoint
    message = str(raised.value)
    assert message.startswith("4 data file(s) missing (3 of 5 runs; ")
    assert "run_type=train_val reads train, val;" in message and "run_type=train_val_inference reads train, val, test;" in message
    for key, runs_needing in [
        ("dataset_config.vqa2.annotations.test", "(needed by 1 run(s): vqa2-test)"),
        ("dataset_config.masked_conceptual_captions.features.val", "(needed by 1 run(s): cc)"),
        ("dataset_config.masked_coco.annotations.train", "(needed by 1 run(s): coco-moved)"),
    ]:
        assert key in message and runs_needing in message.split(key, 1)[1].split(";")[0]
    assert str(data_copy / "datasets" / "coco/elsewhere/imdb_karpathy_train_by_image.npy") in message
    assert check_runs(runs[:2]).keys() == {"vqa2-s1", "vqa2-s2-d0.1"}


def test_a_bad_key_in_one_run_names_the_run(data_copy):
    with pytest.raises(ConfigError, match="^run vqa2-typo: .*dataset_config.vqa2.anotations"):
        check_runs([command("vqa2", data_copy, "dataset_config.vqa2.anotations.train=x.npy", name="vqa2-typo")])


def test_the_installed_command_prints_the_table_and_one_error_line(tmp_path, data_copy):
    shutil.rmtree(data_copy / "datasets" / "cc/defaults/features/cc_val.lmdb")
    script = os.path.join(os.path.dirname(sys.executable), "domainstudy-check-data")
    result = subprocess.run(
        [script, os.path.join(CONFIGS, STUDY_CONFIGS["masked_conceptual_captions"]), "model=visual_bert",
         "dataset=masked_conceptual_captions", "run_type=train_val", f"env.data_dir={data_copy}"],
        cwd=tmp_path, env=mmf_env(data_copy), capture_output=True, text=True, timeout=300,
    )
    assert_one_clear_error(result, "1 data file(s) missing", "dataset_config.masked_conceptual_captions.features.val")
    rows = [line.split() for line in result.stdout.splitlines()]
    assert rows[0] == ["dataset", "split", "kind", "file", "status", "size"]
    statuses = {(row[1], row[2], os.path.basename(row[3])): row[4] for row in rows[1:]}
    assert statuses == {
        ("train", "annotations", "train_all.npy"): "present", ("train", "features", "cc_train.lmdb"): "present",
        ("val", "annotations", "val.npy"): "present", ("val", "features", "cc_val.lmdb"): "MISSING",
    }
