"""Checkpoints that survive a kill: rc10's Checkpoint with atomic writes."""
import contextlib
import types

import torch
from mmf.utils import checkpoint as mmf_checkpoint
from mmf.utils.checkpoint import Checkpoint
from mmf.utils.distributed import is_master

from mmf_domainstudy.trainers.resume import STATE_KEY
from mmf_domainstudy.utils.atomic import atomic_open


def _atomic_save(obj, path, *args, **kwargs):
    with atomic_open(path, "wb") as handle:
        torch.save(obj, handle, *args, **kwargs)


class _TorchWithAtomicSave(types.ModuleType):
    """``torch`` as seen by mmf/utils/checkpoint.py while we save: the same, except ``save``,
    which is atomic and adds the trainer's resume state to training checkpoints."""

    def __init__(self, trainer_state):
        super().__init__("torch")
        self.trainer_state = trainer_state

    def __getattr__(self, name):
        return getattr(torch, name)

    def save(self, obj, path, *args, **kwargs):
        if isinstance(obj, dict) and "optimizer" in obj:
            obj = dict(obj, **{STATE_KEY: self.trainer_state})
        _atomic_save(obj, path, *args, **kwargs)


@contextlib.contextmanager
def _atomic_saves_in_rc10_checkpoint(trainer_state):
    mmf_checkpoint.torch = _TorchWithAtomicSave(trainer_state)
    try:
        yield
    finally:
        mmf_checkpoint.torch = torch


class SafeCheckpoint(Checkpoint):
    """rc10's Checkpoint, plus: every file is written atomically (temp file, fsync,
    rename), and training checkpoints carry what an exact resume needs."""

    resumed_trainer_state = None

    def save(self, update, iteration=None, update_best=False):
        with _atomic_saves_in_rc10_checkpoint(self.trainer.resume_state()):
            super().save(update, iteration, update_best)

    def _load(self, file, force=False, load_zoo=False, load_pretrained=False):
        self._full_resume = not (load_zoo or load_pretrained)
        super()._load(file, force=force, load_zoo=load_zoo, load_pretrained=load_pretrained)

    def _torch_load(self, file):
        ckpt = super()._torch_load(file)
        if getattr(self, "_full_resume", False) and isinstance(ckpt, dict):
            self.resumed_trainer_state = ckpt.get(STATE_KEY)
        return ckpt

    def finalize(self):
        """Also unwraps DDP, so ``<model>_final.pth`` loads the same however it was trained."""
        if not is_master():
            return
        model = self.trainer.model
        model = getattr(model, "module", model)
        _atomic_save(model.state_dict(), self.pth_filepath)
