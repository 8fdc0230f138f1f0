"""Checkpoints that survive a kill: rc10's Checkpoint with atomic writes and checked loads."""
import contextlib
import os
import types

import torch
from mmf.utils import checkpoint as mmf_checkpoint
from mmf.utils.checkpoint import Checkpoint
from mmf.utils.distributed import is_master

from mmf_domainstudy.utils.errors import ConfigError
from mmf_domainstudy.trainers.resume import STATE_KEY
from mmf_domainstudy.utils.atomic import atomic_copy, atomic_open, atomic_write_text
from mmf_domainstudy.zoo.checkpoints import ARCHITECTURES, detect_architecture, load_checkpoint, strip_module_prefix
from mmf_domainstudy.zoo.errors import ArchitectureMismatchError


def _atomic_save(obj, path, *args, **kwargs):
    with atomic_open(path, "wb") as handle:
        torch.save(obj, handle, *args, **kwargs)


class _TorchWithAtomicSave(types.ModuleType):
    """``torch`` as seen by mmf/utils/checkpoint.py during one save: the same, except ``save``,
    which is atomic, adds the trainer's resume state to training checkpoints, and writes an
    object once: rc10 saves one checkpoint dict as model_N.ckpt, best.ckpt and current.ckpt
    (at base size 3 x 1.3 GB serialized, ~15 s), so the second and third are the first
    file's bytes (utils.atomic.atomic_copy)."""

    def __init__(self, trainer_state):
        super().__init__("torch")
        self.trainer_state = trainer_state
        self._first_path_of = {}  # id of an object saved during this save -> where

    def __getattr__(self, name):
        return getattr(torch, name)

    def save(self, obj, path, *args, **kwargs):
        first_path = self._first_path_of.get(id(obj))
        if first_path is not None:
            atomic_copy(first_path, path)
            return
        saved = dict(obj, **{STATE_KEY: self.trainer_state}) if isinstance(obj, dict) and "optimizer" in obj else obj
        _atomic_save(saved, path, *args, **kwargs)
        self._first_path_of[id(obj)] = path


@contextlib.contextmanager
def _atomic_saves_in_rc10_checkpoint(trainer_state):
    mmf_checkpoint.torch = _TorchWithAtomicSave(trainer_state)
    try:
        yield
    finally:
        mmf_checkpoint.torch = torch


class SafeCheckpoint(Checkpoint):
    """rc10's Checkpoint, plus: every file is written atomically (temp file, fsync,
    rename), and training checkpoints carry what an exact resume needs.

    Loading fails with a clear message on a missing, damaged or other-architecture
    checkpoint (rc10 raises torch's internal errors, or loads another architecture's
    weights with ``strict=False`` and silently keeps random ones). config.yaml is
    written with the run's first checkpoint instead of when the run starts, so it
    always describes the checkpoints beside it, and a run that fails before saving
    one (bad data, a full disk) leaves the save dir's files as they were.
    """

    resumed_trainer_state = None
    _config_saved = False

    def save_config(self):
        """rc10 calls this on construction; the config is written by ``_save_config_once``."""

    def _save_config_once(self):
        if is_master() and not self._config_saved:
            atomic_write_text(os.path.join(self.ckpt_foldername, "config.yaml"), self.config.pretty(resolve=True))
            self._config_saved = True

    def load_state_dict(self):
        self._check_resume_file_exists()
        super().load_state_dict()

    def _check_resume_file_exists(self):
        """rc10's condition for starting from ``checkpoint.resume_file``, with a clear error if it is missing."""
        config = self.config.checkpoint
        own = "best.ckpt" if config.resume_best else "current.ckpt"
        resumes_own = config.resume and os.path.exists(os.path.join(self.ckpt_foldername, self.ckpt_prefix + own))
        missing = config.resume_file and not os.path.exists(config.resume_file)
        if missing and config.resume_zoo is None and not resumes_own:
            raise ConfigError(
                f"checkpoint.resume_file={config.resume_file} does not exist; fix the path (a run's weights are "
                "<save_dir>/<model>_final.pth), or drop checkpoint.resume_file to start from initial weights"
            )

    def save(self, update, iteration=None, update_best=False):
        with _atomic_saves_in_rc10_checkpoint(self.trainer.resume_state()):
            super().save(update, iteration, update_best)
        self._save_config_once()

    def _load(self, file, force=False, load_zoo=False, load_pretrained=False):
        self._full_resume = not (load_zoo or load_pretrained)
        super()._load(file, force=force, load_zoo=load_zoo, load_pretrained=load_pretrained)

    def _load_counts(self, ckpt):
        """Also the update early stopping counts its patience from: rc10 restores the best
        metric and iteration but leaves ``best_monitored_update`` at 0, so a resumed run
        stopped early where the uninterrupted one went on."""
        super()._load_counts(ckpt)
        if "best_update" in ckpt:
            self.trainer.early_stopping.best_monitored_update = ckpt["best_update"]

    def _torch_load(self, file):
        ckpt = load_checkpoint(file, label=f"checkpoint {file}")  # tensors only; damage named as such
        self._check_architecture(ckpt, file)
        if getattr(self, "_full_resume", False) and isinstance(ckpt, dict):
            self.resumed_trainer_state = ckpt.get(STATE_KEY)
        return ckpt

    def _check_architecture(self, ckpt, file):
        expected = self.config.model
        state = ckpt.get("model", ckpt) if isinstance(ckpt, dict) else {}
        detected = detect_architecture(strip_module_prefix(state))
        if expected not in ARCHITECTURES or detected == expected:
            return
        if detected:
            holds = f"{detected} weights"
        else:
            holds = f"neither VisualBERT nor ViLBERT weights (first keys: {', '.join(list(state)[:3])})"
        raise ArchitectureMismatchError(
            f"checkpoint {file} holds {holds}, judged from its key names, but this run's model is {expected}; "
            f"point checkpoint.resume_file at {expected} weights" + (f", or run model={detected}" if detected else "")
        )

    def finalize(self):
        """Also unwraps DDP, so ``<model>_final.pth`` loads the same however it was trained."""
        if not is_master():
            return
        model = self.trainer.model
        model = getattr(model, "module", model)
        _atomic_save(model.state_dict(), self.pth_filepath)
        self._save_config_once()
