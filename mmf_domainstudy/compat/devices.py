"""MMF rc10's hard-coded ``.cuda()`` calls on a machine without CUDA."""
import torch

from .registry import BEFORE_MMF, shim

_original_tensor_cuda = torch.Tensor.cuda


def _cuda_or_stay(self, device=None, non_blocking=False, **kwargs):
    """Without CUDA every tensor MMF makes lives on the CPU, so stay there."""
    return self


@shim(
    "cpu_only_cuda_calls",
    BEFORE_MMF,
    "visual_bert.py, vilbert.py, embeddings.py, distributed.py call Tensor.cuda() unconditionally; "
    "on a CPU-only machine (and only there) it returns the tensor unchanged",
    detect=lambda: not torch.cuda.is_available(),
)
def make_cuda_calls_stay_on_cpu():
    torch.Tensor.cuda = _cuda_or_stay
