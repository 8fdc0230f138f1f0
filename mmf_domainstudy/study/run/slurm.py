"""Run a study's runs as SLURM jobs through submitit: one job per run, torchrun inside.

The job runs one attempt (``rundir.run_attempt``) and records its outcome in the
run folder itself, so results survive the runner. On timeout or preemption
submitit requeues the job, and the run resumes from its last checkpoint.
"""
import logging
import shlex

import submitit

from mmf_domainstudy.study.run.rundir import child_environment, lease_held, read_json, run_attempt, write_json

logger = logging.getLogger(__name__)

JOB = "job.json"
ACTIVE_STATES = {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "REQUEUED", "RESIZING", "SUSPENDED"}


class RunJob(submitit.helpers.Checkpointable):
    """A SLURM job's function: one attempt of one run; requeued as is when time runs out."""

    def __call__(self, run_dir):
        return run_attempt(run_dir)


def executor_parameters(slurm, job_name):
    """submitit parameters for one run: a node's worth of GPUs, one task (torchrun spawns the rest)."""
    parameters = dict(
        name=job_name,
        nodes=1,
        tasks_per_node=1,
        gpus_per_node=slurm.gpus_per_run,
        cpus_per_task=slurm.cpus_per_gpu * slurm.gpus_per_run,
        timeout_min=slurm.timeout_min,
        # The job imports this copy of the plugin, like the runner does.
        slurm_setup=[f"export PYTHONPATH={shlex.quote(child_environment()['PYTHONPATH'])}", *slurm.setup],
        slurm_additional_parameters=dict(slurm.additional),
    )
    if slurm.mem_gb is not None:
        parameters["mem_gb"] = slurm.mem_gb
    for key in ("partition", "account", "qos", "constraint"):
        if getattr(slurm, key) is not None:
            parameters[f"slurm_{key}"] = getattr(slurm, key)
    return parameters


class SubmititExecutor:
    """Submits each run as a job; a restarted runner re-adopts jobs still queued or running."""

    name = "slurm"

    def __init__(self, folder, slurm, job_name, cluster="slurm"):
        self.folder = str(folder)
        self.executor = submitit.AutoExecutor(folder=self.folder, cluster=cluster)
        self.executor.update_parameters(**executor_parameters(slurm, job_name))
        self.gpus_per_run = slurm.gpus_per_run
        self.jobs = {}

    def launch(self, run):
        job = self.executor.submit(RunJob(), str(run.run_dir))
        write_json(run.run_dir / JOB, {"job_id": job.job_id, "cluster": self.executor.cluster, "folder": self.folder})
        self.jobs[run.name] = job

    def is_running(self, run):
        job = self.jobs.get(run.name)
        return (job is not None and not job.done()) or lease_held(run.run_dir)

    def adopt(self, run):
        """Whether the run's job from an earlier runner is still queued or running."""
        if lease_held(run.run_dir):
            return True
        record = read_json(run.run_dir / JOB)
        if record is None or record["cluster"] != "slurm":  # submitit's local jobs cannot be re-attached
            return False
        job = submitit.SlurmJob(folder=record["folder"], job_id=record["job_id"])
        if job.state not in ACTIVE_STATES:
            return False
        self.jobs[run.name] = job
        return True

    def close(self):
        """Nothing to release: SLURM holds the jobs."""

    def shutdown(self):
        """Leave the jobs to SLURM: they finish on their own and a restarted runner collects them."""
        queued = sum(not job.done() for job in self.jobs.values())
        logger.warning("%d SLURM jobs keep going; start the runner again to collect their results", queued)
