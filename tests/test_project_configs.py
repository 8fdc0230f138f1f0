"""Every config under projects/domain_study/configs resolves; the paper's experiments follow its recipe and run.

An experiment is a config that names its ``model`` and ``datasets``; every other
file is a base included by some experiment, or an overlay a study spec composes
(``overlays:``). Each experiment is built by MMF's own Configuration. The paper's
experiments (``<model>/pretrain/<source>[_10|_50].yaml``,
``<model>/finetune/<task>[_frozen].yaml``) are also checked against the study's
recipe and run for 2 updates on fixture data through the installed ``mmf_run``
console script, given only ``config=<experiment>,<tiny overlay>,<fixture overlay>``
(the experiment names its model and dataset); experiments on other data (the easy-vqa
demo) run in their owners' tests, which have that data.
"""
import argparse
import json
import os
import re

import pytest
import yaml

from mmf.utils.configuration import Configuration, load_yaml
from mmf.utils.text import VocabDict
from tests.conftest import REPO, TINY_OVERLAY, run_mmf, write_run_config
from tests.datasets_support import FIXTURE_GAPS, data_root, dataset_config  # noqa: F401  (data_root is a fixture)

CONFIGS = os.path.join(REPO, "projects", "domain_study", "configs")
# The study's recipes (study-facts.md): pretraining, and finetuning per task.
PRETRAIN = {"warmup": 1000, "updates": 11000}
FINETUNE = {"warmup": 6000, "updates": 60000}
TASKS = {  # task -> (dataset, metric, num_labels, warmup)
    "vqa2": ("vqa2", "vqa_accuracy", 3129, 6000),
    "vizwiz": ("vizwiz", "vqa_accuracy", 7371, 6000),
    "snli_ve": ("visual_entailment", "accuracy", 3, 6000),
    "mmimdb": ("mmimdb", "multilabel_micro_f1", 24, 2000),
}
ALSO_REPORTED = {"mmimdb": ["multilabel_macro_f1"]}  # beside the early-stopping metric: the paper's macro-F1
SOURCES = {
    "coco": "masked_coco",
    "vqa_p": "masked_vqa_p",
    "cc_small": "masked_cc_small",
    "cc_full": "masked_conceptual_captions",
    "ccg": "masked_ccg",
}
MODELS = ("visual_bert", "vilbert")


def config_files():
    found = []
    for folder, _, files in os.walk(CONFIGS):
        found += [os.path.relpath(os.path.join(folder, f), CONFIGS) for f in files if f.endswith(".yaml")]
    return sorted(path for path in found if path != "tiny.yaml")


def resolved(relative):
    return load_yaml(os.path.join(CONFIGS, relative))


def included_files(relative):
    """Every file ``relative`` includes, transitively (paths relative to CONFIGS)."""
    path = os.path.join(CONFIGS, relative)
    with open(path) as handle:
        includes = (yaml.safe_load(handle) or {}).get("includes", [])
    found = set()
    for include in includes:
        child = os.path.relpath(os.path.normpath(os.path.join(os.path.dirname(path), include)), CONFIGS)
        found |= {child} | included_files(child)
    return found


def study_overlays():
    """Config files that study specs compose after an experiment (paths relative to CONFIGS)."""
    studies = os.path.join(REPO, "projects", "domain_study", "studies")
    found = set()
    for spec in (f for f in os.listdir(studies) if f.endswith(".yaml")):
        with open(os.path.join(studies, spec)) as handle:
            overlays = (yaml.safe_load(handle) or {}).get("overlays", [])
        found |= {os.path.relpath(os.path.join(REPO, overlay), CONFIGS) for overlay in overlays}
    return found


