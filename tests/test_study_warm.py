"""The warm local runner: runs forked from one process that imported torch and MMF give what cold runs give."""
import dataclasses
import os
import sys

import pytest

from mmf_domainstudy.study.run.local import LocalExecutor
from mmf_domainstudy.study.run.plan import expand_study, select_runs
from mmf_domainstudy.study.run.rundir import CONSOLE_LOG, EXIT_CODE, read_done, read_failed
from mmf_domainstudy.study.run.runner import DONE, FAILED, StudyRunner
from mmf_domainstudy.study.run.spec import load_spec
from mmf_domainstudy.study.run.warm import WarmLocalExecutor, forkable_module
from tests.conftest import REPO, mmf_env
from tests.test_study_mmf import write_real_study

BASELINE = "ft-visual_bert-none-vqa2-finetuned-d1.0-s1"


@pytest.fixture
def study_env(fixture_data_dir, monkeypatch):
    for key, value in mmf_env(fixture_data_dir).items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(REPO)


def _run_baseline(tmp_path, data_dir, make_executor, overrides=()):
    tmp_path.mkdir(exist_ok=True)
    spec = load_spec(write_real_study(tmp_path, data_dir))
    [run] = select_runs(expand_study(spec), BASELINE)
    run = dataclasses.replace(run, overrides=run.overrides + tuple(overrides))
    executor = make_executor(spec)
    try:
        status = StudyRunner(spec, [run], executor, jobs=1, poll_interval=0.2).run()
    finally:
        executor.close()
    return spec, run, status[run.name]


def _warm(spec):
    return WarmLocalExecutor(1, log_path=spec.output_dir / "warm_process.log")


def test_a_forked_run_gives_the_cold_runs_metrics(tmp_path, fixture_data_dir, study_env):
    _, cold, cold_status = _run_baseline(tmp_path / "cold", fixture_data_dir, lambda spec: LocalExecutor(1))
    spec, warm, warm_status = _run_baseline(tmp_path / "warm", fixture_data_dir, _warm)
    logs = {r.run_dir.parent.parent.parent.name: (r.run_dir / CONSOLE_LOG).read_text()[-3000:] for r in (cold, warm)}
    assert cold_status == warm_status == DONE, logs
    assert read_done(warm.run_dir)["metrics"] == read_done(cold.run_dir)["metrics"]
    assert (warm.run_dir / EXIT_CODE).read_text().strip() == "0"
    assert "Logging to: " in (warm.run_dir / CONSOLE_LOG).read_text()  # the run's stdout is its own log
    assert "Final metrics written to" in (warm.run_dir / "train.log").read_text()
    assert (spec.output_dir / "warm_process.log").exists()


def test_a_forked_runs_bad_input_fails_it_with_exit_status_2(tmp_path, fixture_data_dir, study_env):
    _, run, status = _run_baseline(tmp_path, fixture_data_dir, _warm, overrides=["training.max_updatez=3"])
    assert status == FAILED
    assert read_failed(run.run_dir)["reason"] == "the run exited with status 2"
    errors = [line for line in (run.run_dir / CONSOLE_LOG).read_text().splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "training.max_updatez" in errors[0]


def test_only_this_pythons_module_commands_are_forked():
    assert forkable_module([sys.executable, "-m", "mmf_domainstudy.run", "config=x.yaml"]) == "mmf_domainstudy.run"
    assert forkable_module([os.path.realpath(sys.executable), "-m", "mmf_cli.run"]) == "mmf_cli.run"
    assert forkable_module(["/usr/bin/python2", "-m", "mmf_domainstudy.run"]) is None
    assert forkable_module(["mmf_run", "config=x.yaml"]) is None
    assert forkable_module([sys.executable, "tools/run.py"]) is None


def test_a_dead_warm_process_leaves_the_runs_to_cold_starts(tmp_path, fixture_data_dir, study_env, caplog):
    def dead_warm(spec):
        executor = _warm(spec)
        assert executor.warm.wait_ready()
        executor.warm.process.kill()
        executor.warm.process.wait()
        return executor

    _, run, status = _run_baseline(tmp_path, fixture_data_dir, dead_warm)
    assert status == DONE, (run.run_dir / CONSOLE_LOG).read_text()[-3000:]
    assert "warm process gone" in caplog.text
