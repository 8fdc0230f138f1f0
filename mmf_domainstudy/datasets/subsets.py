"""Deterministic training subsets: CC-small, VQA-P "len_coco", and 10/50 % fractions.

One rule everywhere, per annotation file of the training split: rank the file's
samples by a seeded key and keep the first ``k``. A source (``source_fraction``
or ``source_num_samples``) and a run's ``fraction`` of it are both prefixes of
that ranking, so 10 % of a source is inside 50 % of it, which is inside the
source. The keys come from Python's ``random.random()``, whose sequence for a
seed Python guarantees across versions and platforms; ``tools/make_subset.py``
writes the same subset to a file.
"""
import logging
import numbers
import os
import random

from mmf_domainstudy.datasets.options import dataset_option, option_key
from mmf_domainstudy.formats.imdb import read_imdb, write_imdb
from mmf_domainstudy.formats.jsonl import read_jsonl, write_jsonl
from mmf_domainstudy.formats.errors import DataFormatError

logger = logging.getLogger(__name__)


def ranking(total, seed):
    """Indices ``0..total-1`` in the seeded order subsets are taken from."""
    generator = random.Random(seed)
    keys = [generator.random() for _ in range(total)]
    return sorted(range(total), key=keys.__getitem__)


def select_indices(total, count, seed):
    """The ``count`` indices a subset keeps, in file order."""
    if not 0 < count <= total:
        raise ValueError(f"a subset of {count} samples out of {total} is impossible")
    return sorted(ranking(total, seed)[:count])


def _check_fraction(value, key):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 < value <= 1.0:
        raise ValueError(f"{key}={value!r} must be a number in (0, 1], e.g. {key}=0.1 for 10 %")
    return float(value)


def count_for_fraction(fraction, total, key):
    """``round(fraction * total)`` (halves up), but at least one sample: tiny data stays runnable."""
    return max(1, int(_check_fraction(fraction, key) * total + 0.5))


def source_count(total, source_fraction=1.0, source_num_samples=None, names=("source_fraction", "source_num_samples")):
    """How many of ``total`` samples form the source (all of them unless told otherwise)."""
    fraction_key, count_key = names
    if source_num_samples is None:
        return count_for_fraction(source_fraction, total, fraction_key)
    if _check_fraction(source_fraction, fraction_key) != 1.0:
        raise ValueError(f"{fraction_key} and {count_key} both define the source; set only one")
    whole = isinstance(source_num_samples, numbers.Integral) and not isinstance(source_num_samples, bool)
    if not whole or source_num_samples < 1:
        raise ValueError(f"{count_key}={source_num_samples!r} must be a positive whole number or null")
    if source_num_samples > total:
        raise ValueError(
            f"{count_key}={source_num_samples} asks for more samples than the {total} the annotations hold; "
            "lower it or point the annotations at the full file"
        )
    return int(source_num_samples)


class SubsetOptions:
    """The subset options of one dataset config, checked before any data is read."""

    def __init__(self, config, dataset_name):
        self.dataset_name = dataset_name
        self.fraction = dataset_option(config, "fraction")
        self.source_fraction = dataset_option(config, "source_fraction")
        self.source_num_samples = dataset_option(config, "source_num_samples")
        self.seed = dataset_option(config, "subset_seed")
        _check_fraction(self.fraction, self.key("fraction"))
        _check_fraction(self.source_fraction, self.key("source_fraction"))
        if isinstance(self.seed, bool) or not isinstance(self.seed, numbers.Integral):
            raise ValueError(f"{self.key('subset_seed')}={self.seed!r} must be a whole number")

    def key(self, name):
        return option_key(self.dataset_name, name)

    def counts(self, total):
        """``(source size, samples used)`` for an annotation file of ``total`` samples."""
        names = (self.key("source_fraction"), self.key("source_num_samples"))
        source = source_count(total, self.source_fraction, self.source_num_samples, names)
        return source, count_for_fraction(self.fraction, source, self.key("fraction"))


def keep_samples(annotation_db, indices):
    """Restrict MMF's AnnotationDatabase to ``indices`` (of its samples), keeping its header."""
    header = list(annotation_db.data[: annotation_db.start_idx])
    samples = annotation_db.data
    annotation_db.data = header + [samples[annotation_db.start_idx + i] for i in indices]


def keep_training_subset(concat_dataset, options, writer=None):
    """Apply ``options`` to each annotation file of an MMFConcatDataset, in place, and log the counts."""
    for part in concat_dataset.datasets:
        total = len(part.annotation_db)
        source, used = options.counts(total)
        if used < total:
            keep_samples(part.annotation_db, select_indices(total, used, options.seed))
        message = (
            f"{options.dataset_name} train: {used} of {total} samples"
            f" (source {source}, fraction {options.fraction}, subset_seed {options.seed})"
        )
        (writer.write if writer is not None else logger.info)(message)
    concat_dataset.cumulative_sizes = concat_dataset.cumsum(concat_dataset.datasets)


class TrainingSubsetMixin:
    """For MMF dataset builders: the subset options act on the training split.

    The options are checked for every split, so a bad value fails before data loads.
    """

    def load(self, config, dataset_type="train", *args, **kwargs):
        options = SubsetOptions(config, self.dataset_name)
        dataset = super().load(config, dataset_type, *args, **kwargs)
        if dataset is not None and dataset_type == "train":
            from mmf.common.registry import registry

            keep_training_subset(dataset, options, registry.get("writer"))
        return dataset


def write_annotation_subset(source_path, output_path, fraction=1.0, num_samples=None, seed=0):
    """Write the subset a builder would keep (``source_fraction``/``source_num_samples``) to a file.

    imdb ``.npy`` keeps its header (plus where the subset came from); ``.jsonl`` stays one record a line.
    Returns ``(kept, total)``.
    """
    names = ("--fraction", "--num-samples")
    if source_path.endswith(".npy"):
        metadata, samples = read_imdb(source_path)
    elif source_path.endswith(".jsonl"):
        metadata, samples = None, read_jsonl(source_path)
    else:
        raise DataFormatError(f"{source_path}: annotation files are imdb .npy or .jsonl; rename or convert it")
    if os.path.splitext(output_path)[1] != os.path.splitext(source_path)[1]:
        raise DataFormatError(f"{output_path}: give the output the extension of {source_path}")
    count = source_count(len(samples), fraction, num_samples, names)
    kept = [samples[i] for i in select_indices(len(samples), count, seed)]
    if metadata is None:
        write_jsonl(output_path, kept)
    else:
        metadata = dict(metadata)
        metadata.pop("create_time", None)
        dataset_name = metadata.pop("dataset_name", os.path.basename(source_path))
        metadata.update(subset_of=os.path.basename(source_path), subset_size=count, subset_seed=seed)
        write_imdb(output_path, kept, dataset_name, **metadata)
    return count, len(samples)
