"""A run's folder: what is on disk says where the run stands, so any runner can pick it up.

Beside MMF's own files (config.yaml, current.ckpt, models/, logs/) a run folder holds:

- ``run.json``: what to launch (name, digest, kind, axes, command); rewritten before each attempt.
- ``study_config.yaml``: the config the run is launched with (base config + overlays).
- ``console.log``: stdout and stderr of every attempt, appended after a header line; never truncated
  (MMF's own logger writes ``train.log`` beside it).
- ``attempt.json``: when the latest attempt started and its exact command.
- ``lease.lock``: locked by the attempt's processes while they live (released by the kernel when they die,
  even on SIGKILL), so a restarted runner knows a run is still going and waits for it.
- ``exit_code``: the attempt's exit status, written by the process that outlives the runner (a shell wrapper,
  or the forked run itself under the warm runner).
- ``metrics.json``: final metrics, written by the domain_study trainer at the end of training.
- ``done.json``: the outcome of a finished run, metrics included; once written the run never reruns.
- ``failed.json``: why the latest attempt failed, with the tail of its log.
"""
import fcntl
import json
import os
import re
import shlex
import socket
import subprocess
import time
from pathlib import Path

from mmf_domainstudy.utils.atomic import atomic_write_text


RUN_JSON = "run.json"
CONSOLE_LOG = "console.log"
MMF_LOG = "train.log"
ATTEMPT = "attempt.json"
LEASE = "lease.lock"
EXIT_CODE = "exit_code"
METRICS = "metrics.json"
DONE_JSON = "done.json"
FAILED_JSON = "failed.json"
CHECKPOINT = "current.ckpt"  # rc10's resume checkpoint
ATTEMPT_HEADER = "====="
_TRAINING_PROGRESS = re.compile(r"update (?P<update>\d+)/(?P<total>\d+) loss (?P<loss>\S+)")

# Where a run stands (stored_status): the runner's and the report's one vocabulary.
DONE, RUNNING, PENDING, FAILED, BLOCKED = "done", "running", "pending", "failed", "blocked"

# Runs the command, then records its exit status atomically; it is the process that outlives a runner.
_RECORD_EXIT_STATUS = '"$@"; code=$?; echo "$code" > "$0.tmp" && mv "$0.tmp" "$0"; exit "$code"'


class OutcomeError(ValueError):
    """A run ended but did not leave what a finished run must leave."""


def read_json(path):
    """A json file's content, or None when it does not exist."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        return None
    except json.JSONDecodeError as error:
        raise OutcomeError(f"{path}: not valid json ({error}). Delete it to let the run start over.")


def write_json(path, content):
    atomic_write_text(path, json.dumps(content, indent=2, sort_keys=True) + "\n")


def read_done(run_dir):
    return read_json(Path(run_dir) / DONE_JSON)


def read_failed(run_dir):
    return read_json(Path(run_dir) / FAILED_JSON)


def read_metrics(run_dir):
    """The trainer's ``{"val": {...}, "test": {...}, "updates": N}``, checked.

    A split is there only if the run evaluated it (``run_type=train_val`` for val).
    """
    path = Path(run_dir) / METRICS
    metrics = read_json(path)
    if metrics is None:
        raise OutcomeError(
            f"{path} is missing: the run exited cleanly but wrote no final metrics. "
            "The domain_study trainer writes it (training.trainer=domain_study)."
        )
    if not isinstance(metrics, dict):
        raise OutcomeError(f"{path}: expected {{'val': {{'<dataset>/<metric>': value}}, ...}}, got {metrics!r}.")
    for split in ("val", "test"):
        values = metrics.get(split, {})
        if not isinstance(values, dict):
            raise OutcomeError(f"{path}: '{split}' is {values!r}, not a mapping of metric names to numbers.")
        for key, value in values.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise OutcomeError(f"{path}: {split}/{key} is {value!r}, not a number.")
    return metrics


def split_metric(metrics, split, metric):
    """A metric of a ``metrics.json`` split, named ``<dataset>/<metric>``; rc10's meters prefix the split."""
    values = metrics.get(split, {})
    return next((values[key] for key in (metric, f"{split}/{metric}") if key in values), None)


def log_tail(run_dir, lines=20, name=CONSOLE_LOG):
    """The last lines of a run's log, for failure reports."""
    path = Path(run_dir) / name
    if not path.exists():
        return ""
    with open(path, "rb") as handle:
        handle.seek(max(0, path.stat().st_size - 64 * 1024))
        text = handle.read().decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def run_progress(run_dir):
    """Where a live run stands in a few words, for the runner's status line.

    The latest ``update N/M loss L`` the domain_study trainer logged (console or MMF's
    train.log), so warnings and tracebacks printed between log intervals do not replace it.
    """
    tails = [log_tail(run_dir, lines=50, name=name) for name in (CONSOLE_LOG, MMF_LOG)]
    reports = [match for tail in tails for match in _TRAINING_PROGRESS.finditer(tail)]
    if not reports:
        return "starting"
    latest = max(reports, key=lambda match: int(match["update"]))
    return f"update {latest['update']}/{latest['total']} loss {latest['loss']}"


def _try_lock(fd, path):
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    except OSError as error:
        raise OSError(f"cannot lock {path} ({error}); put the study's output_dir on a filesystem with file locks")


