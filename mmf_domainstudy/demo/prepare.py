"""Build every dataset the embedded demo study needs, from the offline easy-vqa package.

Under ``<data_dir>/datasets/`` (MMF's layout), idempotent and resumable:

- ``easy_vqa/defaults``: VQA imdbs + EfficientNet-Lite0 features (downstream task 1 and the
  VQA-P source: its own train questions with their answers);
- ``easy_vqa/defaults/annotations/captions_*.npy``: "a <color> <shape>" captions read off the
  questions, for the first half of the train images (the in-domain caption source) and val;
- ``easy_vqa/defaults/annotations/ccg_second_half.npy``: captions *generated* for the other
  half by a captioner trained on the first half (the CCG source);
- ``textures/defaults``: full-frame texture images with captions (visually out of domain);
- ``easy_vqa/defaults/annotations/entailment_*.jsonl``: SNLI-VE-format entailment (task 2);
- ``demo_vocabulary/``: the bert-base-uncased wordpieces of all those texts (demo/vocabulary.py).
"""
import logging
import os

from mmf_domainstudy.captioning.easy_vqa import easy_vqa_caption_samples, halves
from mmf_domainstudy.captioning.generate import generate_caption_file
from mmf_domainstudy.captioning.training import train_captioner
from mmf_domainstudy.demo.entailment import entailment_records
from mmf_domainstudy.demo.textures import write_textures
from mmf_domainstudy.demo.vocabulary import demo_texts, write_demo_vocabulary
from mmf_domainstudy.features.easy_vqa import easy_vqa_paths, prepare_easy_vqa
from mmf_domainstudy.features.extract import extract_features
from mmf_domainstudy.formats.imdb import read_imdb, write_imdb
from mmf_domainstudy.formats.jsonl import write_jsonl
from mmf_domainstudy.formats.layout import annotations_dir, features_dir

logger = logging.getLogger(__name__)

DEMO_SPLITS = ("train", "val", "test")
CAPTIONER_OVERRIDES = (
    "training.max_updates=150",
    "training.seed=1",
    "training.num_workers=0",
    "training.log_interval=50",
    "training.batch_size=32",
    "training.evaluation_interval=150",
    "training.checkpoint_interval=150",
    "optimizer.params.lr=0.002",
    "model_config.region_captioner.hidden_size=64",
    "model_config.region_captioner.intermediate_size=128",
)


def demo_paths(data_dir):
    annotations = annotations_dir(data_dir, "easy_vqa")
    textures = annotations_dir(data_dir, "textures")
    return {
        "easy_vqa": easy_vqa_paths(data_dir),
        "captions": {split: os.path.join(annotations, f"captions_{split}.npy") for split in ("first_half", "second_half", "val")},
        "ccg": os.path.join(annotations, "ccg_second_half.npy"),
        "captioner": os.path.join(data_dir, "demo_captioner"),
        "vocabulary": os.path.join(data_dir, "demo_vocabulary"),
        "entailment": {split: os.path.join(annotations, f"entailment_{split}.jsonl") for split in DEMO_SPLITS},
        "textures": {
            "images": os.path.join(data_dir, "datasets", "textures", "defaults", "images"),
            "annotations": {split: os.path.join(textures, f"imdb_{split}.npy") for split in ("train", "val")},
            "features": os.path.join(features_dir(data_dir, "textures"), "textures.lmdb"),
        },
    }


def write_caption_sets(paths):
    _, train = read_imdb(paths["easy_vqa"]["annotations"]["train"])
    _, val = read_imdb(paths["easy_vqa"]["annotations"]["val"])
    first, second = halves(easy_vqa_caption_samples(train)[0])
    for name, samples in (("first_half", first), ("second_half", second), ("val", easy_vqa_caption_samples(val)[0])):
        write_imdb(paths["captions"][name], samples, "easy_vqa_captions", source=f"derived from easy-vqa ({name})")
    logger.info("Caption sets: %d first-half, %d second-half images", len(first), len(second))


def write_generated_captions(paths, threads):
    captioner = paths["captioner"]
    if not os.path.exists(os.path.join(captioner, "metrics.json")):
        logger.info("Training the CCG captioner on the first half's captions")
        overrides = list(CAPTIONER_OVERRIDES) + [f"env.save_dir={captioner}"]
        train_captioner(captioner, paths["captions"]["first_half"], paths["captions"]["val"],
                        paths["easy_vqa"]["features"], overrides=overrides, progress=False)
    if not os.path.exists(paths["ccg"]):
        logger.info("Captioning the second half's images (beam search)")
        generate_caption_file(captioner, paths["easy_vqa"]["features"], paths["ccg"],
                              only_images=paths["captions"]["second_half"], progress=False)


def write_textures_source(paths, count, image_size, threads):
    images = write_textures(paths["textures"]["images"], count, size=image_size)
    extract_features({i: path for i, (path, _) in images.items()}, paths["textures"]["features"],
                     image_size=image_size, threads=threads)
    samples = [
        {"image_id": i, "image_name": f"texture_{i:05d}", "feature_path": f"texture_{i:05d}.npy", "captions": [caption]}
        for i, (_, caption) in sorted(images.items())
    ]
    cut = max(1, len(samples) // 10)
    write_imdb(paths["textures"]["annotations"]["train"], samples[cut:], "textures")
    write_imdb(paths["textures"]["annotations"]["val"], samples[:cut], "textures")


def write_entailment_task(paths):
    for split in DEMO_SPLITS:
        _, samples = read_imdb(paths["easy_vqa"]["annotations"][split])
        write_jsonl(paths["entailment"][split], entailment_records(samples, seed=DEMO_SPLITS.index(split)))


def prepare_demo_data(data_dir, max_images=500, image_size=160, texture_images=400, threads=1):
    """Everything the demo study reads, under ``data_dir``; cheap to rerun (each step resumes)."""
    data_dir = os.path.abspath(data_dir)
    paths = demo_paths(data_dir)
    logger.info("Preparing easy-vqa (%d images at %d px) under %s", max_images, image_size, data_dir)
    prepare_easy_vqa(data_dir, max_images=max_images, image_size=image_size, threads=threads)
    write_caption_sets(paths)
    write_entailment_task(paths)
    logger.info("Preparing the out-of-domain texture source (%d images)", texture_images)
    write_textures_source(paths, texture_images, image_size, threads)
    write_generated_captions(paths, threads)
    pieces = write_demo_vocabulary(demo_texts(paths), paths["vocabulary"])
    logger.info("Demo vocabulary: %d wordpieces at %s", len(pieces), paths["vocabulary"])
    return paths
