"""What rc10 gets out of a zoo artifact, read the safe way.

Mirrors rc10's ``load_pretrained_model``: exactly one checkpoint and at most one yaml;
the yaml, else the checkpoint's ``config``, supplies ``model_config.<architecture>``.
Unlike rc10 it loads tensors only unless trusted, and checks that the weights are the
architecture the key promises.
"""
import os
import tempfile

from omegaconf import OmegaConf

from mmf_domainstudy.zoo.archive import artifact_layout, safe_extract
from mmf_domainstudy.zoo.checkpoints import check_architecture, load_checkpoint, split_checkpoint
from mmf_domainstudy.zoo.errors import ZooError


def read_artifact_dir(directory, architecture, trust_remote=False, label=None):
    """``{"config", "checkpoint", "full_config"}`` as rc10's loader returns them.

    Errors name files as ``<label>/<name>`` (e.g. the tar they came from).
    """
    label = label or directory
    checkpoint_name, config_name = artifact_layout(os.listdir(directory), label)
    checkpoint_path = os.path.join(directory, checkpoint_name)
    checkpoint_label = os.path.join(label, checkpoint_name)
    checkpoint = load_checkpoint(checkpoint_path, trust_remote=trust_remote, label=checkpoint_label)
    state_dict, checkpoint_config = split_checkpoint(checkpoint, checkpoint_label)
    check_architecture(state_dict, architecture, checkpoint_label)
    if config_name is not None:
        full_config = OmegaConf.load(os.path.join(directory, config_name))
    elif checkpoint_config is not None:
        full_config = OmegaConf.create(checkpoint_config)
    else:
        raise ZooError(
            f"{checkpoint_label}: no yaml beside this bare state_dict and no 'config' in "
            "it, so MMF cannot rebuild the model. Ship the model's config.yaml in the tar."
        )
    model_config = full_config.get("model_config", full_config).get(architecture)
    if model_config is None:
        raise ZooError(
            f"{os.path.join(label, config_name or checkpoint_name)}: its config has no "
            f"'model_config.{architecture}' section, which MMF needs to rebuild the model."
        )
    return {"config": model_config, "checkpoint": state_dict, "full_config": full_config}


def check_artifact(tar_path, architecture, trust_remote=False):
    """Extract into a throwaway dir (under $TMPDIR) and read it as rc10 would; a summary
    when it passes."""
    with tempfile.TemporaryDirectory(prefix="zoo-check-") as directory:
        checkpoint_name, config_name = safe_extract(tar_path, directory)
        loaded = read_artifact_dir(directory, architecture, trust_remote, label=tar_path)
    return {
        "checkpoint": checkpoint_name,
        "config_file": config_name,
        "tensors": len(loaded["checkpoint"]),
        "architecture": architecture,
    }