def describe(relative):
    """(model, stage, name, percent or None, frozen) of a paper experiment, else None."""
    match = re.fullmatch(
        r"(?P<model>visual_bert|vilbert)/(?P<stage>pretrain|finetune)/(?P<name>[a-z0-9_]+?)"
        r"(_(?P<percent>10|50))?(?P<frozen>_frozen)?\.yaml",
        relative.replace(os.sep, "/"),
    )
    if match is None or match["name"] not in (SOURCES if match["stage"] == "pretrain" else TASKS):
        return None
    return match["model"], match["stage"], match["name"], match["percent"], bool(match["frozen"])


ALL = config_files()
EXPERIMENTS = [path for path in ALL if {"model", "datasets"} <= set(resolved(path))]
PAPER_EXPERIMENTS = [path for path in EXPERIMENTS if describe(path) is not None]
OTHERS = sorted(set(ALL) - set(EXPERIMENTS))


def test_the_paper_experiments_exist():
    expected = set()
    for model in MODELS:
        expected |= {f"{model}/pretrain/{s}{suffix}.yaml" for s in SOURCES for suffix in ("", "_10", "_50")}
        expected |= {f"{model}/finetune/{t}{suffix}.yaml" for t in TASKS for suffix in ("", "_frozen")}
    assert expected == set(PAPER_EXPERIMENTS)


@pytest.mark.parametrize("relative", OTHERS)
def test_every_other_config_is_a_used_base_or_an_overlay(relative):
    used = any(relative in included_files(experiment) for experiment in EXPERIMENTS)
    assert used or relative in study_overlays(), f"{relative} is neither included by an experiment nor a study overlay"


_BUILT = {}


def build_configuration(relative, monkeypatch, data_dir):
    """MMF's Configuration of an experiment as ``mmf_run`` builds it (built once per file)."""
    if relative not in _BUILT:
        monkeypatch.setenv("MMF_DATA_DIR", data_dir)
        raw = resolved(relative)
        opts = [f"config={os.path.join(CONFIGS, relative)}", f"model={raw.model}", f"dataset={raw.datasets}"]
        _BUILT[relative] = Configuration(argparse.Namespace(opts=opts, config_override=None)).get_config()
    return _BUILT[relative]


@pytest.mark.parametrize("relative", EXPERIMENTS)
def test_experiment_resolves(relative, monkeypatch, data_root):
    raw = resolved(relative)
    config = build_configuration(relative, monkeypatch, data_root)
    assert config.model == raw.model and config.datasets == raw.datasets
    assert config.dataset_config[config.datasets].data_dir and config.model_config[config.model]


@pytest.mark.parametrize("relative", PAPER_EXPERIMENTS)
def test_paper_experiment_follows_the_recipe(relative, monkeypatch, data_root):
    model, stage, name, percent, frozen = describe(relative)
    config = build_configuration(relative, monkeypatch, data_root)
    assert config.model == model and config.training.batch_size == 480 and config.training.lr_scheduler
    assert config.optimizer.type == "adam_w"
    assert config.optimizer.params.lr == 5e-5 and config.optimizer.params.eps == 1e-8
    assert config.scheduler.type == "warmup_linear"
    head = config.model_config[model]
    dataset = config.dataset_config[config.datasets]
    if stage == "pretrain":
        assert config.datasets == SOURCES[name] and head.training_head_type == "pretraining"
        assert config.scheduler.params.num_warmup_steps == PRETRAIN["warmup"]
        assert config.scheduler.params.num_training_steps == config.training.max_updates == PRETRAIN["updates"]
        assert dataset.fraction == (int(percent) / 100 if percent else 1.0)
        assert dataset.use_image_feature_masks == (model == "vilbert")
        assert dataset.processors.masked_token_processor.params.max_seq_length == 128
        assert dataset.max_features == 100
    else:
        task_dataset, metric, num_labels, warmup = TASKS[name]
        assert config.datasets == task_dataset and head.training_head_type == "classification"
        assert head.num_labels == num_labels and head.freeze_base == frozen
        assert config.scheduler.params.num_warmup_steps == warmup
        assert config.scheduler.params.num_training_steps == config.training.max_updates == FINETUNE["updates"]
        names = [entry if isinstance(entry, str) else entry.type for entry in config.evaluation.metrics]
        assert names == [metric] + ALSO_REPORTED.get(name, [])
        assert config.training.early_stop.enabled and not config.training.early_stop.minimize
        assert config.training.early_stop.criteria == f"{task_dataset}/{metric}"
        assert dict(config.checkpoint.pretrained_state_mapping) == {"model.bert": "model.bert"}
        assert dataset.fraction == 1.0
        assert dataset.processors.text_processor.params.max_seq_length == (256 if name == "mmimdb" else 128)


