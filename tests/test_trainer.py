"""The domain_study trainer through real `mmf_run` subprocesses on fixture data."""
import json
import os
import re
import sys

import pytest
import torch

from tests.conftest import TINY_OVERLAY, run_mmf, write_run_config
from tests.fixtures.make_fixtures import VQA_ANSWERS

ADAMW = {"type": "adam_w", "params": {"lr": 1.0e-4, "eps": 1.0e-8, "weight_decay": 0.01}}
# The fixture has no test2015 split; MMF loads all three splits, so test reads val.
VQA2_TEST_FROM_VAL = {
    "annotations": {"test": ["vqa2/defaults/annotations/imdb_val2014.npy"]},
    "features": {"test": ["coco/defaults/features/trainval2014.lmdb"]},
}
NO_DROPOUT = {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0, "v_hidden_dropout_prob": 0.0, "v_attention_probs_dropout_prob": 0.0}


def pretrain_config(tmp_path, model, **training):
    sections = {
        "optimizer": ADAMW,
        "training": dict(max_updates=3, **training),
        "dataset_config": {"masked_coco": {"use_image_feature_masks": model == "vilbert", "max_features": 10}},
    }
    return write_run_config(tmp_path / "pretrain.yaml", [TINY_OVERLAY], **sections)


def vqa2_config(tmp_path, model, name="finetune.yaml", model_extra=None, **training):
    model_section = {"training_head_type": "classification", "num_labels": len(VQA_ANSWERS), "losses": [{"type": "logit_bce"}]}
    model_section.update(model_extra or {})
    sections = {
        "model_config": {model: model_section},
        "optimizer": ADAMW,
        "evaluation": {"metrics": ["vqa_accuracy"]},
        "training": dict(max_updates=3, **training),
        "dataset_config": {"vqa2": {"max_features": 10, **VQA2_TEST_FROM_VAL}},
    }
    return write_run_config(tmp_path / name, [TINY_OVERLAY], **sections)


def read_metrics(save_dir):
    with open(os.path.join(save_dir, "metrics.json")) as handle:
        return json.load(handle)


def load_model_state(path):
    state = torch.load(path, map_location="cpu", weights_only=True)
    return state.get("model", state)


