"""Start each local run by forking one process that imported torch, transformers and MMF once.

A fresh ``python -m mmf_domainstudy.run`` spends ~6 s importing before MMF reads its
config; a demo of ~150 short runs pays that ~150 times on two cores. Here a *warm*
process (started once per runner) does the imports, then forks one child per run.
The child is what a cold start would have been: it gets a new session, the run's
cwd, environment, lease and ``console.log`` as stdout and stderr, and executes the
spec's command module as ``__main__`` with the run's arguments (``mmf_run``'s entry,
same arguments), then records its exit status. Only the imported modules are
shared; each run builds its config, data and model itself.

Used when the command is ``<this python> -m MODULE ...`` (the default command); any
other command, or a warm process that fails to start, falls back to cold starts.
Code edited while a study runs reaches runs started after the next runner start.
"""
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from mmf_domainstudy.study.run.local import LocalExecutor, _signal_group
from mmf_domainstudy.study.run.rundir import RUN_JSON, child_environment, lease_held, read_json, start_attempt
from mmf_domainstudy.utils.atomic import atomic_write_text

logger = logging.getLogger(__name__)

READY_TIMEOUT_SECONDS = 300
_MESSAGE_BYTES = 1 << 20
# What every run imports first; importing it here is what makes a fork warm.
PRELOAD = ("torch", "transformers", "mmf_cli.run", "mmf_domainstudy.trainers")


def forkable_module(command):
    """The module of a ``[python, -m, MODULE, ...]`` command run by this interpreter, else None."""
    if len(command) < 3 or command[1] != "-m":
        return None
    same_python = os.path.realpath(command[0]) == os.path.realpath(sys.executable)
    return command[2] if same_python else None


class ForkedRun:
    """A run forked by the warm process: not our child, so it is alive while it holds the run's lease
    (as a cold run's processes do); its pid is its session id, for signalling it."""

    def __init__(self, pid, run_dir):
        self.pid, self.run_dir = pid, run_dir

    def poll(self):
        return None if lease_held(self.run_dir) else 0  # ended: its exit status is in the run's exit_code

    def wait(self, timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(f"run {self.pid}", timeout)
            time.sleep(0.1)
        return 0


class WarmProcessGone(OSError):
    """The warm process exited or could not fork a run."""


class WarmProcess:
    """The runner's end of the warm process: one request (a run) and one reply (its pid) at a time."""

    def __init__(self, extra_env, log_path):
        self.socket, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", __name__, str(theirs.fileno())],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=child_environment(extra_env), pass_fds=(theirs.fileno(),), start_new_session=True,
            )
        theirs.close()
        self.log_path = log_path
        self.ready = False
        self.gone = False

    def wait_ready(self):
        """Block until the imports are done; False (with the reason logged) if the warm process died."""
        if self.gone:
            return False
        if not self.ready:
            self.socket.settimeout(READY_TIMEOUT_SECONDS)
            try:
                self.ready = json.loads(self.socket.recv(_MESSAGE_BYTES) or b"{}").get("ready", False)
            except (OSError, ValueError) as error:
                logger.warning("warm process did not start (%s)", error)
            finally:
                self.socket.settimeout(None)
            if not self.ready:
                self.gone = True
                logger.warning("warm process failed (see %s); starting runs cold", self.log_path)
        return self.ready

    def fork(self, module, command, *, log, cwd, env, lease_fd, exit_code_path):
        request = {"module": module, "argv": command[3:], "cwd": cwd, "env": env, "exit_code": str(exit_code_path)}
        socket.send_fds(self.socket, [json.dumps(request).encode()], [lease_fd, log.fileno()])
        reply = json.loads(self.socket.recv(_MESSAGE_BYTES) or b"{}")
        if "pid" not in reply:
            raise WarmProcessGone(f"it could not fork the run: {reply.get('error', 'it exited')}")
        return ForkedRun(reply["pid"], Path(exit_code_path).parent)

    def close(self):
        self.socket.close()  # the warm process exits at end of input; runs it started go on
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            _signal_group(self.process, signal.SIGKILL)
            self.process.wait()


class WarmLocalExecutor(LocalExecutor):
    """LocalExecutor whose runs are forked from a warm process (see the module docstring)."""

    name = "local (warm)"

    def __init__(self, jobs, log_path):
        super().__init__(jobs)
        self.warm = WarmProcess(self.extra_env, log_path)

    def launch(self, run):
        module = forkable_module(read_json(run.run_dir / RUN_JSON)["command"])
        if module is None or not self.warm.wait_ready():
            super().launch(run)
            return

        def fork(command, **where):
            return self.warm.fork(module, command, **where)

        try:
            self.processes[run.name] = start_attempt(run.run_dir, self.extra_env, spawn=fork)
        except OSError as error:  # the warm process died mid-study: this run and the rest start cold
            self.warm.gone = True
            logger.warning("warm process gone (%s; see %s); starting runs cold", error, self.warm.log_path)
            super().launch(run)

    def close(self):
        self.warm.close()


# The warm process itself: ``python -m mmf_domainstudy.study.run.warm SOCKET_FD``.


def serve(sock):
    import importlib

    import mmf_domainstudy

    mmf_domainstudy.activate()
    for module in PRELOAD:
        importlib.import_module(module)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the runs; their status is in exit_code
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sock.send(json.dumps({"ready": True}).encode())
    while True:
        message, fds, _, _ = socket.recv_fds(sock, _MESSAGE_BYTES, 2)
        if not message:
            return
        try:
            request = json.loads(message)
            pid = os.fork()
        except Exception as error:  # a bad request or no memory to fork: the runner reports it
            sock.send(json.dumps({"error": repr(error)}).encode())
            continue
        if pid == 0:  # the child never returns into this loop, whatever happens
            code = 1
            try:
                sock.close()
                code = run_forked(request, *fds)
            finally:
                os._exit(code)
        for fd in fds:
            os.close(fd)
        sock.send(json.dumps({"pid": pid}).encode())


def run_forked(request, lease_fd, log_fd):
    """In the forked child: become the run (session, fds, cwd, env), run its module, record its status."""
    import runpy
    import traceback

    import torch

    os.setsid()
    for signum in (signal.SIGCHLD, signal.SIGTERM):
        signal.signal(signum, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(null)
    os.close(log_fd)  # the lease fd stays open: the lock lives as long as the run
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    if os.environ.get("OMP_NUM_THREADS", "").isdigit():
        torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    sys.argv = [request["module"], *request["argv"]]
    sys.modules.pop(request["module"], None)  # run as ``python -m`` runs it: executed afresh as __main__
    code = 0
    try:
        runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
    except SystemExit as exited:
        code = _exit_status(exited.code)
    except BaseException:
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    atomic_write_text(request["exit_code"], f"{code}\n")
    return code


def _exit_status(code):
    if code is None or isinstance(code, int):
        return code or 0
    print(code, file=sys.stderr)
    return 1


if __name__ == "__main__":
    serve(socket.socket(fileno=int(sys.argv[1])))
