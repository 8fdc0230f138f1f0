"""Model weights for analysis, from any checkpoint shape MMF and its users produce.

Reading is the zoo's (tensors-only unpickling, errors that name the file); this only
adds what drift needs: the state dict without a DDP prefix, and the saved config.
"""
import os

import torch
import yaml

from ..zoo.checkpoints import load_checkpoint, split_checkpoint, strip_module_prefix

RUN_CONFIG = "config.yaml"


def run_config_beside(path):
    """``config.yaml`` in the checkpoint's folder (MMF writes it into every save dir), or None."""
    candidate = os.path.join(os.path.dirname(os.path.abspath(path)), RUN_CONFIG)
    return candidate if os.path.isfile(candidate) else None


def load_weights_and_config(path):
    """Return (state_dict of tensors, saved config or None) from an MMF checkpoint
    (``{"model": ..., "config": ...}``), a bare state dict, or a DDP save.

    rc10's ``<model>_final.pth`` is a bare state dict; its config is the run's
    ``config.yaml`` beside it, so that is read when the file embeds none.
    """
    path = os.fspath(path)
    state_dict, config = split_checkpoint(load_checkpoint(path), path)
    beside = run_config_beside(path)
    if config is None and beside:
        with open(beside) as handle:
            config = yaml.safe_load(handle)
    tensors = {key: value for key, value in state_dict.items() if isinstance(value, torch.Tensor)}
    return strip_module_prefix(tensors), config
