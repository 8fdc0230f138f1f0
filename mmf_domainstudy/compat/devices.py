"""MMF rc10's hard-coded ``.cuda()`` calls on a machine without CUDA.

The override is process-wide (rc10 calls ``Tensor.cuda()`` from model forwards,
embeddings and distributed helpers alike), so the trainer's first log lines name
it among the shims in force.
"""
from .registry import BEFORE_MMF, shim


def _cuda_or_stay(self, device=None, non_blocking=False, **kwargs):
    """Without CUDA every tensor MMF makes lives on the CPU, so stay there."""
    return self


def _no_cuda():
    import torch

    return not torch.cuda.is_available()


@shim(
    "cpu_only_cuda_calls",
    BEFORE_MMF,
    "visual_bert.py, vilbert.py, embeddings.py, distributed.py call Tensor.cuda() unconditionally; "
    "on a CPU-only machine (and only there) Tensor.cuda() returns the tensor unchanged, process-wide",
    detect=_no_cuda,
)
def make_cuda_calls_stay_on_cpu():
    import torch

    torch.Tensor.cuda = _cuda_or_stay
