"""Run a study: start runs as soon as the runs they start from are done, K at a time.

All state lives in the run folders (see rundir.py), so a runner killed at any
moment and started again re-adopts runs still going, records runs that ended
meanwhile, reuses finished ones and resumes interrupted ones from their last
checkpoint. A failed run is reported with its log's tail; the runs that start
from it are blocked and everything else goes on.
"""
import contextlib
import fcntl
import logging
import os
import shlex
import time

from tqdm import tqdm

from mmf_domainstudy.study.run.plan import (STUDY_CONFIG, final_checkpoint_path, launch_command, mmf_arguments,
                                        study_config_text)
from mmf_domainstudy.study.run.rundir import (ATTEMPT, BLOCKED, CONSOLE_LOG, DONE, FAILED, PENDING, RUN_JSON, RUNNING,
                                              RunBusy, attempt_ended, clear_outcome, finish_attempt,
                                              read_done, read_failed, read_json, resume_overrides, run_progress,
                                              split_metric, stored_status, write_json)
from mmf_domainstudy.utils.atomic import atomic_write_text
from mmf_domainstudy.utils.errors import BadInput

logger = logging.getLogger(__name__)


class StudyBusy(BadInput, RuntimeError):
    """Another runner is working on the same study."""


@contextlib.contextmanager
def runner_lock(output_dir):
    """One runner per study at a time: two would start the same runs twice."""
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / "runner.lock"
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StudyBusy(f"another runner is working on {output_dir} (it holds {path}); wait for it or stop it")
        yield


def run_command(run, spec, gpus_per_run):
    """The command a run is launched with (resume flags are added when an attempt starts)."""
    return launch_command(spec.command, gpus_per_run) + mmf_arguments(run, spec.data_dir)


def prepare_run(run, spec, gpus_per_run):
    """Write what an attempt reads (the run's composed config and ``run.json``); forget the last outcome."""
    run.run_dir.mkdir(parents=True, exist_ok=True)
    clear_outcome(run.run_dir)  # a queued job must not be read as failed by its previous attempt
    atomic_write_text(run.run_dir / STUDY_CONFIG, study_config_text(run))
    write_json(run.run_dir / RUN_JSON, {
        "name": run.name, "digest": run.digest, "kind": run.kind, "axes": run.axes, "cwd": os.getcwd(),
        "command": run_command(run, spec, gpus_per_run),
        "checkpoint": str(final_checkpoint_path(run)) if run.kind == "pretrain" else None,
    })


def describe_plan(spec, runs, gpus_per_run):
    """The plan as text: every run, its status and its command."""
    statuses = {}
    lines = []
    for run in runs:
        status = statuses[run.name] = stored_status(run, statuses)
        resume = resume_overrides(run.run_dir) if status != DONE else []
        note = " (resumes from its checkpoint)" if resume else ""
        lines.append(f"[{status}] {run.name}{note}\n    {shlex.join(run_command(run, spec, gpus_per_run) + resume)}")
    counts = {s: list(statuses.values()).count(s) for s in (DONE, RUNNING, FAILED, BLOCKED, PENDING)}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    header = f"Study {spec.name}: {len(runs)} runs ({summary}) in {spec.output_dir}"
    return "\n".join([header] + lines)


