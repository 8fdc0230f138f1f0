"""Checkpoints on torch 2.x hold and restore what rc10's held and restored on torch 1.5.

One real run writes best.ckpt, current.ckpt and visual_bert_final.pth at known updates;
the files are then loaded in-process under each ``checkpoint.*`` option. Where rc10 broke
an exact resume (lr schedule, early stopping's patience) the domain_study trainer differs
on purpose, and ``base_trainer`` still behaves as rc10.
"""
import math
import os
import shutil

import pytest
import torch
from mmf.utils.checkpoint import Checkpoint

from mmf_domainstudy.trainers.in_process import build_loaded_trainer
from mmf_domainstudy.trainers.resume import STATE_KEY
from tests.conftest import TINY_OVERLAY, run_mmf, write_run_config
from tests.fixtures.make_fixtures import VQA_ANSWERS
from tests.test_fast_paths import isolated_mmf  # noqa: F401  (fixture: MMF's registry and data dir, restored)
from tests.test_trainer import VQA2_TEST_FROM_VAL

LR = 1.0e-2
MAX_UPDATES = 8
PATIENCE = 3
# Val loss falls as this run trains, so maximising it makes the first evaluation (update 2)
# the best one; early stopping then ends the run at update 6 (2 + patience 3 < 6).
BEST_UPDATE = 2
STOPPED_AT = 6
RC10_KEYS = {
    "model", "optimizer", "best_iteration", "current_iteration", "current_epoch",
    "num_updates", "best_update", "best_metric_value", "config",
}
# transformers 2.x's AdamW (MMF's adam_w): none of torch 2.x's foreach/fused/capturable/... keys
ADAM_W_GROUP_KEYS = {"lr", "betas", "eps", "weight_decay", "correct_bias", "initial_lr", "params"}


def run_config(folder):
    return write_run_config(
        folder / "run.yaml", [TINY_OVERLAY],
        model_config={"visual_bert": {
            "training_head_type": "classification", "num_labels": len(VQA_ANSWERS), "losses": [{"type": "logit_bce"}],
        }},
        optimizer={"type": "adam_w", "params": {"lr": LR, "eps": 1.0e-8, "weight_decay": 0.01}},
        # no warmup: every update moves the weights, and the schedule's lr is LR at update 0
        scheduler={"type": "warmup_linear", "params": {"num_warmup_steps": 0, "num_training_steps": 10}},
        evaluation={"metrics": ["vqa_accuracy"]},
        training={
            "max_updates": MAX_UPDATES, "checkpoint_interval": 1, "evaluation_interval": 2, "lr_scheduler": True,
            "early_stop": {"enabled": True, "criteria": "total_loss", "minimize": False, "patience": PATIENCE},
        },
        dataset_config={"vqa2": {"max_features": 10, **VQA2_TEST_FROM_VAL}},
    )


