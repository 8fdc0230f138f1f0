"""The easy-vqa PyPI dataset (coloured shapes) converted to MMF's VQA layout.

It is the one VQA dataset that installs offline, so the demo and integration
tests train on it. Splits: ``test`` is easy-vqa's test set; ``val`` is every
10th image of easy-vqa's train set (by sorted id, so it never changes with
``max_images``) and ``train`` the rest. Train and test image ids overlap in
easy-vqa, so test images get ``TEST_IMAGE_ID_OFFSET`` added.
"""
import logging
import os
import re

from mmf_domainstudy.features.extract import extract_features
from mmf_domainstudy.formats.errors import DataFormatError
from mmf_domainstudy.formats.feature_store import FeatureStore, check_annotations_against_store
from mmf_domainstudy.formats.imdb import write_imdb
from mmf_domainstudy.formats.layout import annotations_dir, default_data_dir, features_dir, vocabs_dir
from mmf_domainstudy.utils.atomic import atomic_write_text

logger = logging.getLogger(__name__)

DATASET = "easy_vqa"
TEST_IMAGE_ID_OFFSET = 100_000
TEST_QUESTION_ID_OFFSET = 1_000_000
VAL_EVERY = 10
NUM_HUMAN_ANSWERS = 10  # VQA imdbs carry 10 human answers; easy-vqa has one, repeated.
_TRAIN_SHARE = 0.8  # easy-vqa has 4,000 train and 1,000 test images


def easy_vqa_paths(data_dir):
    """Where each prepared file goes under ``data_dir`` (MMF's ``env.data_dir``)."""
    annotations = annotations_dir(data_dir, DATASET)
    return {
        "annotations": {split: os.path.join(annotations, f"imdb_{split}.npy") for split in ("train", "val", "test")},
        "answers": os.path.join(vocabs_dir(data_dir, DATASET), "answers_easy_vqa.txt"),
        "features": os.path.join(features_dir(data_dir, DATASET), "easy_vqa.lmdb"),
    }


def question_tokens(question):
    """Lower-cased word tokens without ``?``/``,``, like MMF's imdb ``question_tokens``."""
    return re.findall(r"[a-z0-9]+(?:'[a-z]+)?", question.lower())


def image_name(image_id):
    # MMF's LMDB reader maps "<prefix>_<number>.npy" to key b"<number>".
    return f"{DATASET}_{image_id:06d}"


def select_images(train_ids, test_ids, max_images=None):
    """``{split: sorted image ids}`` (easy-vqa's own ids), using at most ``max_images`` in total."""
    train_ids, test_ids = sorted(train_ids), sorted(test_ids)
    if max_images is not None:
        if max_images < 2 * VAL_EVERY:
            raise ValueError(f"max_images={max_images} leaves a split empty; use at least {2 * VAL_EVERY}.")
        train_budget = round(max_images * _TRAIN_SHARE)
        train_ids, test_ids = train_ids[:train_budget], test_ids[: max_images - train_budget]
    val_ids = set(train_ids[VAL_EVERY - 1 :: VAL_EVERY])
    return {
        "train": [i for i in train_ids if i not in val_ids],
        "val": sorted(val_ids),
        "test": test_ids,
    }


def build_samples(questions, image_ids, image_id_offset, question_id_offset):
    """VQA imdb samples for easy-vqa ``questions`` (texts, answers, image ids) on ``image_ids``."""
    wanted = set(image_ids)
    samples = []
    for index, (text, answer, easy_id) in enumerate(zip(*questions)):
        if easy_id not in wanted:
            continue
        image_id = easy_id + image_id_offset
        samples.append(
            {
                "question_id": question_id_offset + index,
                "image_id": image_id,
                "image_name": image_name(image_id),
                "feature_path": image_name(image_id) + ".npy",
                "question_str": text,
                "question_tokens": question_tokens(text),
                "all_answers": [answer] * NUM_HUMAN_ANSWERS,
                "answers": [answer] * NUM_HUMAN_ANSWERS,
            }
        )
    return samples


def _import_easy_vqa():
    try:
        import easy_vqa
    except ImportError:
        raise ImportError("preparing easy-vqa needs the easy-vqa package: pip install easy-vqa") from None
    return easy_vqa


def prepare_easy_vqa(data_dir=None, max_images=None, **extraction_options):
    """Write easy-vqa's imdbs, answer vocabulary and feature store under ``data_dir``.

    Idempotent: features already in the store are kept (extraction resumes) and
    the small annotation files are rewritten atomically. Features are written
    before annotations, so annotations on disk always have their features.
    ``extraction_options`` go to ``extract_features`` (backbone, image_size, ...).
    Returns ``(paths, extraction_summary)``.
    """
    easy_vqa = _import_easy_vqa()
    data_dir = os.fspath(data_dir or default_data_dir())
    paths = easy_vqa_paths(data_dir)
    train_images, test_images = easy_vqa.get_train_image_paths(), easy_vqa.get_test_image_paths()
    splits = select_images(train_images, test_images, max_images)
    logger.info("easy-vqa images per split: %s", {split: len(ids) for split, ids in splits.items()})

    images = {i: train_images[i] for i in splits["train"] + splits["val"]}
    images.update({i + TEST_IMAGE_ID_OFFSET: test_images[i] for i in splits["test"]})
    summary = extract_features(images, paths["features"], **extraction_options)
    if summary.failed:
        raise DataFormatError(f"{summary.failed} easy-vqa images could not be read; reinstall easy-vqa.")

    train_questions, test_questions = easy_vqa.get_train_questions(), easy_vqa.get_test_questions()
    store = FeatureStore(paths["features"])
    for split, image_ids in splits.items():
        if split == "test":
            samples = build_samples(test_questions, image_ids, TEST_IMAGE_ID_OFFSET, TEST_QUESTION_ID_OFFSET)
        else:
            samples = build_samples(train_questions, image_ids, 0, 0)
        check_annotations_against_store(samples, store, paths["annotations"][split])
        write_imdb(paths["annotations"][split], samples, dataset_name=DATASET, source="easy-vqa (PyPI)")
        logger.info("Wrote %d %s questions to %s", len(samples), split, paths["annotations"][split])
    atomic_write_text(paths["answers"], "\n".join(["<unk>"] + easy_vqa.get_answers()) + "\n")
    return paths, summary