def format_duration(seconds):
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class StudyRunner:
    """One pass over a study's runs; ``run()`` returns each run's final status."""

    def __init__(self, spec, runs, executor, jobs=None, poll_interval=2.0):
        self.spec, self.runs, self.executor = spec, runs, executor
        self.jobs = jobs or len(runs)
        self.poll_interval = poll_interval
        self.status = {}

    def run(self):
        self._take_stock()
        done = sum(s == DONE for s in self.status.values())
        self.bar = tqdm(total=len(self.runs), initial=done, unit="run", desc=self.spec.name, dynamic_ncols=True)
        try:
            while self._step():
                time.sleep(self.poll_interval)
        except KeyboardInterrupt as interrupt:  # Ctrl-C, or a signal the CLI names (SIGTERM)
            cause = f" by {interrupt}" if str(interrupt) else ""
            logger.warning("interrupted%s; run the study again to resume it", cause)
            self.executor.shutdown()
            raise
        finally:
            self.bar.close()
        self._summarize()
        return dict(self.status)

    def _take_stock(self):
        """Sort runs into done, still running (adopted), and pending; record attempts that ended unwatched."""
        for run in self.runs:
            if read_done(run.run_dir):
                self.status[run.name] = DONE
            elif self.executor.adopt(run):
                self.status[run.name] = RUNNING
                logger.info("%s is still running from an earlier runner; watching it", run.name)
            elif attempt_ended(run.run_dir):
                self.status[run.name] = self._record_unwatched(run)
            else:
                self.status[run.name] = PENDING
        logger.info("%d runs: %d done, %d running, %d to run", len(self.runs),
                    *(sum(s == k for s in self.status.values()) for k in (DONE, RUNNING, PENDING)))

    def _record_unwatched(self, run):
        """An attempt ended while no runner watched: keep it if it finished, else retry it."""
        if finish_attempt(run.run_dir) == DONE:
            logger.info("%s finished while no runner watched; recorded", run.name)
            return DONE
        logger.warning("%s failed while no runner watched (%s); retrying", run.name,
                       read_failed(run.run_dir)["reason"])
        return PENDING

    def _step(self):
        """Collect ended runs, block dependents of failures, start ready runs; False when nothing is left."""
        for run in self._with_status(RUNNING):
            if not self.executor.is_running(run):
                self._conclude(run)
        self._block_dependents()
        free_slots = self.jobs - len(self._with_status(RUNNING))
        for run in self._with_status(PENDING):
            if free_slots <= 0:
                break
            if run.depends_on is None or self.status[run.depends_on.name] == DONE:
                self._launch(run)
                free_slots -= 1
        running = self._with_status(RUNNING)
        self.bar.set_postfix_str(self._status_line(running), refresh=True)
        return bool(running)

    def _with_status(self, status):
        return [run for run in self.runs if self.status[run.name] == status]

    def _launch(self, run):
        prepare_run(run, self.spec, self.executor.gpus_per_run)
        resuming = bool(resume_overrides(run.run_dir))
        self.status[run.name] = RUNNING
        try:
            self.executor.launch(run)
        except RunBusy as busy:  # started by someone else since we looked: watch it instead
            logger.warning("%s; watching it", busy)
            return
        logger.info("started %s%s", run.name, " (resuming from its checkpoint)" if resuming else "")

    def _conclude(self, run):
        outcome = DONE if read_done(run.run_dir) else FAILED if read_failed(run.run_dir) else None
        if outcome is None:  # ended without a recorded outcome (local runs; killed jobs)
            outcome = finish_attempt(run.run_dir)
        self.status[run.name] = outcome
        elapsed = self._attempt_duration(run)
        if outcome == DONE:
            self.bar.update(1)
            logger.info("done %s after %s: %s", run.name, elapsed, self._headline(run))
        else:
            failure = read_failed(run.run_dir)
            tail = "\n".join("    " + line for line in failure["log_tail"].splitlines())
            logger.error("FAILED %s after %s: %s\n  last lines of %s:\n%s", run.name, elapsed, failure["reason"],
                         run.run_dir / CONSOLE_LOG, tail)

    def _attempt_duration(self, run):
        """How long the latest attempt ran (it may have started under an earlier runner)."""
        attempt = read_json(run.run_dir / ATTEMPT) or {}
        return format_duration(time.time() - attempt["started_at"]) if "started_at" in attempt else "an unknown time"

    def _headline(self, run):
        metrics = read_done(run.run_dir)["metrics"]
        split = self.spec.report.split
        if run.kind == "finetune":
            key = self.spec.finetune.tasks[run.axes["task"]].metric
            value = split_metric(metrics, split, key)
            return f"{key}={value:.4f}" if value is not None else f"{key} missing from metrics.json"
        values = sorted(metrics.get(split, {}).items())[:3]
        return ", ".join(f"{k}={v:.4f}" for k, v in values) or f"no {split} metrics"

    def _block_dependents(self):
        for run in self._with_status(PENDING):
            upstream = run.depends_on
            if upstream is not None and self.status.get(upstream.name) in (FAILED, BLOCKED):
                self.status[run.name] = BLOCKED
                logger.warning("blocked %s: %s did not finish", run.name, upstream.name)

    def _status_line(self, running):
        shown = [f"{run.name}: {run_progress(run.run_dir)}" for run in running[:2]]
        more = f" (+{len(running) - 2} more)" if len(running) > 2 else ""
        return " | ".join(shown) + more

    def _summarize(self):
        counts = {s: sum(v == s for v in self.status.values()) for s in (DONE, FAILED, BLOCKED)}
        logger.info("%d/%d runs done, %d failed, %d blocked", counts[DONE], len(self.runs), counts[FAILED],
                    counts[BLOCKED])
        for run in self._with_status(FAILED):
            logger.error("failed: %s (%s); see %s", run.name, read_failed(run.run_dir)["reason"],
                         run.run_dir / CONSOLE_LOG)
