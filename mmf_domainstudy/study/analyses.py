"""The analyses a spec lists (``analyses: [drift, similarity]``), run after its runs.

Each reads only finished runs and data files, skips what is not there yet with a log
line, and reuses stored results whose inputs did not change, so it is safe to run
after every pass of the runner or alone (``domainstudy-run SPEC --analyses-only``).
"""
from mmf_domainstudy.study.analysis_drift import write_drift
from mmf_domainstudy.study.analysis_similarity import write_similarity

ANALYSES = {"similarity": write_similarity, "drift": write_drift}


def run_analyses(spec, runs):
    """Write the listed analyses' files into ``<output_dir>/analysis/`` for the report."""
    for name, write in ANALYSES.items():
        if name in spec.analyses:
            write(spec, runs)
