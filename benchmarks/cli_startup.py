#!/usr/bin/env python
"""How long ``--help`` of every installed console script takes, against a bare interpreter.

Each script is run as a user runs it (the installed file, in a subprocess), ``--repeats``
times interleaved with ``python -c pass``; the table shows the median seconds of each
and their ratio. ``mmf_domainstudy_run`` takes ``mmf_run``'s arguments, which MMF
parses, so its ``--help`` imports MMF: it is shown for comparison.

Usage: python benchmarks/cli_startup.py [--repeats 5]
"""
import argparse
import importlib.metadata
import os
import statistics
import subprocess
import sys
import time


def seconds(command):
    started = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    entries = importlib.metadata.distribution("mmf-domainstudy").entry_points
    scripts = sorted(entry.name for entry in entries if entry.group == "console_scripts")
    bin_dir = os.path.dirname(sys.executable)
    times = {name: [] for name in ["python -c pass", *scripts]}
    for _ in range(args.repeats):
        times["python -c pass"].append(seconds([sys.executable, "-c", "pass"]))
        for name in scripts:
            times[name].append(seconds([os.path.join(bin_dir, name), "--help"]))
    baseline = statistics.median(times["python -c pass"])
    print(f"{'command':<36}{'median s':>10}{'x bare python':>15}")
    for name, values in times.items():
        shown = name if name == "python -c pass" else f"{name} --help"
        print(f"{shown:<36}{statistics.median(values):>10.2f}{statistics.median(values) / baseline:>15.1f}")


if __name__ == "__main__":
    main()
