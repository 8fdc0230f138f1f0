"""Every data file of a study's pending runs, checked before any run starts.

A 1,566-run grid must not fail at run 900 for a missing feature store: the runner
builds each distinct run config once (``datasets/data_check_runs.py``) and stops with
one line naming every missing file and the runs needing it. Only for the spec's
default command: what another command reads is its own business.
"""
import logging

from mmf_domainstudy.study.run.plan import mmf_arguments
from mmf_domainstudy.study.run.rundir import DONE, stored_status

logger = logging.getLogger(__name__)
MMF_COMMAND = ("-m", "mmf_domainstudy.run")


def runs_mmf_domainstudy(spec):
    """Whether the spec's runs are ``python -m mmf_domainstudy.run`` (the default command)."""
    return tuple(spec.command[1:3]) == MMF_COMMAND


def check_pending_runs_data(spec, runs):
    """Raise one MissingDataFiles error if a run not yet done lacks a file; return how many runs were checked."""
    if not runs_mmf_domainstudy(spec):
        return 0
    statuses = {}
    for run in runs:  # in plan order: a run's upstream is seen first
        statuses[run.name] = stored_status(run, statuses)
    pending = [run for run in runs if statuses[run.name] != DONE]
    if not pending:
        return 0
    import mmf_domainstudy

    mmf_domainstudy.activate()
    from mmf_domainstudy.datasets.data_check_runs import RunCommand, check_runs

    check_runs([RunCommand(run.name, mmf_arguments(run, spec.data_dir), (run.config, *run.overlays))
                for run in pending])
    logger.info("data check: every file of the %d pending runs is there", len(pending))
    return len(pending)