@pytest.mark.parametrize("model", ["visual_bert", "vilbert"])
def test_pretraining_runs_exactly_max_updates_and_checkpoints(tmp_path, fixture_data_dir, model):
    save = tmp_path / "save"
    run_mmf(pretrain_config(tmp_path, model), model, "masked_coco", save, fixture_data_dir, "run_type=train_val")
    metrics = read_metrics(save)
    assert metrics["updates"] == 3
    losses = metrics["val"]
    assert "masked_coco/val/masked_lm_loss" in losses
    if model == "vilbert":
        assert "masked_coco/val/masked_img_loss" in losses
    assert all(torch.isfinite(torch.tensor(v)) for v in losses.values())
    ckpt = torch.load(save / "current.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["num_updates"] == 3
    assert sorted(os.listdir(save / "models")) == ["model_3.ckpt"]
    assert (save / f"{model}_final.pth").exists()


def test_max_epochs_trains_whole_epochs_as_rc10(tmp_path, fixture_data_dir):
    """rc10 ignores max_updates under max_epochs and runs every batch of that many epochs."""
    save = tmp_path / "save"
    run_mmf(vqa2_config(tmp_path, "visual_bert"), "visual_bert", "vqa2", save, fixture_data_dir,
            "run_type=train_val", "training.max_epochs=2")
    metrics = read_metrics(save)
    batches_per_epoch = -(-metrics["samples"]["train"] // 4)  # tiny.yaml's batch size; the last batch may be short
    assert batches_per_epoch > 3  # so max_updates=3 of the config would have stopped it earlier
    assert metrics["updates"] == 2 * batches_per_epoch
    assert "val" in metrics


@pytest.mark.parametrize("model", ["visual_bert", "vilbert"])
def test_classification_head_reports_vqa_accuracy(tmp_path, fixture_data_dir, model):
    save = tmp_path / "save"
    run_mmf(vqa2_config(tmp_path, model), model, "vqa2", save, fixture_data_dir, "run_type=train_val")
    metrics = read_metrics(save)
    accuracy = metrics["val"]["val/vqa2/vqa_accuracy"]
    assert 0.0 <= accuracy <= 1.0
    assert metrics["updates"] == 3


def test_resume_continues_at_the_next_update(tmp_path, fixture_data_dir):
    save = tmp_path / "save"
    config = vqa2_config(tmp_path, "visual_bert", checkpoint_interval=2)
    run_mmf(config, "visual_bert", "vqa2", save, fixture_data_dir, "training.max_updates=2")
    resumed = run_mmf(config, "visual_bert", "vqa2", save, fixture_data_dir, "training.max_updates=4", "checkpoint.resume=True")
    log = open(save / "train.log").read()
    updates_after_resume = re.findall(r"update (\d+)/4 ", log)
    assert updates_after_resume == ["3", "4"], resumed.stdout[-2000:]
    assert read_metrics(save)["updates"] == 4


def test_pretrained_base_transfers_and_head_does_not(tmp_path, fixture_data_dir):
    pre_save = tmp_path / "pretrain"
    run_mmf(pretrain_config(tmp_path, "visual_bert"), "visual_bert", "masked_coco", pre_save, fixture_data_dir)
    config = vqa2_config(tmp_path, "visual_bert")
    own_overlay = config.split(",")[-1]
    with open(own_overlay) as handle:
        text = handle.read()
    with open(own_overlay, "w") as handle:  # rc10 ignores mapping overrides on the command line
        handle.write(text + "checkpoint:\n  pretrained_state_mapping:\n    model.bert: model.bert\n")
    fine_save = tmp_path / "finetune"
    run_mmf(
        config, "visual_bert", "vqa2", fine_save, fixture_data_dir,
        f"checkpoint.resume_file={pre_save / 'visual_bert_final.pth'}",
        "checkpoint.resume_pretrained=True",
        "optimizer.params.lr=0.0",
    )
    pretrained = load_model_state(pre_save / "visual_bert_final.pth")
    finetuned = load_model_state(fine_save / "visual_bert_final.pth")
    base_keys = [k for k in pretrained if k.startswith("model.bert.")]
    assert base_keys
    for key in base_keys:
        assert torch.equal(pretrained[key], finetuned[key]), key
    assert not any(k.startswith("model.cls.") for k in finetuned)
    assert any(k.startswith("model.classifier.") for k in finetuned)


def test_bf16_autocast_on_cpu(tmp_path, fixture_data_dir):
    save = tmp_path / "save"
    run_mmf(vqa2_config(tmp_path, "visual_bert"), "visual_bert", "vqa2", save, fixture_data_dir, "training.precision=bf16")
    log = open(save / "train.log").read()
    assert "precision bf16" in log
    assert read_metrics(save)["updates"] == 3


def test_unknown_precision_is_a_clear_error(tmp_path, fixture_data_dir):
    result = run_mmf(
        vqa2_config(tmp_path, "visual_bert"), "visual_bert", "vqa2", tmp_path / "s", fixture_data_dir,
        "training.precision=fp8", check=False,
    )
    assert result.returncode != 0
    assert "training.precision='fp8' is not one of" in result.stderr


def test_two_gloo_processes_match_one_process_with_the_same_global_batch(tmp_path, fixture_data_dir):
    config = vqa2_config(tmp_path, "visual_bert", model_extra=NO_DROPOUT, checkpoint_interval=100, evaluation_interval=100)
    single = tmp_path / "single"
    run_mmf(config, "visual_bert", "vqa2", single, fixture_data_dir, "training.batch_size=4")
    double = tmp_path / "double"
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29617", "-m", "mmf_domainstudy.run"]
    run_mmf(config, "visual_bert", "vqa2", double, fixture_data_dir, "training.batch_size=4", launcher=torchrun)
    one = load_model_state(single / "visual_bert_final.pth")
    two = load_model_state(double / "visual_bert_final.pth")
    assert one.keys() == two.keys()
    for key in one:
        torch.testing.assert_close(one[key], two[key], rtol=1e-4, atol=1e-5, msg=key)
    start = load_model_state(single / "models" / "model_3.ckpt")
    assert start.keys() == one.keys()
