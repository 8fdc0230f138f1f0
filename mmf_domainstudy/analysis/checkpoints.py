"""Model weights for analysis, from any checkpoint shape MMF and its users produce.

Reading is the zoo's (tensors-only unpickling, errors that name the file); this only
adds what drift needs: the state dict without a DDP prefix, and the saved config.
"""
import os

import torch

from ..zoo.checkpoints import load_checkpoint as load_checkpoint_file
from ..zoo.checkpoints import split_checkpoint, strip_module_prefix


def load_checkpoint(path):
    """Return (state_dict of tensors, saved config or None) from an MMF checkpoint
    (``{"model": ..., "config": ...}``), a bare state dict, or a DDP save."""
    path = os.fspath(path)
    state_dict, config = split_checkpoint(load_checkpoint_file(path), path)
    tensors = {key: value for key, value in state_dict.items() if isinstance(value, torch.Tensor)}
    return strip_module_prefix(tensors), config
