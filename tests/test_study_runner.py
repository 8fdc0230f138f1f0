"""The runner, in-process, on a fake MMF command: execution, reuse, reruns, failures, resume, dry-run."""
import json

import pytest

from mmf_domainstudy.study.cli import main
from mmf_domainstudy.study.run.local import LocalExecutor
from mmf_domainstudy.study.run.plan import expand_study, launch_command
from mmf_domainstudy.study.run.rundir import (CONSOLE_LOG, finish_attempt, read_done, read_failed, read_json, run_progress,
                                          start_attempt)
from mmf_domainstudy.study.run.runner import BLOCKED, DONE, FAILED, StudyRunner, prepare_run
from mmf_domainstudy.study.run.spec import load_spec
from tests.test_study_support import executions, write_study


@pytest.fixture
def fake_env(tmp_path, monkeypatch):
    """Where the fake command records its starts."""
    log = tmp_path / "executions.jsonl"
    monkeypatch.setenv("FAKE_EXECUTIONS", str(log))
    monkeypatch.setenv("FAKE_STEPS", "2")
    return log


def run_once(spec_path, jobs=2):
    spec = load_spec(spec_path)
    runs = expand_study(spec)
    return runs, StudyRunner(spec, runs, LocalExecutor(), jobs=jobs, poll_interval=0.05).run()


def started_runs(log, since=0):
    return sorted(entry["run"].rsplit("-", 1)[0] for entry in executions(log)[since:])


def test_runs_every_run_once_and_reuses_finished_ones(tmp_path, fake_env):
    spec_path = write_study(tmp_path)
    runs, status = run_once(spec_path)
    assert set(status.values()) == {DONE} and len(runs) == 2 + 3 * 2 * 2
    assert started_runs(fake_env) == sorted(r.name for r in runs)
    by_name = {r.name: r for r in runs}
    # score = task config 0.5 + 0.01 * seed + bonus of the pretraining config (b: 0.2)
    done = read_done(by_name["ft-m1-b-p1.0-s1-t1-frozen-d1.0-s2"].run_dir)
    assert done["metrics"]["val"] == {"val/ds_t1/accuracy": pytest.approx(0.72)}
    assert done["axes"]["mode"] == "frozen" and "model_config.m1.freeze_base=True" in done["command"]
    assert read_done(by_name["ft-m1-none-t1-finetuned-d1.0-s1"].run_dir)["metrics"]["val"]["val/ds_t1/accuracy"] == \
        pytest.approx(0.51)
    _, again = run_once(spec_path)
    assert set(again.values()) == {DONE}
    assert len(executions(fake_env)) == len(runs)


def test_changing_one_config_reruns_exactly_the_runs_that_use_it(tmp_path, fake_env):
    spec_path = write_study(tmp_path, tasks=("t1", "t2"), seeds=(1,))
    configs = tmp_path / "configs"
    runs, _ = run_once(spec_path)
    assert len(executions(fake_env)) == len(runs) == 2 + 3 * 2 * 2

    def rerun_after(edit):
        before = len(executions(fake_env))
        edit()
        _, status = run_once(spec_path)
        assert set(status.values()) == {DONE}
        return started_runs(fake_env, since=before)

    # A comment or formatting change is not a change of the config.
    assert rerun_after(lambda: (configs / "finetune" / "t2.yaml").write_text("# tuned\nfake_score:   0.3\n")) == []
    assert rerun_after(lambda: (configs / "finetune" / "t2.yaml").write_text("fake_score: 0.35\n")) == sorted(
        f"ft-m1-{up}-t2-{mode}-d1.0-s1" for up in ("none", "a-p1.0-s1", "b-p1.0-s1") for mode in ("finetuned", "frozen"))
    # A pretraining config reruns its pretraining run and every run that starts from it.
    assert rerun_after(lambda: (configs / "pretrain" / "a.yaml").write_text(
        "includes:\n- ../base.yaml\nfake_bonus: 0.15\n")) == sorted(
        ["pt-m1-a-p1.0-s1"] + [f"ft-m1-a-p1.0-s1-{t}-{m}-d1.0-s1" for t in ("t1", "t2") for m in ("finetuned", "frozen")])
    # A file included by both pretraining configs.
    assert len(rerun_after(lambda: (configs / "base.yaml").write_text("training:\n  max_updates: 4\n"))) == 2 + 8
    # The overlay is part of every run.
    assert len(rerun_after(lambda: (configs / "tiny.yaml").write_text("training:\n  batch_size: 4\n"))) == 14


