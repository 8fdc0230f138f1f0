"""What an exact resume needs beyond rc10's checkpoint: RNG streams and the data position.

rc10 restarts the interrupted epoch with fresh randomness. Here a checkpoint also
carries every RNG state and how many batches of the current epoch were consumed;
the seeded sampler then skips exactly those, so a killed-and-resumed run sees the
same batches, masks and dropout as an uninterrupted one (with num_workers=0; with
worker processes the masks drawn inside workers differ after a resume).
"""
import contextlib
import random

import numpy as np
import torch
from torch.utils.data import DistributedSampler

STATE_KEY = "domain_study_trainer_state"


class ResumableSampler(DistributedSampler):
    """A (seed, epoch)-determined shuffle that can start mid-epoch once."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._skip_next = 0

    def skip_next_iteration(self, num_indices):
        self._skip_next = num_indices

    def __iter__(self):
        indices = list(super().__iter__())
        skip, self._skip_next = self._skip_next, 0
        return iter(indices[skip:])

    def __len__(self):
        return super().__len__() - self._skip_next


def capture_rng_state():
    """Every RNG stream MMF's data and models draw from, as tensors (weights_only-safe)."""
    numpy_state = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy_keys": torch.from_numpy(numpy_state[1].astype(np.int64)),
        "numpy_meta": [numpy_state[0], int(numpy_state[2]), int(numpy_state[3]), float(numpy_state[4])],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state):
    random.setstate(_as_python_state(state["python"]))
    name, position, has_gauss, cached = state["numpy_meta"]
    np.random.set_state((name, state["numpy_keys"].numpy().astype(np.uint32), position, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _as_python_state(state):
    version, internal, gauss = state
    return version, tuple(internal), gauss


@contextlib.contextmanager
def rng_preserved():
    """Run side work (evaluation, creating a loader iterator) without moving the training RNGs."""
    state = capture_rng_state()
    try:
        yield state
    finally:
        restore_rng_state(state)
