"""The analyses a spec lists (``analyses: [drift, similarity, probe]``), run after its runs.

Each reads only finished runs and data files, skips what is not there yet with a log
line, and reuses stored results whose inputs did not change, so it is safe to run
after every pass of the runner or alone (``domainstudy-run SPEC --analyses-only``).
Each is imported only when the spec lists it: drift and probe build MMF models.
"""


def run_analyses(spec, runs):
    """Write the listed analyses' files into ``<output_dir>/analysis/`` for the report."""
    if "similarity" in spec.analyses:
        from mmf_domainstudy.study.analyses.similarity import write_similarity

        write_similarity(spec, runs)
    if "drift" in spec.analyses:
        from mmf_domainstudy.study.analyses.drift import write_drift

        write_drift(spec, runs)
    if "probe" in spec.analyses:
        from mmf_domainstudy.study.analyses.probe import write_probe

        write_probe(spec, runs)
