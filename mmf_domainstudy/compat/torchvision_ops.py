"""torchvision's compiled ops, when its wheel does not match the installed torch.

PyPI's torchvision wheels are CUDA builds; beside a CPU-only torch their ``_C``
extension fails to load, and ``import torchvision`` then dies registering
fake/autograd kernels for ops that were never defined. Defining the op schemas
(without kernels) lets torchvision import; the ops themselves still raise if
called, which MMF's VisualBERT/ViLBERT never do.
"""
import glob
import importlib.util
import os

from .registry import BEFORE_MMF, shim

# torchvision's op schemas, as its C++ extension declares them.
TORCHVISION_OP_SCHEMAS = {
    "nms": "(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "roi_align": "(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, SymInt pooled_width, int sampling_ratio, bool aligned) -> Tensor",
    "qroi_align": "(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, SymInt pooled_width, int sampling_ratio, bool aligned) -> Tensor",
    "_roi_align_backward": "(Tensor grad, Tensor rois, float spatial_scale, SymInt pooled_height, SymInt pooled_width, SymInt batch_size, SymInt channels, SymInt height, SymInt width, int sampling_ratio, bool aligned) -> Tensor",
    "ps_roi_align": "(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, SymInt pooled_width, int sampling_ratio) -> (Tensor, Tensor)",
    "_ps_roi_align_backward": "(Tensor grad, Tensor rois, Tensor channel_mapping, float spatial_scale, SymInt pooled_height, SymInt pooled_width, int sampling_ratio, SymInt batch_size, SymInt channels, SymInt height, SymInt width) -> Tensor",
    "roi_pool": "(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, SymInt pooled_width) -> (Tensor, Tensor)",
    "_roi_pool_backward": "(Tensor grad, Tensor rois, Tensor argmax, float spatial_scale, SymInt pooled_height, SymInt pooled_width, SymInt batch_size, SymInt channels, SymInt height, SymInt width) -> Tensor",
    "ps_roi_pool": "(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, SymInt pooled_width) -> (Tensor, Tensor)",
    "_ps_roi_pool_backward": "(Tensor grad, Tensor rois, Tensor channel_mapping, float spatial_scale, SymInt pooled_height, SymInt pooled_width, SymInt batch_size, SymInt channels, SymInt height, SymInt width) -> Tensor",
    "deform_conv2d": "(Tensor input, Tensor weight, Tensor offset, Tensor mask, Tensor bias, SymInt stride_h, SymInt stride_w, SymInt pad_h, SymInt pad_w, SymInt dilation_h, SymInt dilation_w, SymInt groups, SymInt offset_groups, bool use_mask) -> Tensor",
    "_deform_conv2d_backward": "(Tensor grad, Tensor input, Tensor weight, Tensor offset, Tensor mask, Tensor bias, SymInt stride_h, SymInt stride_w, SymInt pad_h, SymInt pad_w, SymInt dilation_h, SymInt dilation_w, SymInt groups, SymInt offset_groups, bool use_mask) -> (Tensor, Tensor, Tensor, Tensor, Tensor)",
}

_schema_library = None


def torchvision_extension_path():
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = list(spec.submodule_search_locations)[0]
    found = glob.glob(os.path.join(folder, "_C*.so")) + glob.glob(os.path.join(folder, "_C*.pyd"))
    return found[0] if found else None


def torchvision_ops_missing():
    """True when torchvision is installed but its compiled ops cannot be loaded."""
    import torch

    path = torchvision_extension_path()
    if path is None:
        return importlib.util.find_spec("torchvision") is not None
    if hasattr(torch.ops, "torchvision") and _has_op("nms"):
        return False
    try:
        torch.ops.load_library(path)
    except (OSError, RuntimeError):
        return True
    return not _has_op("nms")


def _has_op(name):
    import torch

    try:
        getattr(torch.ops.torchvision, name)
        return True
    except (AttributeError, RuntimeError):
        return False


@shim(
    "torchvision_cpu_ops",
    BEFORE_MMF,
    "torchvision CUDA wheel beside CPU torch: 'operator torchvision::nms does not exist' at import",
    detect=torchvision_ops_missing,
)
def define_torchvision_op_schemas():
    import torch

    global _schema_library
    _schema_library = torch.library.Library("torchvision", "DEF")
    for name, schema in TORCHVISION_OP_SCHEMAS.items():
        if not _has_op(name):
            _schema_library.define(name + schema)