def fixture_num_labels(dataset, data_dir):
    """The head size the fixture's answer vocabulary needs (the real one needs the yaml's)."""
    config = dataset_config(dataset, data_dir)
    if "answer_processor" not in config.processors:
        return None
    return VocabDict(config.processors.answer_processor.params.vocab_file, data_dir=config.data_dir).get_size()


def tiny_run_config(tmp_path, relative, data_dir):
    """The experiment, then the tiny overlay, then what the fixture data needs."""
    raw = resolved(relative)
    sections = {"dataset_config": {raw.datasets: FIXTURE_GAPS.get(raw.datasets, {})}}
    num_labels = fixture_num_labels(raw.datasets, data_dir)
    if describe(relative)[1] == "finetune" and num_labels is not None:
        sections["model_config"] = {raw.model: {"num_labels": num_labels}}
    return write_run_config(tmp_path / "run.yaml", [os.path.join(CONFIGS, relative), TINY_OVERLAY], **sections)


def expected_metrics(relative):
    model, stage, name, _, _ = describe(relative)
    if stage == "pretrain":
        losses = ["masked_lm_loss"] + (["masked_img_loss"] if model == "vilbert" else [])
        return [f"{SOURCES[name]}/val/{loss}" for loss in losses]
    dataset, metric, _, _ = TASKS[name]
    return [f"val/{dataset}/{reported}" for reported in [metric] + ALSO_REPORTED.get(name, [])]


@pytest.mark.parametrize("relative", PAPER_EXPERIMENTS)
def test_paper_experiment_runs_two_updates_on_fixture_data(relative, tmp_path, data_root):
    save = tmp_path / "save"
    run_mmf(tiny_run_config(tmp_path, relative, data_root), None, None, save, data_root,
            "run_type=train_val", "training.max_updates=2")
    with open(save / "metrics.json") as handle:
        metrics = json.load(handle)
    assert metrics["updates"] == 2
    for key in expected_metrics(relative):
        assert key in metrics["val"], f"{key} missing from {sorted(metrics['val'])}"


def test_finetune_config_takes_the_pretrained_base_by_one_override(tmp_path, data_root):
    pretrain, finetune = "visual_bert/pretrain/coco.yaml", "visual_bert/finetune/snli_ve.yaml"
    pre = tmp_path / "pre"
    pre.mkdir()
    config = tiny_run_config(pre, pretrain, data_root)
    run_mmf(config, "visual_bert", "masked_coco", pre / "save", data_root, "training.max_updates=2")
    resume = [f"checkpoint.resume_file={pre / 'save' / 'visual_bert_final.pth'}", "checkpoint.resume_pretrained=True"]
    config = tiny_run_config(tmp_path, finetune, data_root)
    result = run_mmf(config, "visual_bert", "visual_entailment", tmp_path / "save", data_root,
                     "training.max_updates=2", *resume)
    with open(tmp_path / "save" / "train.log") as handle:
        copied = re.findall(r"Copying (\S+) from (\S+)", handle.read())
    assert copied, result.stdout[-2000:]
    assert all(own == source and own.startswith("model.bert.") for own, source in copied)
    expected = {"model.bert.embeddings.word_embeddings.weight", "model.bert.pooler.dense.weight"}
    assert {own for own, _ in copied} >= expected
