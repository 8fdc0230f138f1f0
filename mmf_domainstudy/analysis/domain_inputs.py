"""Streams of texts and region features from files, for the domain-similarity measures."""
import os
import random
from collections import Counter

from ..formats.errors import DataFormatError
from ..formats.feature_store import FeatureStore, feature_path_for_sample
from ..formats.imdb import read_imdb
from ..formats.jsonl import read_jsonl
from ..formats.npy import load_npy

CHUNK_ROWS = 65536


def iter_text_lines(paths):
    """Every line of every UTF-8 text file, one text per line."""
    for path in paths:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"text file {path} does not exist; pass UTF-8 files with one text per line")
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                yield line.rstrip("\n")


def _is_lmdb(path):
    return path.endswith(".lmdb") or os.path.isfile(os.path.join(path, "data.mdb"))


def _lmdb_regions(path, max_images, seed):
    """Real regions only: each record's first ``num_boxes`` rows (the rest is padding)."""
    store = FeatureStore(path)
    keys = store.keys()
    if max_images is not None and max_images < len(keys):
        keys = random.Random(seed).sample(keys, max_images)
    for key in keys:
        record = store[key]
        features = record["features"]
        yield features[: int(record.get("num_boxes", len(features)))]


def _npy_regions(path):
    array = load_npy(path, what="feature array", fix="pass an [n, d] or [images, regions, d] numeric .npy")
    if array.dtype.hasobject or array.ndim not in (2, 3):
        raise DataFormatError(
            f"feature array {path}: expected a numeric [n, d] or [images, regions, d] array, got shape {array.shape}"
        )
    rows = array.reshape(-1, array.shape[-1])
    for start in range(0, len(rows), CHUNK_ROWS):
        yield rows[start : start + CHUNK_ROWS]


def iter_region_features(paths, max_images=None, seed=0):
    """[regions, d] batches from MMF LMDB feature stores and/or ``.npy`` arrays.

    ``max_images`` draws that many images per LMDB store, seeded, so a large store can
    be summarised quickly and reproducibly; ``.npy`` arrays are read whole.
    """
    for path in map(os.fspath, paths):
        if _is_lmdb(path):
            yield from _lmdb_regions(path, max_images, seed)
        elif path.endswith(".npy"):
            yield from _npy_regions(path)
        else:
            raise DataFormatError(f"feature source {path}: expected an MMF .lmdb feature store or a .npy array")


def read_annotations(path):
    """Samples of an MMF annotation file: an imdb ``.npy`` or a ``.jsonl``."""
    path = os.fspath(path)
    if path.endswith(".npy"):
        return read_imdb(path)[1]
    if path.endswith(".jsonl"):
        return read_jsonl(path)
    raise DataFormatError(f"annotation file {path}: expected an imdb .npy or a .jsonl (MMF's formats)")


def _most_frequent(answers):
    return Counter(answers).most_common(1)[0][0]


def sample_texts(sample, with_answer=False):
    """The texts a model reads from one annotation sample.

    Caption imdbs give every caption (a caption source draws one per access, uniformly);
    VQA imdbs the question, plus with ``with_answer`` (VQA-P) its most frequent human
    answer, the mode of the answer VQA-P draws; SNLI-VE the hypothesis; MM-IMDB the plot.
    """
    if sample.get("captions"):
        return [str(caption) for caption in sample["captions"]]
    question = sample.get("question_str") or sample.get("question")
    if question:
        answers = sample.get("all_answers") or sample.get("answers")
        return [f"{question} {_most_frequent(answers)}" if with_answer and answers else str(question)]
    if sample.get("sentence2"):
        return [str(sample["sentence2"])]
    if sample.get("plot"):
        plot = sample["plot"]
        return [str(plot[0] if isinstance(plot, list) else plot)]
    raise DataFormatError(
        f"annotation sample with fields {sorted(sample)[:12]} has no text MMF's datasets read "
        "(captions, question_str/question, sentence2 or plot)"
    )


def iter_annotation_texts(paths, with_answer=False):
    """Every text of every sample of MMF annotation files (see sample_texts)."""
    for path in map(os.fspath, paths):
        for sample in read_annotations(path):
            try:
                yield from sample_texts(sample, with_answer)
            except DataFormatError as error:
                raise DataFormatError(f"annotation file {path}: {error}") from None


def _image_key(stores, feature_path):
    """(store, key) of the first store holding the image MMF reads for ``feature_path``."""
    for store in stores:
        try:
            return store, store.key_for_feature_path(feature_path)
        except DataFormatError:
            continue
    raise DataFormatError(
        f"image {feature_path!r} is in no feature store of {[store.path for store in stores]}; "
        "the annotations and features come from different sources"
    )


def iter_annotated_regions(annotation_paths, store_paths, max_regions, seed=0):
    """[regions, d] batches of the images the annotations name, drawn in a seeded order
    until ``max_regions`` real regions (each record's first ``num_boxes``) are read.

    Drawing from the annotated images, not the whole store, keeps two sources that
    share a store (e.g. two halves of one image set) apart.
    """
    feature_paths = list(dict.fromkeys(
        feature_path_for_sample(sample) for path in annotation_paths for sample in read_annotations(path)
    ))
    random.Random(seed).shuffle(feature_paths)
    stores = [FeatureStore(path) for path in store_paths]
    remaining = max_regions
    for feature_path in feature_paths:
        if remaining <= 0:
            return
        store, key = _image_key(stores, feature_path)
        record = store[key]
        features = record["features"][: int(record.get("num_boxes", len(record["features"])))][:remaining]
        remaining -= len(features)
        yield features
