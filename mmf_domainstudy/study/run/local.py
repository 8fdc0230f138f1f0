"""Run a study's runs on this machine, as subprocesses that outlive the runner."""
import contextlib
import logging
import os
import signal
import subprocess
import time

from mmf_domainstudy.study.run.rundir import lease_held, start_attempt

logger = logging.getLogger(__name__)


class LocalExecutor:
    """Starts each run as its own process group; a restarted runner re-adopts the live ones."""

    name = "local"
    gpus_per_run = 1  # one process; MMF itself spawns per GPU if asked to

    def __init__(self, jobs=1):
        self.processes = {}
        self.extra_env = cpu_thread_environment(jobs)

    def launch(self, run):
        self.processes[run.name] = start_attempt(run.run_dir, self.extra_env)

    def is_running(self, run):
        process = self.processes.get(run.name)
        if process is not None and process.poll() is None:
            return True
        return lease_held(run.run_dir)

    def adopt(self, run):
        """Whether a run started by an earlier runner is still going (then it is watched, not restarted)."""
        return lease_held(run.run_dir)

    def close(self):
        """Nothing to release: the runs this executor started outlive it."""

    def shutdown(self, grace_seconds=30):
        """Stop the runs this runner started (SIGTERM, then SIGKILL); they resume on the next start."""
        running = [p for p in self.processes.values() if p.poll() is None]
        logger.warning("stopping %d run(s) this runner started; they resume from their checkpoints", len(running))
        for process in running:
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + grace_seconds
        for process in running:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)
                process.wait()


THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


def cpu_thread_environment(jobs):
    """Split the cores between concurrent runs: torch's default (all cores each) oversubscribes
    them, and K runs then go several times slower than one. A user's own setting wins."""
    if any(name in os.environ for name in THREAD_VARIABLES):
        return {}
    threads = str(max(1, (os.cpu_count() or 1) // max(1, jobs)))
    return {name: threads for name in THREAD_VARIABLES}


def _signal_group(process, signum):
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)