def load(path):
    return torch.load(path, map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def straight(tmp_path_factory, fixture_data_dir):
    """(config, save dir) of an uninterrupted run."""
    folder = tmp_path_factory.mktemp("straight")
    config = run_config(folder)
    run_mmf(config, "visual_bert", "vqa2", folder / "save", fixture_data_dir)
    return config, folder / "save"


@pytest.fixture(scope="module")
def resumed(straight, fixture_data_dir, tmp_path_factory):
    """Save dir of the same run stopped after update 2, then resumed with checkpoint.resume=True."""
    config, _ = straight
    save = tmp_path_factory.mktemp("resumed") / "save"
    run_mmf(config, "visual_bert", "vqa2", save, fixture_data_dir, f"training.max_updates={BEST_UPDATE}")
    run_mmf(config, "visual_bert", "vqa2", save, fixture_data_dir, "checkpoint.resume=True")
    assert f"Resuming exactly at update {BEST_UPDATE}" in open(save / "train.log").read()
    return save


def model_difference(a, b):
    assert a.keys() == b.keys()
    return max((a[key].float() - b[key].float()).abs().max().item() for key in a)


def optimizer_difference(a, b):
    """Largest difference of the per-parameter state (step, exp_avg, exp_avg_sq)."""
    assert a["state"].keys() == b["state"].keys() and a["state"]
    worst = 0.0
    for index, state in a["state"].items():
        other = b["state"][index]
        assert state.keys() == other.keys()
        worst = max(worst, abs(state["step"] - other["step"]))
        worst = max(worst, *((state[k] - other[k]).abs().max().item() for k in ("exp_avg", "exp_avg_sq")))
    return worst


def test_best_and_current_hold_model_and_optimizer_of_their_update(straight, resumed):
    _, save = straight
    best, current = load(save / "best.ckpt"), load(save / "current.ckpt")
    assert (best["num_updates"], best["best_update"]) == (BEST_UPDATE, BEST_UPDATE)
    assert (current["num_updates"], current["best_update"]) == (STOPPED_AT, BEST_UPDATE)
    # rc10 saves every checkpoint's state as models/model_<update>.ckpt too
    for name, ckpt, update in (("best.ckpt", best, BEST_UPDATE), ("current.ckpt", current, STOPPED_AT)):
        # written once, then linked or copied: the same bytes under both names
        assert (save / name).read_bytes() == (save / "models" / f"model_{update}.ckpt").read_bytes()
        snapshot = load(save / "models" / f"model_{update}.ckpt")
        assert model_difference(ckpt["model"], snapshot["model"]) == 0.0
        assert optimizer_difference(ckpt["optimizer"], snapshot["optimizer"]) == 0.0
    # and best.ckpt is what a separate run that stopped at update 2 holds
    stopped_at_best = load(resumed / "models" / f"model_{BEST_UPDATE}.ckpt")
    assert model_difference(best["model"], stopped_at_best["model"]) == 0.0
    assert optimizer_difference(best["optimizer"], stopped_at_best["optimizer"]) == 0.0
    assert model_difference(best["model"], current["model"]) > 0.0
    assert optimizer_difference(best["optimizer"], current["optimizer"]) > 0.0


def test_checkpoint_layout_is_rc10s(straight):
    _, save = straight
    for name in ("best.ckpt", "current.ckpt"):
        ckpt = load(save / name)
        assert {key for key in ckpt if not key.startswith("git/")} == RC10_KEYS | {STATE_KEY}
        assert ckpt["config"]["training"]["max_updates"] == MAX_UPDATES  # a plain container, resolved
        assert all(set(group) == ADAM_W_GROUP_KEYS for group in ckpt["optimizer"]["param_groups"])
        assert all(type(state["step"]) is int for state in ckpt["optimizer"]["state"].values())


def test_final_pth_is_the_best_models_state_dict_only(straight):
    """rc10 restores best.ckpt at the end of training, then saves ``model.state_dict()`` alone."""
    _, save = straight
    final = load(save / "visual_bert_final.pth")
    assert all(isinstance(value, torch.Tensor) for value in final.values())
    assert model_difference(final, load(save / "best.ckpt")["model"]) == 0.0
    assert model_difference(final, load(save / "current.ckpt")["model"]) > 0.0


def assert_same_content(a, b, where="checkpoint"):
    assert type(a) is type(b), where
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_same_content(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for index, (x, y) in enumerate(zip(a, b)):
            assert_same_content(x, y, f"{where}[{index}]")
    else:
        assert a == b or (a != a and b != b), where


@pytest.mark.parametrize("name", ["best.ckpt", "current.ckpt", "visual_bert_final.pth"])
def test_tensors_only_loading_reads_everything(straight, name):
    """rc10's plain ``torch.load`` reads with weights_only=True since torch 2.6: nothing is refused or lost."""
    path = straight[1] / name
    assert_same_content(load(path), torch.load(path, map_location="cpu", weights_only=False))


@pytest.fixture
def load_with(straight, tmp_path, isolated_mmf):  # noqa: F811
    """An in-process trainer that loads the straight run's files under extra ``checkpoint.*`` options."""
    config, run_save = straight
    save = tmp_path / "save"  # a copy, for checkpoint.resume=True: the run's own files stay as they are
    save.mkdir()
    for name in ("best.ckpt", "current.ckpt"):
        shutil.copy(run_save / name, save / name)
    legacy = tmp_path / "legacy.ckpt"  # torch 1.5 wrote this (pre-zip) format
    torch.save(load(run_save / "current.ckpt"), legacy, _use_new_zipfile_serialization=False)
    files = {"best": run_save / "best.ckpt", "current": run_save / "current.ckpt",
             "final": run_save / "visual_bert_final.pth", "legacy": legacy}

    def build(*options, run_config=config):
        options = [option.format(**files) for option in options]
        return build_loaded_trainer([f"config={run_config}", "model=visual_bert", "dataset=vqa2", f"env.save_dir={save}", *options])

    return build


BEST, CURRENT, FRESH = "best", "current", None
# options -> (weights from, optimizer state from, (num_updates, current_iteration), early stopping's
# best (update, iteration) restored). rc10 restores the best metric and iteration under every option,
# even reset.all; the best update goes with the counts.
LOADS = {
    "resume": (["checkpoint.resume=True"], CURRENT, CURRENT, (STOPPED_AT, STOPPED_AT), (BEST_UPDATE, BEST_UPDATE)),
    "resume_best": (["checkpoint.resume=True", "checkpoint.resume_best=True"], BEST, BEST, (BEST_UPDATE, BEST_UPDATE), (BEST_UPDATE, BEST_UPDATE)),
    "resume_file_current": (["checkpoint.resume_file={current}"], CURRENT, CURRENT, (STOPPED_AT, STOPPED_AT), (BEST_UPDATE, BEST_UPDATE)),
    "resume_file_best": (["checkpoint.resume_file={best}"], BEST, BEST, (BEST_UPDATE, BEST_UPDATE), (BEST_UPDATE, BEST_UPDATE)),
    "resume_file_torch_1_5_format": (["checkpoint.resume_file={legacy}"], CURRENT, CURRENT, (STOPPED_AT, STOPPED_AT), (BEST_UPDATE, BEST_UPDATE)),
    "resume_file_final": (["checkpoint.resume_file={final}"], BEST, FRESH, (0, 0), None),
    "reset_optimizer": (["checkpoint.resume_file={current}", "checkpoint.reset.optimizer=True"], CURRENT, FRESH, (STOPPED_AT, STOPPED_AT), (BEST_UPDATE, BEST_UPDATE)),
    "reset_counts": (["checkpoint.resume_file={current}", "checkpoint.reset.counts=True"], CURRENT, CURRENT, (0, 0), (0, BEST_UPDATE)),
    "reset_all": (["checkpoint.resume_file={current}", "checkpoint.reset.all=True"], CURRENT, FRESH, (0, 0), (0, BEST_UPDATE)),
}


@pytest.mark.parametrize("case", sorted(LOADS))
def test_checkpoint_options_restore_what_rc10_restored(straight, load_with, case):
    options, weights_from, optimizer_from, counts, early_stop = LOADS[case]
    _, save = straight
    files = {BEST: load(save / "best.ckpt"), CURRENT: load(save / "current.ckpt")}
    trainer = load_with(*options)
    assert model_difference(trainer.model.state_dict(), files[weights_from]["model"]) == 0.0
    other = CURRENT if weights_from == BEST else BEST
    assert model_difference(trainer.model.state_dict(), files[other]["model"]) > 0.0
    optimizer = trainer.optimizer.state_dict()
    if optimizer_from is FRESH:
        assert optimizer["state"] == {}
    else:
        assert optimizer_difference(optimizer, files[optimizer_from]["optimizer"]) == 0.0
    assert (trainer.num_updates, trainer.current_iteration) == counts
    stopping = trainer.early_stopping
    if early_stop is None:
        assert (stopping.best_monitored_value, stopping.best_monitored_update) == (-math.inf, 0)
    else:
        assert (stopping.best_monitored_update, stopping.best_monitored_iteration) == early_stop
        assert stopping.best_monitored_value == files[BEST]["best_metric_value"]
    # the next update runs at the lr the uninterrupted run had after as many updates (saved with them)
    updates = counts[0]
    saved_at = {STOPPED_AT: files[CURRENT], BEST_UPDATE: files[BEST]}
    expected_lr = saved_at[updates]["optimizer"]["param_groups"][0]["lr"] if updates else LR
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(expected_lr, rel=1e-12)


def test_resume_pretrained_copies_only_the_mapped_weights(straight, load_with, tmp_path):
    """How a finetuning run starts from a pretraining run: the base's weights, nothing else."""
    mapped = write_run_config(tmp_path / "mapped.yaml", [straight[0]],
                              checkpoint={"pretrained_state_mapping": {"model.bert": "model.bert"}})
    initial = load_with(run_config=mapped).model.state_dict()
    trainer = load_with("checkpoint.resume_file={current}", "checkpoint.resume_pretrained=True", run_config=mapped)
    current = load(straight[1] / "current.ckpt")["model"]
    weights = trainer.model.state_dict()
    base = [key for key in weights if key.startswith("model.bert.")]
    assert base and len(base) < len(weights)
    assert model_difference({k: weights[k] for k in base}, {k: current[k] for k in base}) == 0.0
    head = {key: weights[key] for key in weights if key not in base}
    assert model_difference(head, {key: initial[key] for key in head}) == 0.0
    assert model_difference(head, {key: current[key] for key in head}) > 0.0
    assert trainer.optimizer.state_dict()["state"] == {}
    assert (trainer.num_updates, trainer.early_stopping.best_monitored_value) == (0, -math.inf)


def test_base_trainer_restores_as_rc10_did(load_with):
    """rc10's own Checkpoint on torch 2.x: the same files load, with rc10's two resume quirks kept."""
    trainer = load_with("training.trainer=base_trainer", "checkpoint.resume_file={current}")
    assert type(trainer.checkpoint) is Checkpoint
    assert trainer.num_updates == STOPPED_AT
    assert trainer.early_stopping.best_monitored_update == 0  # patience counts from update 0
    assert trainer.optimizer.param_groups[0]["lr"] == LR  # the schedule restarts


def test_resumed_run_ends_where_and_as_the_uninterrupted_one(straight, resumed):
    """Resumed after update 2: early stopping still waits its patience (rc10 stopped at update 4)
    and every update runs at the uninterrupted run's lr (rc10 ran update 3 at the schedule's first)."""
    _, save = straight
    expected, got = load(save / "current.ckpt"), load(resumed / "current.ckpt")
    assert got["num_updates"] == expected["num_updates"] == STOPPED_AT
    assert got["best_update"] == BEST_UPDATE
    assert model_difference(expected["model"], got["model"]) <= 1e-6
    assert optimizer_difference(expected["optimizer"], got["optimizer"]) <= 1e-6
    assert model_difference(load(save / "visual_bert_final.pth"), load(resumed / "visual_bert_final.pth")) <= 1e-6
    assert sorted(os.listdir(resumed / "models")) == sorted(os.listdir(save / "models"))