def test_a_failed_run_blocks_its_dependents_and_the_rest_goes_on(tmp_path, fake_env, monkeypatch, caplog):
    spec_path = write_study(tmp_path)
    monkeypatch.setenv("FAKE_FAIL", "pt-m1-a-*")
    runs, status = run_once(spec_path)
    by_name = {r.name: r for r in runs}
    assert status["pt-m1-a-p1.0-s1"] == FAILED
    assert {n for n, s in status.items() if s == BLOCKED} == {r.name for r in runs if r.depends_on
                                                              and r.depends_on.name == "pt-m1-a-p1.0-s1"}
    assert sum(s == DONE for s in status.values()) == len(runs) - 1 - 4
    failure = read_failed(by_name["pt-m1-a-p1.0-s1"].run_dir)
    assert failure["reason"] == "the run exited with status 3"
    assert "ValueError: fake failure for a test" in failure["log_tail"]
    assert "ValueError: fake failure for a test" in caplog.text  # reported with the log's tail
    # Fixed: the next runner retries the failed run and runs what it blocked; nothing else.
    monkeypatch.delenv("FAKE_FAIL")
    before = len(executions(fake_env))
    _, status = run_once(spec_path)
    assert set(status.values()) == {DONE}
    assert started_runs(fake_env, since=before) == sorted(
        ["pt-m1-a-p1.0-s1"] + [r.name for r in runs if r.depends_on and r.depends_on.name == "pt-m1-a-p1.0-s1"])
    assert read_failed(by_name["pt-m1-a-p1.0-s1"].run_dir) is None


def test_a_run_without_metrics_fails_with_the_reason(tmp_path, fake_env, monkeypatch):
    spec_path = write_study(tmp_path, modes=False, seeds=(1,))
    monkeypatch.setenv("FAKE_NO_METRICS", "ft-m1-none-*")
    runs, status = run_once(spec_path)
    baseline = next(r for r in runs if r.name.startswith("ft-m1-none-"))
    assert status[baseline.name] == FAILED
    assert "metrics.json is missing" in read_failed(baseline.run_dir)["reason"]


def test_a_pretraining_run_without_its_checkpoint_fails(tmp_path, fake_env, monkeypatch):
    spec_path = write_study(tmp_path, modes=False, seeds=(1,))
    spec = load_spec(spec_path)
    runs = expand_study(spec)
    pretrain = runs[0]
    monkeypatch.setenv("FAKE_STEPS", "0")
    prepare_run(pretrain, spec, gpus_per_run=1)
    start_attempt(pretrain.run_dir).wait()
    (pretrain.run_dir / "m1_final.pth").unlink()
    assert finish_attempt(pretrain.run_dir) == "failed"
    assert "m1_final.pth, which its finetuning runs start from" in read_failed(pretrain.run_dir)["reason"]


def test_an_interrupted_run_resumes_from_its_checkpoint(tmp_path, fake_env, monkeypatch):
    spec_path = write_study(tmp_path, modes=False, seeds=(1,))
    spec = load_spec(spec_path)
    run = expand_study(spec)[0]
    prepare_run(run, spec, gpus_per_run=1)
    (run.run_dir / "current.ckpt").write_text(json.dumps({"step": 1}))  # what a killed attempt leaves
    monkeypatch.setenv("FAKE_STEPS", "3")
    status = StudyRunner(spec, [run], LocalExecutor(), poll_interval=0.05).run()
    assert status[run.name] == DONE
    assert executions(fake_env) == [{"run": run.run_dir.name, "start_step": 1}]
    assert read_done(run.run_dir)["command"][-1] == "checkpoint.resume=True"
    assert read_json(run.run_dir / "attempt.json")["number"] == 1


