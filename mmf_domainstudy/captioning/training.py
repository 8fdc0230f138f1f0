"""Train the captioner with MMF's own runner (``mmf_run`` through ``python -m mmf_domainstudy.run``)."""
import os
import subprocess
import sys

import yaml

import mmf_domainstudy
from mmf_domainstudy.captioning.caption_pairs import DATASET, caption_index
from mmf_domainstudy.captioning.loading import MODEL
from mmf_domainstudy.configs import BUNDLED_MMF_CONFIGS
from mmf_domainstudy.formats.errors import DataFormatError
from mmf_domainstudy.formats.feature_store import FeatureStore, check_annotations_against_store, read_feature_dim
from mmf_domainstudy.formats.imdb import read_imdb
from mmf_domainstudy.utils.atomic import atomic_write_text

EXPERIMENT_CONFIG = os.path.join(BUNDLED_MMF_CONFIGS, "experiments", "region_captioner.yaml")
RUN_CONFIG_NAME = "captioner_run.yaml"


def check_caption_data(annotations, features):
    """Fail before training if the caption file is unusable or its images lack features."""
    _, samples = read_imdb(annotations)
    caption_index(samples, annotations)
    check_annotations_against_store(samples, FeatureStore(features), annotations)
    return len(samples)


def run_config(train_captions, val_captions, train_features, val_features):
    """The run's yaml: the bundled recipe plus these files (absolute paths) and the feature width."""
    dim = read_feature_dim(train_features)
    if read_feature_dim(val_features) != dim:
        raise DataFormatError(f"{train_features} and {val_features} hold features of different widths.")
    paths = {"train": train_captions, "val": val_captions, "test": val_captions}
    stores = {"train": train_features, "val": val_features, "test": val_features}
    return {
        "includes": [EXPERIMENT_CONFIG],
        "dataset_config": {
            DATASET: {
                "annotations": {split: [os.path.abspath(p)] for split, p in paths.items()},
                "features": {split: [os.path.abspath(p)] for split, p in stores.items()},
            }
        },
        "model_config": {MODEL: {"image_feature_dim": dim}},
    }


def mmf_arguments(config_path, save_dir, overrides=()):
    return [
        f"config={config_path}", f"model={MODEL}", f"dataset={DATASET}", "run_type=train_val",
        f"env.save_dir={os.path.abspath(save_dir)}", *overrides,
    ]


def _same_package_env():
    """The child's environment, with this process's mmf_domainstudy first on its path.

    Otherwise a working-tree run could train with an older installed copy.
    """
    root = os.path.dirname(os.path.dirname(os.path.abspath(mmf_domainstudy.__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


def train_captioner(save_dir, train_captions, val_captions, features, val_features=None, overrides=(), progress=True):
    """Train in a child ``mmf_run`` process writing to ``save_dir``; returns the run dir.

    ``overrides`` are mmf_run ``key=value`` options. rc10 reads their values with
    ``ast.literal_eval``, so booleans must be spelled ``True``/``False``.
    """
    val_features = val_features or features
    for annotations, store in ((train_captions, features), (val_captions, val_features)):
        check_caption_data(annotations, store)
    os.makedirs(save_dir, exist_ok=True)
    config_path = os.path.join(os.path.abspath(save_dir), RUN_CONFIG_NAME)
    config = run_config(train_captions, val_captions, features, val_features)
    atomic_write_text(config_path, yaml.safe_dump(config, sort_keys=False))
    overrides = [*overrides, *([] if progress else ["training.progress_bar=False"])]
    command = [sys.executable, "-m", "mmf_domainstudy.run", *mmf_arguments(config_path, save_dir, overrides)]
    if subprocess.run(command, env=_same_package_env()).returncode != 0:
        raise RuntimeError(
            f"captioner training failed (command: {' '.join(command)}); see its output above and "
            f"{os.path.join(save_dir, 'train.log')}."
        )
    return save_dir
