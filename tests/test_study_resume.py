"""SIGKILL the runner (and once its runs too) at several points; restarted, it finishes the study.

The fake command holds chosen runs after their first step until the test
releases them, so every kill point is reached by a condition, not by timing.
"""
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from mmf_domainstudy.study.run.plan import expand_study
from mmf_domainstudy.study.run.rundir import lease_held, read_done, read_json
from mmf_domainstudy.study.run.spec import load_spec
from tests.test_study_support import REPO, executions, write_study

DEADLINE_SECONDS = 300  # only so that a broken runner fails the test instead of hanging it


def start_runner(spec_path, env, log_path):
    return subprocess.Popen(
        [sys.executable, "-m", "mmf_domainstudy.study.cli", str(spec_path), "--jobs", "2", "--poll-interval", "0.1"],
        cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=open(log_path, "w"), stderr=subprocess.STDOUT,
    )


def wait_for(condition, runner, log_path, what):
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not condition():
        if runner.poll() is not None:
            pytest.fail(f"runner exited ({runner.returncode}) before {what}:\n{log_path.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.05)


def sigkill(runner):
    runner.send_signal(signal.SIGKILL)
    runner.wait()


def run_processes(tmp_path):
    """Processes of this test's runs (their command names the run folder), by pid."""
    marker = f"env.save_dir={tmp_path}".encode()
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                if marker in handle.read():
                    found.append(int(pid))
        except OSError:  # exited meanwhile
            pass
    return found


def kill_runs(tmp_path):
    """What a crashed machine does to the runs: kill their process groups."""
    for pid in run_processes(tmp_path):
        try:
            os.killpg(os.getpgid(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 30
    while run_processes(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.05)


def test_runner_killed_at_any_point_finishes_the_study_without_redoing_work(tmp_path):
    spec_path = write_study(tmp_path)
    runs = {r.name: r for r in expand_study(load_spec(spec_path))}
    held_pretrain = runs["pt-m1-b-p1.0-s1"]
    held_finetune = runs["ft-m1-b-p1.0-s1-t1-frozen-d1.0-s2"]
    release_pretrain, release_finetune = tmp_path / "release-pretrain", tmp_path / "release-finetune"
    env = dict(
        os.environ, PYTHONPATH=str(REPO), FAKE_EXECUTIONS=str(tmp_path / "executions.jsonl"), FAKE_STEPS="3",
        FAKE_STEP_SECONDS="0.1",
        FAKE_HOLD=f"{held_pretrain.run_dir.name}={release_pretrain};{held_finetune.run_dir.name}={release_finetune}",
    )

    def done():
        return {name for name, run in runs.items() if read_done(run.run_dir)}

    def step(run):
        return (read_json(run.run_dir / "current.ckpt") or {}).get("step", 0)

    try:
        # 1. Killed while both pretraining runs go; pt-m1-b is held, so it is still going at the restart.
        logs = [tmp_path / f"runner{i}.log" for i in range(1, 5)]
        runner = start_runner(spec_path, env, logs[0])
        wait_for(lambda: step(held_pretrain) == 1 and len(executions(env["FAKE_EXECUTIONS"])) >= 2, runner, logs[0],
                 "both pretraining runs to start")
        sigkill(runner)

        # 2. Killed after a few finetuning runs finished, while one is going.
        runner = start_runner(spec_path, env, logs[1])
        wait_for(lambda: len(done()) >= 5 and any(lease_held(runs[n].run_dir) for n in set(runs) - done()
                                                  if n.startswith("ft-")), runner, logs[1], "5 runs done")
        sigkill(runner)
        done_before_kill_2 = done()
        assert "pt-m1-b-p1.0-s1 is still running from an earlier runner; watching it" in logs[1].read_text()

        # 3. Killed with its runs (a crashed machine) while a finetuning run is mid-way.
        runner = start_runner(spec_path, env, logs[2])
        wait_for(lambda: "pt-m1-b-p1.0-s1 is still running" in logs[2].read_text(), runner, logs[2], "adoption")
        release_pretrain.touch()
        wait_for(lambda: step(held_finetune) == 1, runner, logs[2], "the held finetuning run's first step")
        sigkill(runner)
        kill_runs(tmp_path)
        done_before_kill_3 = done()
        interrupted = {name: step(run) for name, run in runs.items()
                       if name not in done_before_kill_3 and (run.run_dir / "attempt.json").exists()
                       and not (run.run_dir / "exit_code").exists()}
        assert interrupted.get(held_finetune.name) == 1
        release_finetune.touch()

        # 4. Finishes.
        runner = start_runner(spec_path, env, logs[3])
        assert runner.wait(timeout=DEADLINE_SECONDS) == 0, logs[3].read_text()[-3000:]
    finally:
        kill_runs(tmp_path)

    assert done() == set(runs)
    starts = executions(env["FAKE_EXECUTIONS"])
    counts = Counter(entry["run"] for entry in starts)
    for name, run in runs.items():
        expected = 2 if name in interrupted else 1
        assert counts[run.run_dir.name] == expected, name
    for name in done_before_kill_2 | done_before_kill_3:
        assert counts[runs[name].run_dir.name] == 1  # finished runs are never re-executed
    resumed = {e["run"]: e["start_step"] for e in starts if counts[e["run"]] == 2 and e["start_step"] > 0}
    assert resumed == {runs[n].run_dir.name: s for n, s in interrupted.items() if s > 0}
    # score = 0.5 + 0.01 * seed + 0.2 (pretraining source b)
    assert read_done(held_finetune.run_dir)["metrics"]["val"]["val/ds_t1/accuracy"] == pytest.approx(0.72)
    printed = logs[3].read_text()
    for mode in ("finetuned", "frozen"):
        assert f"| b | {mode} | 0.7150 ± 0.0071 | n=2 | +0.2000 | [+0.2000, +0.2000] |" in printed


def test_interrupting_the_runner_stops_its_runs_and_they_resume_later(tmp_path):
    spec_path = write_study(tmp_path, seeds=(1,), modes=False)
    runs = {r.name: r for r in expand_study(load_spec(spec_path))}
    held = runs["pt-m1-b-p1.0-s1"]
    release = tmp_path / "release"
    env = dict(os.environ, PYTHONPATH=str(REPO), FAKE_EXECUTIONS=str(tmp_path / "executions.jsonl"),
               FAKE_STEPS="3", FAKE_HOLD=f"{held.run_dir.name}={release}")
    logs = [tmp_path / "runner1.log", tmp_path / "runner2.log"]
    try:
        runner = start_runner(spec_path, env, logs[0])
        wait_for(lambda: (held.run_dir / "current.ckpt").exists(), runner, logs[0], "the held run's first step")
        runner.send_signal(signal.SIGINT)  # Ctrl-C
        assert runner.wait(timeout=DEADLINE_SECONDS) == 130
        assert run_processes(tmp_path) == []
        assert not lease_held(held.run_dir) and not read_done(held.run_dir)
        assert "run(s) this runner started; they resume from their checkpoints" in logs[0].read_text()
        release.touch()
        runner = start_runner(spec_path, env, logs[1])
        assert runner.wait(timeout=DEADLINE_SECONDS) == 0, logs[1].read_text()[-3000:]
    finally:
        kill_runs(tmp_path)
    assert all(read_done(run.run_dir) for run in runs.values())
    held_starts = [e["start_step"] for e in executions(env["FAKE_EXECUTIONS"]) if e["run"] == held.run_dir.name]
    assert held_starts == [0, 1]
