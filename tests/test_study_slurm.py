"""SLURM through submitit: the generated job file and run command, and submission with submitit's local executor."""
import os

import pytest
import yaml

from mmf_domainstudy.study.run.plan import expand_study, select_runs
from mmf_domainstudy.study.run.rundir import read_done, read_json
from mmf_domainstudy.study.run.runner import DONE, StudyRunner, prepare_run
from mmf_domainstudy.study.run.slurm import SubmititExecutor
from mmf_domainstudy.study.run.spec import load_spec
from tests.test_study_support import REPO, executions, study_yaml, write_configs

SLURM_SECTION = {
    "gpus_per_run": 8, "cpus_per_gpu": 10, "timeout_min": 4320, "mem_gb": 480, "partition": "learnfair",
    "account": "vl", "constraint": "volta32gb", "setup": ["module load cuda/12.1"], "additional": {"exclude": "node1"},
}


def write_spec(root, slurm):
    write_configs(root)
    raw = yaml.safe_load(study_yaml(root, modes=False, seeds=(1,)))
    raw["slurm"] = slurm
    path = root / "study.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_spec(path)


def test_job_file_and_run_command(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 0\n")  # what submitit looks for to accept a SLURM cluster
    (bin_dir / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    spec = write_spec(tmp_path, SLURM_SECTION)
    executor = SubmititExecutor(tmp_path / "slurm", spec.slurm, "study-small", cluster="slurm")
    sbatch = executor.executor._executor._make_submission_file_text("RUN_ONE_ATTEMPT", "uid")
    for line in ("#SBATCH --job-name=study-small", "#SBATCH --nodes=1", "#SBATCH --ntasks-per-node=1",
                 "#SBATCH --gpus-per-node=8", "#SBATCH --cpus-per-task=80", "#SBATCH --time=4320",
                 "#SBATCH --mem=480GB", "#SBATCH --partition=learnfair", "#SBATCH --account=vl",
                 "#SBATCH --constraint=volta32gb", "#SBATCH --exclude=node1", "module load cuda/12.1",
                 f"export PYTHONPATH={REPO}"):
        assert line in sbatch.splitlines() or any(l.startswith(line) for l in sbatch.splitlines()), line
    run = expand_study(spec)[0]
    prepare_run(run, spec, executor.gpus_per_run)
    command = read_json(run.run_dir / "run.json")["command"]
    assert command[:5] == [spec.command[0], "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=8"]
    assert command[5:6] == [spec.command[1]]  # the script (or -m module) torchrun starts on every GPU
    assert f"env.save_dir={run.run_dir}" in command


def test_runs_go_through_submitit_jobs(tmp_path, monkeypatch):
    # the job imports this copy of the plugin
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("FAKE_EXECUTIONS", str(tmp_path / "executions.jsonl"))
    spec = write_spec(tmp_path, {"gpus_per_run": 1, "timeout_min": 10})
    runs = select_runs(expand_study(spec), "ft-m1-a-*")
    executor = SubmititExecutor(spec.output_dir / "slurm", spec.slurm, "study-small", cluster="local")
    status = StudyRunner(spec, runs, executor, poll_interval=0.2).run()
    assert status == {"pt-m1-a-p1.0-s1": DONE, "ft-m1-a-p1.0-s1-t1-finetuned-d1.0-s1": DONE}
    finetune = runs[1]
    assert read_done(finetune.run_dir)["metrics"]["val"] == {"val/ds_t1/accuracy": pytest.approx(0.5 + 0.01 + 0.1)}
    assert [e["run"] for e in executions(tmp_path / "executions.jsonl")] == [r.run_dir.name for r in runs]
    job = read_json(finetune.run_dir / "job.json")
    assert job["cluster"] == "local"
    assert executor.jobs[finetune.name].result() == "done"  # the job itself recorded the outcome
    assert list((spec.output_dir / "slurm").glob(f"{job['job_id']}_*"))  # submitit's job files and logs
