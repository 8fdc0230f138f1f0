"""Checkpoints that survive a kill: rc10's Checkpoint with atomic writes."""
import contextlib
import types

import torch
from mmf.utils import checkpoint as mmf_checkpoint
from mmf.utils.checkpoint import Checkpoint
from mmf.utils.distributed import is_master

from mmf_domainstudy.utils.atomic import atomic_open


def _atomic_save(obj, path, *args, **kwargs):
    with atomic_open(path, "wb") as handle:
        torch.save(obj, handle, *args, **kwargs)


class _TorchWithAtomicSave(types.ModuleType):
    """``torch`` as seen by mmf/utils/checkpoint.py while we save: the same, except ``save``."""

    def __init__(self):
        super().__init__("torch")

    def __getattr__(self, name):
        return _atomic_save if name == "save" else getattr(torch, name)


@contextlib.contextmanager
def _atomic_saves_in_rc10_checkpoint():
    mmf_checkpoint.torch = _TorchWithAtomicSave()
    try:
        yield
    finally:
        mmf_checkpoint.torch = torch


class SafeCheckpoint(Checkpoint):
    """rc10's Checkpoint; every file it writes goes through temp file, fsync, rename."""

    def save(self, update, iteration=None, update_best=False):
        with _atomic_saves_in_rc10_checkpoint():
            super().save(update, iteration, update_best)

    def finalize(self):
        """Also unwraps DDP, so ``<model>_final.pth`` loads the same however it was trained."""
        if not is_master():
            return
        model = self.trainer.model
        model = getattr(model, "module", model)
        _atomic_save(model.state_dict(), self.pth_filepath)
