"""Shared by the dataset and project-config tests: fixture data where the configs expect it.

The bundled dataset yamls name the files real users have. Where the fixture
(tests/fixtures/make_fixtures.py) does not write one yet, ``FIXTURE_GAPS`` points
the config at the fixture's nearest file; every other path is the real one.
"""
import os

import pytest
import torch
from omegaconf import OmegaConf

import mmf_domainstudy

mmf_domainstudy.activate()  # compat shims, MMF, the plugin's registered components

from mmf.common.registry import registry
from mmf.utils.configuration import load_yaml
from mmf_domainstudy.formats.imdb import read_imdb, write_imdb

# Where the fixture differs from MMF's layout: vqa2 has no test2015 split (MMF loads all three
# splits); SNLI-VE's Flickr30k features are not at flickr30k/defaults/features/detectron.lmdb;
# MM-IMDB's genre file is capitalised, but rc10 lowercases genres before the lookup.
VQA_TEST_FROM_VAL = {
    "annotations": {"test": ["vqa2/defaults/annotations/imdb_val2014.npy"]},
    "features": {"test": ["coco/defaults/features/trainval2014.lmdb"]},
}
FLICKR30K_FIXTURE = "visual_entailment/defaults/features/flickr30k.lmdb"
GENRES_FIXTURE = "mmimdb/defaults/extras/classes_mm_imdb.txt"
GENRES_LOWERCASE = "mmimdb/defaults/extras/classes_mm_imdb_lowercase.txt"
FIXTURE_GAPS = {
    "vqa2": VQA_TEST_FROM_VAL,
    "masked_vqa_p": VQA_TEST_FROM_VAL,
    "visual_entailment": {"features": {split: [FLICKR30K_FIXTURE] for split in ("train", "val", "test")}},
    "mmimdb": {"processors": {"answer_processor": {"params": {"vocab_file": GENRES_LOWERCASE}}}},
}
CCG_ANNOTATIONS = "cc/coco_generated/annotations"


def write_lowercase_genres(root):
    source, target = (os.path.join(root, "datasets", path) for path in (GENRES_FIXTURE, GENRES_LOWERCASE))
    with open(source) as handle:
        genres = handle.read().lower()
    with open(target, "w") as handle:
        handle.write(genres)


def write_generated_captions(root):
    """CCG's input as the captioner writes it: a caption imdb over CC's images (2 captions each)."""
    for split, source in (("train_all", "train_all"), ("val", "val")):
        target = os.path.join(root, "datasets", CCG_ANNOTATIONS, f"{split}.npy")
        if os.path.exists(target):
            continue
        _, samples = read_imdb(os.path.join(root, "datasets", "cc", "defaults", "annotations", f"{source}.npy"))
        generated = [
            {**sample, "captions": [f"a photo of thing number {n}", f"an image showing item {n}"]}
            for n, sample in enumerate(samples)
        ]
        write_imdb(target, generated, dataset_name="ccg")


@pytest.fixture(scope="module")
def data_root(fixture_data_dir):
    """The fixture data root, with CCG's annotations; one torch thread while it is used
    (as in a DataLoader worker: on a loaded 2-core machine, 2 threads make each copy ~300x slower)."""
    write_generated_captions(fixture_data_dir)
    write_lowercase_genres(fixture_data_dir)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield fixture_data_dir
    torch.set_num_threads(threads)


def dataset_config(name, root, **overrides):
    """The bundled yaml's config of dataset ``name`` on ``root``, plus fixture gaps and ``overrides``."""
    config = load_yaml(registry.get_builder_class(name).config_path()).dataset_config[name]
    config.data_dir = os.path.join(root, "datasets")
    return OmegaConf.merge(config, FIXTURE_GAPS.get(name, {}), overrides)


def load_split(name, root, split="train", **overrides):
    """What MMF's dataset loader builds for one split (processors included), without downloads.

    MMF keeps each dataset's processors in its registry for the life of the process; they
    are dropped first so that every call builds them from its own config, as a new run would.
    """
    config = dataset_config(name, root, **overrides)
    for processor in config.processors:
        registry.unregister(f"{name}_{processor}")
    return registry.get_builder_class(name)().load_dataset(config, split)
