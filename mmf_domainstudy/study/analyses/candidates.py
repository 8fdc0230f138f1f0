"""The domain-similarity measures of candidate sources to one task, for the recommender
(``domainstudy-recommend-source``), before any run has started.

The files and the computation are the study's similarity analysis's (similarity.py): each
side's train annotations and features as its planned run's composed config names them, the
first model's runs, ``analysis.similarity_regions`` regions per side. So the measures equal
the rows of that analysis's ``similarity.csv``.
"""
from mmf_domainstudy.formats.errors import DataFormatError
from mmf_domainstudy.study.analyses.similarity import SideMeasures, missing_files, representative_runs, side_files
from mmf_domainstudy.study.run.plan import expand_study
from mmf_domainstudy.study.run.spec import SpecError


def candidate_sources(spec, sources=None):
    """The named sources, checked against the spec; without names, every source but the baseline."""
    known = [s.name for s in spec.pretrain.sources.values() if not s.is_baseline]
    if not sources:
        return known
    for source in sources:
        if spec.baseline and source == spec.baseline.name:
            raise SpecError(f"{spec.path}: source '{source}' is the no-pretraining baseline; it has no data to "
                            f"rank. Name some of: {', '.join(known)}.")
        if source not in known:
            raise SpecError(f"{spec.path}: source '{source}' is not in pretrain.sources. Name some of: "
                            f"{', '.join(known)}.")
        if sources.count(source) > 1:
            raise SpecError(f"{spec.path}: source '{source}' is named twice. Name each source once.")
    return list(sources)


def _check_task(spec, task):
    if task not in spec.finetune.tasks:
        raise SpecError(f"{spec.path}: task '{task}' is not in finetune.tasks. Name one of: "
                        f"{', '.join(spec.finetune.tasks)}.")


def _missing_files_error(spec, missing):
    described = "; ".join(
        f"{who} ({run.dataset}): " + ", ".join(
            f"{'annotations' if path in side['annotations'] else 'features'} {path}" for path in paths)
        for who, run, side, paths in missing
    )
    return DataFormatError(
        f"{spec.path}: the recommender reads the train files each planned run's config names, and these do not "
        f"exist: {described}. Prepare that data, or fix data_dir or the config that names the file."
    )


def candidate_measures(spec, task, sources):
    """source -> its similarity measures to ``task`` (similarity.py's), in the order given.

    Every side's files are checked before anything is measured: one error names all missing files.
    """
    _check_task(spec, task)
    sources = candidate_sources(spec, sources)
    pairs = representative_runs(spec, expand_study(spec))
    runs = [(f"task '{task}'", pairs[(sources[0], task)][1], False)]
    runs += [(f"source '{source}'", pairs[(source, task)][0], True) for source in sources]
    sides, missing = [], []
    for who, run, source_side in runs:
        side = side_files(spec, run, source_side)
        sides.append(side)
        absent = missing_files(side)
        if absent:
            missing.append((who, run, side, absent))
    if missing:
        raise _missing_files_error(spec, missing)
    measures = SideMeasures(spec.analysis.similarity_regions)
    task_side, source_sides = sides[0], sides[1:]
    return {source: measures.pair(side, task_side)[0] for source, side in zip(sources, source_sides)}
