"""What a researcher types after ``mmf_run``: config lists, configs that name their model and
dataset, and yaml spellings (null, true) on the command line.

Both models' pretraining and finetuning through the installed ``mmf_run`` with ``config=`` alone
run in test_project_configs.py (every paper experiment, 2 updates).
"""
import argparse
import os

import pytest

import mmf_domainstudy

mmf_domainstudy.activate()  # compat shims, MMF, the plugin's registered components

from mmf.utils.configuration import Configuration  # noqa: E402

from mmf_domainstudy.utils.errors import ConfigError  # noqa: E402
from tests.conftest import REPO, TINY_OVERLAY, run_mmf  # noqa: E402
from tests.test_bad_inputs import assert_one_clear_error  # noqa: E402

CONFIGS = os.path.join(REPO, "projects", "domain_study", "configs")
COCO_PRETRAIN = os.path.join(CONFIGS, "visual_bert", "pretrain", "coco.yaml")


def built(*opts):
    return Configuration(argparse.Namespace(opts=list(opts), config_override=None)).get_config()


@pytest.mark.parametrize("spelling", ["null", "none", "None", "NULL"])
def test_null_on_the_command_line_is_none_for_every_nullable_key(spelling):
    config = built(f"config={COCO_PRETRAIN}", f"model_config.visual_bert.bert_model_name={spelling}",
                   f"training.fused_attention={spelling}", f"checkpoint.resume_file={spelling}")
    assert config.model_config.visual_bert.bert_model_name is None
    assert config.training.fused_attention is None
    assert config.checkpoint.resume_file is None


@pytest.mark.parametrize("spelling, value", [("true", True), ("True", True), ("false", False), ("FALSE", False)])
def test_booleans_on_the_command_line_are_booleans(spelling, value):
    config = built(f"config={COCO_PRETRAIN}", f"training.fused_attention={spelling}",
                   f"model_config.visual_bert.freeze_base={spelling}")
    assert config.training.fused_attention is value
    assert config.model_config.visual_bert.freeze_base is value


def test_other_values_decode_as_rc10_decodes_them():
    config = built(f"config={COCO_PRETRAIN}", "training.batch_size=7", "training.seed=-1",
                   "model_config.visual_bert.bert_model_name=bert-base-uncased", "optimizer.params.lr=1e-3")
    assert config.training.batch_size == 7 and config.training.seed == -1
    assert config.model_config.visual_bert.bert_model_name == "bert-base-uncased"
    assert config.optimizer.params.lr == 1e-3


def test_a_config_that_names_its_model_and_dataset_needs_neither_on_the_command_line():
    config = built(f"config={COCO_PRETRAIN}")
    assert config.model == "visual_bert" and config.datasets == "masked_coco"
    assert "masked_coco" in config.dataset_config and "visual_bert" in config.model_config


def test_giving_the_same_model_and_dataset_anyway_still_works():
    config = built(f"config={COCO_PRETRAIN}", "model=visual_bert", "dataset=masked_coco")
    assert config.model == "visual_bert" and config.datasets == "masked_coco"


@pytest.mark.parametrize("option, expected", [
    ("model=vilbert", "model=vilbert on the command line contradicts config"),
    ("dataset=vqa2", "dataset=vqa2 on the command line contradicts config"),
])
def test_a_model_or_dataset_contradicting_the_config_is_an_error(option, expected):
    with pytest.raises(ConfigError, match=expected):
        built(f"config={COCO_PRETRAIN}", option)


def test_config_list_overlays_each_file_on_the_ones_before():
    alone, overlaid = built(f"config={COCO_PRETRAIN}"), built(f"config={COCO_PRETRAIN},{TINY_OVERLAY}")
    assert alone.model_config.visual_bert.num_hidden_layers != overlaid.model_config.visual_bert.num_hidden_layers
    assert overlaid.model_config.visual_bert.num_hidden_layers == 2
    assert overlaid.model == alone.model == "visual_bert"
    assert overlaid.training.max_updates != alone.training.max_updates  # tiny.yaml sets it too


def test_a_missing_overlay_is_one_clear_error_from_the_installed_mmf_run(tmp_path, fixture_data_dir):
    missing = tmp_path / "site_paths.yaml"
    result = run_mmf(f"{COCO_PRETRAIN},{missing}", None, None, tmp_path / "save", fixture_data_dir, check=False)
    assert_one_clear_error(result, f"config={missing}", "does not exist", "fix the path")
    assert not (tmp_path / "save").exists()


def test_a_contradicting_model_is_one_clear_error_from_the_installed_mmf_run(tmp_path, fixture_data_dir):
    result = run_mmf(COCO_PRETRAIN, "vilbert", None, tmp_path / "save", fixture_data_dir, check=False)
    assert_one_clear_error(result, "model=vilbert on the command line contradicts config", "model: visual_bert",
                           "drop model= from the command line")
    assert not (tmp_path / "save").exists()
