"""Studies: a yaml grid of MMF runs and the paper-style report, in three rooms.

- ``run/``: the spec, the plan (spec -> runs), run folders, the runner and its executors
  (local subprocesses, SLURM through submitit);
- ``analyses/``: attention drift and domain similarity over finished runs and data;
- ``report/``: results read back from run folders, tables, plots, report.md.

The report reads run folders only (``run/rundir.py``), never the runner. Nothing here
imports MMF or torch until an analysis runs; ``domainstudy-run`` is ``study/cli.py``.
"""
