"""``domainstudy-run SPEC`` (``tools/run_study.py``): run a study's grid of MMF runs and write its report.

    domainstudy-run projects/domain_study/studies/demo.yaml --dry-run
    domainstudy-run projects/domain_study/studies/paper.yaml --executor slurm
    domainstudy-run projects/domain_study/studies/paper.yaml --report-only
    domainstudy-run projects/domain_study/studies/demo.yaml --analyses-only   # drift, similarity

The spec's runs, analyses and report are imported only when they are needed: ``--help``,
``--dry-run`` and ``--report-only`` import neither torch nor MMF.
"""
import argparse
import logging
import signal
import sys

from mmf_domainstudy.utils.cli_errors import bad_input_as_one_line

logger = logging.getLogger("mmf_domainstudy.study")

EXECUTORS = ("local", "slurm", "submitit-local")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="domainstudy-run",
        description="Run a domain study (pretraining sources x tasks x fractions x modes x seeds) and write "
                    "report.md, results.csv and plots to its output_dir. Safe to stop and restart at any time: "
                    "finished runs are reused, interrupted ones resume from their last checkpoint.",
        epilog="Spec format: projects/domain_study/studies/README.md",
    )
    parser.add_argument("spec", help="study spec yaml, e.g. projects/domain_study/studies/demo.yaml")
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--dry-run", action="store_true", help="print every run, its status and command; run nothing")
    what.add_argument("--report-only", action="store_true", help="rewrite the report from stored results; run nothing")
    what.add_argument("--analyses-only", action="store_true",
                      help="run the spec's analyses (drift, similarity) on the finished runs and the data, then "
                           "rewrite the report; start no run")
    parser.add_argument("--jobs", type=int, default=None, metavar="K",
                        help="runs at a time (default: 1 locally, all ready runs on SLURM)")
    parser.add_argument("--executor", choices=EXECUTORS, default="local",
                        help="local: subprocesses on this machine; slurm: one submitit job per run (settings in the "
                             "spec's 'slurm:' section); submitit-local: the SLURM code path on this machine, to "
                             "check a study before sending it to the cluster")
    parser.add_argument("--cold", action="store_true",
                        help="start each local run as a fresh python process (default: fork it from one process "
                             "that imported torch and MMF once, which saves their ~6 s import per run; the run "
                             "still executes the spec's command with the same arguments in its own process)")
    parser.add_argument("--only", metavar="PATTERN",
                        help="only runs whose name matches this glob (plus the pretraining runs they start from), "
                             "e.g. 'ft-visual_bert-*-vqa2-*'")
    parser.add_argument("--poll-interval", type=float, default=None, metavar="SECONDS",
                        help="seconds between checks of running runs (default: 0.5 locally, since a slot left "
                             "idle for a second per run adds up over a grid of short runs; 30 on SLURM)")
    return parser


def make_executor(name, spec, jobs=1, cold=False):
    if name == "local":
        from mmf_domainstudy.study.run.local import LocalExecutor
        from mmf_domainstudy.study.run.warm import WarmLocalExecutor

        return LocalExecutor(jobs) if cold else WarmLocalExecutor(jobs, log_path=spec.output_dir / "warm_process.log")
    from mmf_domainstudy.study.run.slurm import SubmititExecutor

    cluster = "slurm" if name == "slurm" else "local"
    return SubmititExecutor(spec.output_dir / "slurm", spec.slurm, f"study-{spec.name}", cluster=cluster)


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.jobs is not None and args.jobs < 1:
        parser.error("--jobs must be at least 1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    from tqdm.contrib.logging import logging_redirect_tqdm

    try:
        with bad_input_as_one_line(), logging_redirect_tqdm():
            return _main(args)
    except KeyboardInterrupt:
        sys.exit(130)


def _main(args):
    from mmf_domainstudy.study.report.write import write_report
    from mmf_domainstudy.study.run.plan import expand_study, select_runs
    from mmf_domainstudy.study.run.rundir import DONE
    from mmf_domainstudy.study.run.runner import StudyRunner, describe_plan, runner_lock
    from mmf_domainstudy.study.run.spec import SpecError, load_spec

    spec = load_spec(args.spec)
    runs = expand_study(spec)
    selected = select_runs(runs, args.only) if args.only else runs
    if not selected:
        raise SpecError(f"{spec.path}: no run matches --only {args.only!r}; see the names with --dry-run")
    if args.dry_run:
        gpus = 1 if args.executor == "local" else spec.slurm.gpus_per_run
        print(describe_plan(spec, selected, gpus))
        return 0
    statuses = {}
    if not args.report_only:
        signal.signal(signal.SIGTERM, _raise_interrupt)
        local = args.executor == "local"
        jobs = args.jobs or (1 if local else None)
        poll_interval = args.poll_interval or (0.5 if local else 30.0)
        with runner_lock(spec.output_dir):
            if not args.analyses_only:
                from mmf_domainstudy.study.run.data_check import check_pending_runs_data

                check_pending_runs_data(spec, selected)
                executor = make_executor(args.executor, spec, jobs or 1, cold=args.cold)
                try:
                    statuses = StudyRunner(spec, selected, executor, jobs, poll_interval).run()
                finally:
                    executor.close()
            from mmf_domainstudy.study.analyses.run_analyses import run_analyses

            run_analyses(spec, runs)
    report = write_report(spec, runs)
    print(report.main_table)
    print(f"\nReport: {report.path}")
    return 0 if all(status == DONE for status in statuses.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
