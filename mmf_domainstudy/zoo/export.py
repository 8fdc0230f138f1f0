"""A finished MMF run dir -> a local zoo artifact rc10 can resume from or rebuild.

The artifact holds ``model.pth`` = ``{"model": state_dict, "config": run config}`` and
the same run config as ``config.yaml``: rc10 reads the yaml (``full_config.model_config``
must be a DictConfig for ``checkpoint.zoo_config_override``), and the checkpoint stays
self-describing when taken out of the tar. Optimizer state is left behind: finetuning
starts its own.
"""
import glob
import os
import re
import tempfile

import torch
import yaml

from mmf_domainstudy.zoo.archive import sha256_file, write_artifact_tar
from mmf_domainstudy.zoo.artifact import check_artifact
from mmf_domainstudy.zoo.checkpoints import (
    ARCHITECTURES,
    check_architecture,
    load_checkpoint,
    split_checkpoint,
    strip_module_prefix,
)
from mmf_domainstudy.zoo.errors import ArchitectureMismatchError, ZooError
from mmf_domainstudy.zoo.local_zoo import (
    add_entry,
    artifacts_dir,
    check_key_free,
    default_version,
    key_architecture,
    make_entry,
)

CHECKPOINT_CHOICES = ("auto", "final", "best", "current")


def load_run_config(run_dir):
    """The run's resolved ``config.yaml`` (written with the run's first checkpoint)."""
    path = os.path.join(run_dir, "config.yaml")
    if not os.path.isfile(path):
        raise ZooError(
            f"{path}: not found. Pass the run's save dir (env.save_dir), where MMF "
            "writes config.yaml beside its checkpoints."
        )
    try:
        with open(path) as handle:
            config = yaml.safe_load(handle)
    except yaml.YAMLError as error:
        raise ZooError(f"{path}: not valid yaml ({error}).") from error
    model = config.get("model") if isinstance(config, dict) else None
    if model not in ARCHITECTURES:
        raise ZooError(
            f"{path}: 'model' is {model!r}; only {' and '.join(ARCHITECTURES)} runs can be "
            "exported to the zoo."
        )
    if not isinstance((config.get("model_config") or {}).get(model), dict):
        raise ZooError(
            f"{path}: has no 'model_config.{model}' section, which MMF needs to rebuild "
            "the model."
        )
    return config


def _run_checkpoint_candidates(run_dir, model):
    """Candidate files per choice, in rc10's and the study trainer's naming."""
    return {
        "final": [os.path.join(run_dir, "models", "model_final.pth")]
        + sorted(glob.glob(os.path.join(run_dir, f"*{model}_final.pth"))),
        "best": [os.path.join(run_dir, "best.ckpt")],
        "current": [os.path.join(run_dir, "current.ckpt")],
    }


def find_run_checkpoint(run_dir, model, which="auto"):
    """The run's checkpoint: ``which`` one, or with "auto" final, else best, else current."""
    if which not in CHECKPOINT_CHOICES:
        raise ZooError(f"checkpoint choice {which!r} is not one of {CHECKPOINT_CHOICES}.")
    candidates = _run_checkpoint_candidates(run_dir, model)
    order = ("final", "best", "current") if which == "auto" else (which,)
    for choice in order:
        for path in candidates[choice]:
            if os.path.isfile(path):
                return path
    looked = [path for choice in order for path in candidates[choice]]
    raise ZooError(
        f"{run_dir}: no {which} checkpoint found (looked for {looked}); has the run "
        "saved a checkpoint yet?"
    )


def default_key(model, run_dir):
    """``<model>.domain_study.<run dir name>``, the name made key-safe."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", os.path.basename(os.path.normpath(run_dir)))
    return f"{model}.domain_study.{name.strip('_') or 'run'}"


def _build_artifact(state_dict, config, staging):
    checkpoint_path = os.path.join(staging, "model.pth")
    config_path = os.path.join(staging, "config.yaml")
    torch.save({"model": state_dict, "config": config}, checkpoint_path)
    with open(config_path, "w") as handle:
        yaml.safe_dump(config, handle, sort_keys=False)
    tar_path = os.path.join(staging, "artifact.tar")
    write_artifact_tar(tar_path, {"model.pth": checkpoint_path, "config.yaml": config_path})
    return tar_path


def export_run(run_dir, key=None, zoo=None, which="auto", version=None, overwrite=False,
               trust_remote=False):
    """Package the run's weights and config, register them under ``key``; ``(key, entry)``.

    The tar is checked the way rc10 will read it (tensors-only load, layout,
    architecture) before it is published, and is named by its sha256, so replacing an
    entry with ``overwrite`` never deletes the artifact it pointed to.
    """
    config = load_run_config(run_dir)
    model = config["model"]
    key = key or default_key(model, run_dir)
    check_key_free(key, zoo, overwrite)
    if key_architecture(key) != model:
        raise ArchitectureMismatchError(
            f"{run_dir} trained a {model} model but zoo key {key!r} starts with "
            f"{key_architecture(key)!r}; use a key starting with '{model}.'."
        )
    checkpoint_path = find_run_checkpoint(run_dir, model, which)
    state_dict, _ = split_checkpoint(load_checkpoint(checkpoint_path, trust_remote), checkpoint_path)
    state_dict = strip_module_prefix(state_dict)
    check_architecture(state_dict, model, checkpoint_path)

    artifacts = artifacts_dir(zoo)
    os.makedirs(artifacts, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".export-", dir=artifacts) as staging:
        tar_path = _build_artifact(state_dict, config, staging)
        check_artifact(tar_path, model)
        sha256 = sha256_file(tar_path)
        file_name = f"{key}.{sha256[:12]}.tar"
        os.replace(tar_path, os.path.join(artifacts, file_name))
    entry = make_entry(
        file_name,
        sha256,
        version or default_version(),
        model,
        source=os.path.abspath(checkpoint_path),
        trust_remote=False,
    )
    add_entry(key, entry, zoo, overwrite)
    return key, entry
