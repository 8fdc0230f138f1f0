#!/usr/bin/env python
"""A study's per-run start-up and wall time: warm runner (forked runs) vs one fresh process per run.

Both passes run the same short demo finetuning runs (VisualBERT, no pretraining,
easy-vqa, one run per seed) through ``StudyRunner`` in this invocation, each into its
own output dir. A run's start-up is its wall time (attempt start to exit status)
minus the time MMF itself reports for the run ("Finished run in ...": training,
evaluation, checkpoints), i.e. interpreter, imports, config, data and model build,
and teardown.

Usage: python benchmarks/study_startup.py [--runs 6] [--jobs 2] [--updates 20] [--data-dir DIR]
(without --data-dir a small demo data dir is prepared in a temporary folder first).
"""
import argparse
import os
import re
import statistics
import sys
import tempfile
import time

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
from mmf_domainstudy.study.run.local import LocalExecutor  # noqa: E402
from mmf_domainstudy.study.run.plan import expand_study, select_runs  # noqa: E402
from mmf_domainstudy.study.run.rundir import ATTEMPT, DONE, EXIT_CODE, MMF_LOG, read_json  # noqa: E402
from mmf_domainstudy.study.run.runner import StudyRunner  # noqa: E402
from mmf_domainstudy.study.run.spec import load_spec  # noqa: E402
from mmf_domainstudy.study.run.warm import WarmLocalExecutor  # noqa: E402

DEMO_STUDY = os.path.join(REPO, "projects", "domain_study", "studies", "demo.yaml")
_MMF_RUN_TIME = re.compile(r"Finished run in (?P<time>.+)$", re.M)
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def mmf_seconds(text):
    """MMF's "Finished run in 1m 02s 766ms" as seconds."""
    return sum(float(number) * _UNITS[unit] for number, unit in re.findall(r"(\d+)(ms|s|m|h)\b", text))


def write_spec(folder, data_dir, runs, updates):
    with open(DEMO_STUDY) as handle:
        study = yaml.safe_load(handle)
    study.update(name=os.path.basename(folder), output_dir=os.path.join(folder, "out"), data_dir=data_dir,
                 models=["visual_bert"], analyses=[])
    short = [f"training.max_updates={updates}", f"scheduler.params.num_training_steps={updates}",
             f"training.checkpoint_interval={updates}", f"training.evaluation_interval={updates}"]
    for task in study["finetune"]["tasks"].values():  # after the task's own recipe, so these win
        task["overrides"] = task.get("overrides", []) + short
    study["finetune"]["seeds"] = list(range(1, runs + 1))
    study["finetune"].pop("extra", None)
    os.makedirs(folder)
    path = os.path.join(folder, "study.yaml")
    with open(path, "w") as handle:
        yaml.safe_dump(study, handle, sort_keys=False)
    return path


def run_pass(folder, data_dir, runs, updates, jobs, warm):
    spec = load_spec(write_spec(folder, data_dir, runs, updates))
    selected = select_runs(expand_study(spec), "ft-visual_bert-none-easy_vqa-finetuned-*")
    executor = WarmLocalExecutor(jobs, log_path=spec.output_dir / "warm_process.log") if warm else LocalExecutor(jobs)
    started = time.perf_counter()
    try:
        status = StudyRunner(spec, selected, executor, jobs, poll_interval=0.2).run()
    finally:
        executor.close()
    wall = time.perf_counter() - started
    failed = [name for name, s in status.items() if s != DONE]
    if failed:
        raise SystemExit(f"runs failed: {failed}; see their console.log under {spec.output_dir}")
    startups = []
    for run in selected:
        run_wall = os.stat(run.run_dir / EXIT_CODE).st_mtime - read_json(run.run_dir / ATTEMPT)["started_at"]
        startups.append(run_wall - mmf_seconds(_MMF_RUN_TIME.search((run.run_dir / MMF_LOG).read_text())["time"]))
    return wall, startups


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=6, help="finetuning runs per pass (one per seed)")
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time")
    parser.add_argument("--updates", type=int, default=20, help="training updates per run")
    parser.add_argument("--data-dir", help="a prepared demo data dir (tools/prepare_demo_data.py)")
    args = parser.parse_args()
    os.chdir(REPO)
    with tempfile.TemporaryDirectory(prefix="study_startup_") as scratch:
        data_dir = args.data_dir
        if data_dir is None:
            from mmf_domainstudy.demo.prepare import prepare_demo_data

            data_dir = os.path.join(scratch, "demo_data")
            prepare_demo_data(data_dir, max_images=60, image_size=32, texture_images=10)
        os.environ["MMF_DATA_DIR"] = os.path.abspath(data_dir)
        results = {}
        for name, warm in (("cold", False), ("warm", True)):
            results[name] = run_pass(os.path.join(scratch, name), data_dir, args.runs, args.updates, args.jobs, warm)
    print(f"{args.runs} runs of {args.updates} updates, {args.jobs} at a time, {os.cpu_count()} cores")
    print(f"{'runner':<8}{'study wall s':>14}{'start-up s/run (mean)':>24}{'(min-max)':>16}")
    for name, (wall, startups) in results.items():
        spread = f"{min(startups):.2f}-{max(startups):.2f}"
        print(f"{name:<8}{wall:>14.1f}{statistics.mean(startups):>24.2f}{spread:>16}")
    (cold_wall, cold_startups), (warm_wall, warm_startups) = results["cold"], results["warm"]
    print(f"warm / cold: study wall {warm_wall / cold_wall:.2f}x, "
          f"start-up per run {statistics.mean(warm_startups) / statistics.mean(cold_startups):.2f}x")


if __name__ == "__main__":
    main()
