"""The runner on real MMF runs (``python -m mmf_domainstudy.run``) over the project configs and fixture data.

Checks the contract with the trainer end to end: the composed config with the
tiny overlay, metrics.json, ``<model>_final.pth`` and the pretrained base
reaching the finetuning run.
"""
import os
import shutil
import subprocess

import yaml

from mmf_domainstudy.study.run.local import LocalExecutor
from mmf_domainstudy.study.run.plan import expand_study, select_runs
from mmf_domainstudy.study.report.write import write_report
from mmf_domainstudy.study.run.rundir import read_done
from mmf_domainstudy.study.run.runner import DONE, StudyRunner
from mmf_domainstudy.study.run.spec import load_spec
from tests.conftest import REPO, TINY_OVERLAY, installed_script, mmf_env
from tests.fixtures.make_fixtures import VQA_ANSWERS
from tests.test_trainer import VQA2_TEST_FROM_VAL

# What the fixture data needs on top of the project configs and the tiny overlay.
FIXTURE_OVERLAY = {
    "model_config": {"visual_bert": {"num_labels": len(VQA_ANSWERS)}},
    "dataset_config": {"masked_coco": {"max_features": 10}, "vqa2": {"max_features": 10, **VQA2_TEST_FROM_VAL}},
}


def write_real_study(tmp_path, data_dir):
    (tmp_path / "fixture.yaml").write_text(yaml.safe_dump(FIXTURE_OVERLAY))
    (tmp_path / "study.yaml").write_text(yaml.safe_dump({
        "name": "real",
        "output_dir": str(tmp_path / "out"),
        "data_dir": str(data_dir),
        "models": ["visual_bert"],
        "pretrain": {"config": "projects/domain_study/configs/{model}/pretrain/{source}.yaml",
                     "sources": {"none": None, "coco": {"dataset": "masked_coco"}}},
        "finetune": {"config": "projects/domain_study/configs/{model}/finetune/{task}.yaml", "seeds": [1],
                     "tasks": {"vqa2": {"dataset": "vqa2", "metric": "vqa2/vqa_accuracy"}}},
        "overlays": [TINY_OVERLAY, str(tmp_path / "fixture.yaml")],
        "overrides": ["run_type=train_val"],
    }, sort_keys=False))
    return tmp_path / "study.yaml"


def test_real_runs_from_pretraining_to_the_report(tmp_path, fixture_data_dir, monkeypatch):
    for key, value in mmf_env(fixture_data_dir).items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(REPO)
    spec = load_spec(write_real_study(tmp_path, fixture_data_dir))
    runs = select_runs(expand_study(spec), "ft-*-finetuned-*")
    assert [r.name for r in runs] == ["pt-visual_bert-coco-p1.0-s1", "ft-visual_bert-none-vqa2-finetuned-d1.0-s1",
                                      "ft-visual_bert-coco-p1.0-s1-vqa2-finetuned-d1.0-s1"]
    status = StudyRunner(spec, runs, LocalExecutor(), jobs=2, poll_interval=0.5).run()
    assert set(status.values()) == {DONE}, {r.name: (r.run_dir / "console.log").read_text()[-3000:] for r in runs}
    pretrain, baseline, finetune = runs
    assert read_done(pretrain.run_dir)["metrics"]["updates"] == 3
    assert (pretrain.run_dir / "visual_bert_final.pth").exists()
    assert "Pretrained model loaded" in (finetune.run_dir / "train.log").read_text()  # MMF's own log
    assert "Pretrained model loaded" not in (baseline.run_dir / "train.log").read_text()
    report = write_report(spec, expand_study(spec)).path.read_text()
    for run in (baseline, finetune):
        accuracy = read_done(run.run_dir)["metrics"]["val"]["val/vqa2/vqa_accuracy"]
        assert 0.0 <= accuracy <= 1.0
        assert f"{accuracy:.4f}" in report


def test_a_missing_data_file_stops_the_study_before_any_run_starts(tmp_path, fixture_data_dir):
    data = tmp_path / "data"
    shutil.copytree(fixture_data_dir, data, copy_function=os.link)
    missing = data / "datasets" / "vqa2" / "defaults" / "annotations" / "imdb_val2014.npy"
    missing.unlink()
    spec = write_real_study(tmp_path, data)
    result = subprocess.run([installed_script("domainstudy-run"), str(spec), "--jobs", "2"], cwd=REPO,
                            env=mmf_env(data), capture_output=True, text=True, timeout=300)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert result.returncode == 2 and len(errors) == 1, result.stderr[-3000:]
    assert str(missing) in errors[0] and "dataset_config.vqa2.annotations.val" in errors[0]
    assert not (tmp_path / "out" / "runs").exists()
