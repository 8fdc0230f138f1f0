"""Studies: a yaml grid of MMF runs, run resumably (locally or on SLURM), and the paper-style report."""
from mmf_domainstudy.study.plan import expand_study, select_runs
from mmf_domainstudy.study.report import write_report
from mmf_domainstudy.study.runner import StudyRunner, describe_plan
from mmf_domainstudy.study.spec import SpecError, load_spec

__all__ = ["SpecError", "StudyRunner", "describe_plan", "expand_study", "load_spec", "select_runs", "write_report"]
