"""The study's domain similarity: every pretraining source against every task, from data alone.

Each side's files are what its runs train on, read from the composed run config
(``dataset_config.<dataset>.annotations.train`` and ``features.train`` under its
``data_dir``), so it needs no run to have started. Text: the texts the model reads
(captions; questions, with their answer when the source's dataset sets ``add_answer``
as VQA-P does; hypotheses; plots). Vision: up to ``analysis.similarity_regions``
regions of the annotated images, drawn with a fixed seed. Writes
``<output_dir>/analysis/similarity.csv`` (``source, task`` and one column per measure,
what the report reads) and ``similarity.json`` (the counts behind each number, the
measures' definitions and the stamps of every input file: a rerun with unchanged
inputs reuses it). Files are taken from the first model's runs.
"""
import logging

from mmf_domainstudy.analysis.domain_inputs import iter_annotated_regions, iter_annotation_texts
from mmf_domainstudy.analysis.domain_similarity import (
    fit_gaussian,
    frechet_distance,
    jensen_shannon_divergence,
    unigram_counts,
    vocabulary_overlap,
)
from mmf_domainstudy.analysis.measures import MEASURE_DEFINITIONS
from mmf_domainstudy.formats.lmdb_store import lmdb_data_file
from mmf_domainstudy.study.analyses.inputs import file_stamp, planned_config, train_inputs
from mmf_domainstudy.utils.tables import csv_text
from mmf_domainstudy.study.run.rundir import read_json, write_json
from mmf_domainstudy.utils.atomic import atomic_write_text

logger = logging.getLogger(__name__)

MEASURES = ("text_jsd", "vocab_jaccard", "target_token_coverage", "target_type_coverage", "visual_frechet")
COUNTS = ("source_tokens", "target_tokens", "source_vectors", "target_vectors")
SEED = 0


def representative_runs(spec, runs):
    """(source, task) -> (its pretraining run, a finetuning run of the task), first model's."""
    model = spec.models[0]
    pretrains, finetunes = {}, {}
    for run in runs:
        if run.model != model:
            continue
        if run.kind == "pretrain":
            pretrains.setdefault(run.axes["source"], run)
        else:
            finetunes.setdefault(run.axes["task"], run)
    return {(source, task): (pretrains[source], finetunes[task]) for source in pretrains for task in finetunes}


def side_files(spec, run, source_side):
    """A side's train files, from the run's composed config, and whether its text carries
    answers (a source whose dataset sets ``add_answer``, as VQA-P does)."""
    config = planned_config(spec, run)
    files = train_inputs(config, run.dataset)
    add_answer = source_side and bool(config.dataset_config[run.dataset].get("add_answer", False))
    stamps = [file_stamp(path) for path in files["annotations"]]
    stamps += [file_stamp(lmdb_data_file(path)) for path in files["features"]]
    return {**files, "add_answer": add_answer, "stamps": stamps}


def missing_files(side):
    """A side's annotation and feature paths that do not exist."""
    paths = side["annotations"] + side["features"]
    return [path for path, stamp in zip(paths, side["stamps"]) if stamp is None]


class SideMeasures:
    """Unigram counts and Gaussian fits per side, each computed once however many pairs use it."""

    def __init__(self, max_regions):
        self.max_regions = max_regions
        self._counts, self._fits = {}, {}

    def counts(self, side):
        key = (tuple(side["annotations"]), side["add_answer"])
        if key not in self._counts:
            self._counts[key] = unigram_counts(iter_annotation_texts(side["annotations"], side["add_answer"]))
        return self._counts[key]

    def fit(self, side):
        key = (tuple(side["annotations"]), tuple(side["features"]))
        if key not in self._fits:
            self._fits[key] = fit_gaussian(
                iter_annotated_regions(side["annotations"], side["features"], self.max_regions, SEED)
            )
        return self._fits[key]

    def pair(self, source, task):
        """The measures of one (source, task) pair, and the counts they rest on."""
        source_counts, task_counts = self.counts(source), self.counts(task)
        (mean_s, cov_s, n_s), (mean_t, cov_t, n_t) = self.fit(source), self.fit(task)
        measures = {
            "text_jsd": jensen_shannon_divergence(source_counts, task_counts),
            **vocabulary_overlap(source_counts, task_counts),
            "visual_frechet": frechet_distance(mean_s, cov_s, mean_t, cov_t),
        }
        counts = dict(zip(COUNTS, (sum(source_counts.values()), sum(task_counts.values()), n_s, n_t)))
        return measures, counts


def similarity_inputs(spec, runs):
    """(source, task) -> (source side, task side) for every pair whose files exist."""
    pairs, sides = {}, {}
    for (source, task), (pretrain, finetune) in representative_runs(spec, runs).items():
        for run, source_side in ((pretrain, True), (finetune, False)):
            if run.name not in sides:
                sides[run.name] = side_files(spec, run, source_side)
        missing = missing_files(sides[pretrain.name]) + missing_files(sides[finetune.name])
        if missing:
            logger.info("similarity: skipped %s -> %s: missing %s", source, task, ", ".join(missing))
            continue
        pairs[(source, task)] = (sides[pretrain.name], sides[finetune.name])
    return pairs


def write_similarity(spec, runs):
    """Measure every (source, task) pair; reuse the stored result when no input changed."""
    out = spec.output_dir / "analysis"
    pairs = similarity_inputs(spec, runs)
    if not pairs:
        logger.info("similarity: no (source, task) pair has its data files; nothing written")
        return
    inputs = {"regions": spec.analysis.similarity_regions, "seed": SEED,
              "pairs": [[source, task, source_side, task_side] for (source, task), (source_side, task_side)
                        in pairs.items()]}
    stored = read_json(out / "similarity.json")
    if stored and stored.get("inputs") == inputs and (out / "similarity.csv").exists():
        logger.info("similarity: up to date (%s)", out / "similarity.csv")
        return
    sides = SideMeasures(spec.analysis.similarity_regions)
    results = []
    for (source, task), (source_side, task_side) in pairs.items():
        logger.info("similarity: %s -> %s", source, task)
        try:
            measures, counts = sides.pair(source_side, task_side)
        except ValueError as error:
            logger.error("similarity: %s -> %s failed: %s", source, task, error)
            continue
        results.append({"source": source, "task": task, "measures": measures, "counts": counts})
    if not results:
        return
    rows = [[r["source"], r["task"]] + [r["measures"][name] for name in MEASURES] for r in results]
    atomic_write_text(out / "similarity.csv", csv_text(["source", "task", *MEASURES], rows))
    definitions = {name: MEASURE_DEFINITIONS[name] for name in MEASURES + COUNTS}
    write_json(out / "similarity.json", {"inputs": inputs, "pairs": results, "definitions": definitions})
    logger.info("similarity: %d pairs; wrote %s", len(results), out / "similarity.csv")