def test_an_attempt_that_ended_while_no_runner_watched_is_recorded_not_rerun(tmp_path, fake_env):
    spec_path = write_study(tmp_path, modes=False, seeds=(1,))
    spec = load_spec(spec_path)
    run = expand_study(spec)[0]
    prepare_run(run, spec, gpus_per_run=1)
    start_attempt(run.run_dir).wait()  # its runner died before recording the outcome
    status = StudyRunner(spec, [run], LocalExecutor(), poll_interval=0.05).run()
    assert status[run.name] == DONE and len(executions(fake_env)) == 1


def test_dry_run_lists_every_run_with_status_and_command(tmp_path, fake_env, monkeypatch, capsys):
    spec_path = write_study(tmp_path, seeds=(1,))
    assert main([str(spec_path), "--dry-run"]) == 0
    plan = capsys.readouterr().out
    assert plan.startswith(f"Study small: 8 runs (8 pending) in {tmp_path / 'out'}")
    assert executions(fake_env) == []
    monkeypatch.setenv("FAKE_FAIL", "pt-m1-a-*")
    run_once(spec_path)
    runs = {r.name: r for r in expand_study(load_spec(spec_path))}
    (runs["ft-m1-b-p1.0-s1-t1-frozen-d1.0-s1"].run_dir / "done.json").unlink()
    (runs["ft-m1-b-p1.0-s1-t1-frozen-d1.0-s1"].run_dir / "current.ckpt").write_text('{"step": 1}')
    main([str(spec_path), "--dry-run"])
    plan = capsys.readouterr().out
    assert plan.splitlines()[0] == f"Study small: 8 runs (4 done, 1 failed, 2 blocked, 1 pending) in {tmp_path / 'out'}"
    assert "[failed] pt-m1-a-p1.0-s1\n" in plan
    assert "[blocked] ft-m1-a-p1.0-s1-t1-frozen-d1.0-s1\n" in plan
    assert "[done] ft-m1-none-t1-frozen-d1.0-s1\n" in plan
    assert "[pending] ft-m1-b-p1.0-s1-t1-frozen-d1.0-s1 (resumes from its checkpoint)\n" in plan
    target = runs["ft-m1-b-p1.0-s1-t1-frozen-d1.0-s1"]
    line = plan.split("[pending] ft-m1-b-p1.0-s1-t1-frozen-d1.0-s1")[1].splitlines()[1].strip()
    pretrain_dir = runs["pt-m1-b-p1.0-s1"].run_dir
    assert line.split()[2:] == [
        f"config={target.run_dir}/study_config.yaml", "model=m1", "dataset=ds_t1", f"env.save_dir={target.run_dir}",
        "model_config.m1.freeze_base=True", "training.seed=1", f"checkpoint.resume_file={pretrain_dir}/m1_final.pth",
        "checkpoint.resume_pretrained=True", "checkpoint.resume=True"]


def test_torchrun_wraps_the_command_for_several_gpus():
    command = ("/env/bin/python", "-m", "mmf_domainstudy.run")
    assert launch_command(command, 1) == list(command)
    assert launch_command(command, 8) == ["/env/bin/python", "-m", "torch.distributed.run", "--standalone",
                                          "--nproc_per_node=8", "-m", "mmf_domainstudy.run"]


def test_a_second_runner_on_the_same_study_is_refused(tmp_path):
    from mmf_domainstudy.study.run.runner import StudyBusy, runner_lock

    with runner_lock(tmp_path):
        with pytest.raises(StudyBusy, match="another runner is working on"):
            with runner_lock(tmp_path):
                pass


def test_status_shows_the_latest_training_update_not_the_last_printed_line(tmp_path):
    assert run_progress(tmp_path) == "starting"
    (tmp_path / CONSOLE_LOG).write_text(
        "===== attempt 1\n"
        "mmf.train : update 25/200 loss 1.2345 lr 0.001 samples/s 250.0\n"
        "mmf.train : update 50/200 loss 0.9876 lr 0.0009 samples/s 251.0\n"
        "/site-packages/torch/optim/lr_scheduler.py:62: UserWarning: ...\n"
        "  warnings.warn(message=msg, category=UserWarning)\n"
    )
    assert run_progress(tmp_path) == "update 50/200 loss 0.9876"
