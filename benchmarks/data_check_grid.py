#!/usr/bin/env python
"""The data check of a whole study grid before any run starts: cached versus one build per run.

``check_runs`` builds one MMF config per distinct config file, dataset, model and
file-deciding override (seeds, fractions, save dirs and checkpoints do not decide
files). The baseline builds each run's config on its own, as checking the runs one
by one would; it is timed on ``--baseline-runs`` runs spread over the grid and
scaled to the grid's size. Files may be missing (default data dir): the time to
find them is what is measured.

Usage: PYTHONPATH=. python benchmarks/data_check_grid.py [--spec projects/domain_study/studies/paper.yaml]
"""
import argparse
import time

import mmf_domainstudy

mmf_domainstudy.activate()
from mmf_domainstudy.datasets.data_check import MissingDataFiles
from mmf_domainstudy.datasets.data_check_runs import RunCommand, check_runs, data_files_of_runs
from mmf_domainstudy.study.run.plan import expand_study, mmf_arguments
from mmf_domainstudy.study.run.spec import load_spec


def run_commands(spec_path):
    spec = load_spec(spec_path)
    return [RunCommand(run.name, mmf_arguments(run, spec.data_dir), (run.config, *run.overlays))
            for run in expand_study(spec)]


def timed_check(commands):
    started = time.perf_counter()
    try:
        check_runs(commands)
        outcome = "every file present"
    except MissingDataFiles as missing:
        outcome = f"{len({f.path for f in missing.files})} missing files found"
    return time.perf_counter() - started, outcome


def timed_one_by_one(commands):
    started = time.perf_counter()
    for command in commands:
        data_files_of_runs([command])
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spec", default="projects/domain_study/studies/paper.yaml")
    parser.add_argument("--baseline-runs", type=int, default=40)
    args = parser.parse_args()
    commands = run_commands(args.spec)
    sample = commands[:: max(1, len(commands) // args.baseline_runs)][: args.baseline_runs]
    one_by_one = timed_one_by_one(sample) * len(commands) / len(sample)
    cached, outcome = timed_check(commands)
    print(f"{len(commands)} runs of {args.spec}: {outcome}")
    print(f"check_runs (cached):       {cached:7.2f} s")
    print(f"one config build per run: {one_by_one:7.2f} s (timed on {len(sample)} runs, scaled)")
    print(f"speed-up: {one_by_one / cached:.1f}x")


if __name__ == "__main__":
    main()