def lease_held(run_dir):
    """True while some process of an attempt of this run is alive."""
    path = Path(run_dir) / LEASE
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDWR)
    try:
        return not _try_lock(fd, path)
    finally:
        os.close(fd)  # also releases our probe lock


def resume_overrides(run_dir):
    """Resume an interrupted run from its last checkpoint (rc10 then skips resume_file)."""
    return ["checkpoint.resume=True"] if (Path(run_dir) / CHECKPOINT).exists() else []


def child_environment(extra=None):
    """The environment of a run: this one, with this copy of the plugin first on the path."""
    package_root = str(Path(__file__).resolve().parents[2])
    paths = [package_root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return dict(os.environ, **(extra or {}), PYTHONPATH=os.pathsep.join(dict.fromkeys(paths)))


def clear_outcome(run_dir):
    """Forget the previous attempt's exit status and failure before a new attempt."""
    for stale in (EXIT_CODE, FAILED_JSON):
        (Path(run_dir) / stale).unlink(missing_ok=True)


class RunBusy(RuntimeError):
    """Another process holds the run's lease."""


def spawn_with_exit_status_shell(command, *, log, cwd, env, lease_fd, exit_code_path):
    """A fresh process for ``command`` under a shell that records its exit status when it ends."""
    return subprocess.Popen(
        ["/bin/sh", "-c", _RECORD_EXIT_STATUS, str(exit_code_path), *command],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=cwd,
        env=env,
        start_new_session=True,
        pass_fds=(lease_fd,),
    )


def start_attempt(run_dir, extra_env=None, spawn=spawn_with_exit_status_shell):
    """Start the run described by ``run.json``; return its process handle (``spawn``'s).

    The process's session is new, so it survives the runner; the lease is held by the
    started processes (``spawn`` hands them ``lease_fd``), not by the caller, and the
    process writes its exit status to ``exit_code_path`` when it ends.
    """
    run_dir = Path(run_dir)
    record = read_json(run_dir / RUN_JSON)
    command = record["command"] + resume_overrides(run_dir)
    fd = os.open(run_dir / LEASE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if not _try_lock(fd, run_dir / LEASE):
            raise RunBusy(f"{run_dir} is already running (its lease {run_dir / LEASE} is held)")
        clear_outcome(run_dir)
        previous = read_json(run_dir / ATTEMPT) or {}
        attempt = {"number": previous.get("number", 0) + 1, "started_at": time.time(), "host": socket.gethostname(),
                   "command": command}
        write_json(run_dir / ATTEMPT, attempt)
        with open(run_dir / CONSOLE_LOG, "ab") as log:
            started = time.strftime("%Y-%m-%d %H:%M:%S")
            log.write(f"{ATTEMPT_HEADER} attempt {attempt['number']} {started}: {shlex.join(command)}\n".encode())
            log.flush()
            return spawn(command, log=log, cwd=record["cwd"], env=child_environment(extra_env), lease_fd=fd,
                         exit_code_path=run_dir / EXIT_CODE)
    finally:
        os.close(fd)


def attempt_ended(run_dir):
    """An attempt recorded its exit status but no runner recorded its outcome yet."""
    run_dir = Path(run_dir)
    return (run_dir / EXIT_CODE).exists() and not (run_dir / DONE_JSON).exists() and not (run_dir / FAILED_JSON).exists()


def _read_exit_code(run_dir):
    try:
        return int((Path(run_dir) / EXIT_CODE).read_text().strip())
    except FileNotFoundError:
        return None


def finish_attempt(run_dir):
    """Record the outcome of an ended attempt: ``done.json`` or ``failed.json``. Return which."""
    run_dir = Path(run_dir)
    record = read_json(run_dir / RUN_JSON)
    attempt = read_json(run_dir / ATTEMPT) or {}
    code = _read_exit_code(run_dir)
    try:
        if code is None:
            raise OutcomeError("the run was killed before it could record an exit status")
        if code != 0:
            raise OutcomeError(f"the run exited with status {code}")
        metrics = read_metrics(run_dir)
        if record.get("checkpoint") and not Path(record["checkpoint"]).exists():
            raise OutcomeError(f"the run wrote no {record['checkpoint']}, which its finetuning runs start from")
    except OutcomeError as error:
        write_json(run_dir / FAILED_JSON, {"name": record["name"], "reason": str(error), "exit_code": code,
                                      "log_tail": log_tail(run_dir), "failed_at": time.time()})
        return FAILED
    finished = time.time()
    write_json(run_dir / DONE_JSON, {
        "name": record["name"], "digest": record["digest"], "kind": record["kind"], "axes": record["axes"],
        "metrics": metrics, "command": attempt.get("command"), "started_at": attempt.get("started_at"),
        "finished_at": finished, "duration_s": finished - attempt.get("started_at", finished),
    })
    return DONE


def run_attempt(run_dir):
    """Start an attempt, wait for it and record its outcome (used inside SLURM jobs)."""
    process = start_attempt(run_dir)
    process.wait()
    return finish_attempt(run_dir)


def stored_status(run, statuses):
    """Where a run stands on disk: done, running, failed, blocked (its upstream failed) or pending."""
    if read_done(run.run_dir):
        return DONE
    if lease_held(run.run_dir):
        return RUNNING
    if read_failed(run.run_dir):
        return FAILED
    if run.depends_on is not None and statuses.get(run.depends_on.name) in (FAILED, BLOCKED):
        return BLOCKED
    return PENDING
