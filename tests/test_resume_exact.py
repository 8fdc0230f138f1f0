"""A run SIGKILLed mid-training and resumed ends with the same parameters as an uninterrupted one."""
import os
import re
import signal
import subprocess
import sys
import time

import torch

from tests.conftest import REPO, TINY_OVERLAY, mmf_env, run_mmf, write_run_config

MAX_UPDATES = 16


def resume_config(tmp_path):
    sections = {
        # wider than the tiny overlay so that an update takes long enough to be killed mid-run
        "model_config": {"visual_bert": {"hidden_size": 128, "num_hidden_layers": 4, "intermediate_size": 512}},
        "optimizer": {"type": "adam_w", "params": {"lr": 1.0e-3, "eps": 1.0e-8, "weight_decay": 0.01}},
        "training": {"max_updates": MAX_UPDATES, "checkpoint_interval": 2, "evaluation_interval": 3, "batch_size": 2},
        "dataset_config": {"masked_coco": {"max_features": 10}},
    }
    return write_run_config(tmp_path / "resume.yaml", [TINY_OVERLAY], **sections)


def last_model(save_dir):
    return torch.load(os.path.join(save_dir, "current.ckpt"), map_location="cpu", weights_only=True)["model"]


def kill_after_update(config, save_dir, data_dir, update):
    args = [sys.executable, "-m", "mmf_domainstudy.run", f"config={config}", "model=visual_bert",
            "dataset=masked_coco", f"env.save_dir={save_dir}"]
    process = subprocess.Popen(args, cwd=REPO, env=mmf_env(data_dir), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = os.path.join(save_dir, "train.log")
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None:
        if os.path.exists(log) and re.search(rf"update {update}/{MAX_UPDATES} ", open(log).read()):
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.01)
    process.wait()
    return process.returncode


def test_sigkill_then_resume_matches_an_uninterrupted_run(tmp_path, fixture_data_dir):
    config = resume_config(tmp_path)
    straight = tmp_path / "straight"
    run_mmf(config, "visual_bert", "masked_coco", straight, fixture_data_dir)

    interrupted = tmp_path / "interrupted"
    assert kill_after_update(config, interrupted, fixture_data_dir, update=7) == -signal.SIGKILL
    log = open(interrupted / "train.log").read()
    assert f"update {MAX_UPDATES}/{MAX_UPDATES}" not in log
    run_mmf(config, "visual_bert", "masked_coco", interrupted, fixture_data_dir, "checkpoint.resume=True")
    assert "Resuming exactly at update" in open(interrupted / "train.log").read()

    expected, resumed = last_model(straight), last_model(interrupted)
    assert expected.keys() == resumed.keys()
    worst = max((expected[k].float() - resumed[k].float()).abs().max().item() for k in expected)
    assert worst <= 1e-6
    start = torch.load(interrupted / "models" / "model_2.ckpt", map_location="cpu", weights_only=True)["model"]
    assert any(not torch.equal(start[k], resumed[k]) for k in start)  # training did move the weights
