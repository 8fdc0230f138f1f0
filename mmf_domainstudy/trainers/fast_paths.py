"""The domain_study trainer's model-side fast paths; their switches and defaults are in
configs/mmf/defaults.yaml (training section). Each keeps the loss curve of the plain
path within the tolerance tests/test_fast_paths.py states.

- ``fused_attention`` (default: on CUDA only): SDPA in every attention module
  (models/fast_attention.py says why not on a CPU).
- ``compile`` (default false): ``torch.compile`` of the transformer encoder (all layers,
  ``model.bert.encoder``). ``true`` means inductor; a backend name (``aot_eager``,
  ``eager``) picks another, for debugging. It is compiled in place (``nn.Module.compile``),
  so state-dict keys and checkpoints are unchanged. Embeddings, heads and losses stay
  eager: MMF's embeddings call ``Tensor.cuda()``, which the CPU shim cannot make
  traceable, and the sparse masked-LM head and ViLBERT's region loss have data-dependent
  shapes. The first update compiles forward and backward (and evaluation once more):
  about a minute on a GPU at base size, minutes on a CPU (a 2-layer, 32-wide ViLBERT
  took 2 min on 2 busy cores with inductor).
- float16 region features (per dataset, datasets/float16_features.py) arrive as
  float32 in the model through a pre-hook this module registers.
"""
import torch
from mmf.models.vilbert import ViLBERT
from mmf.models.visual_bert import VisualBERT

from mmf_domainstudy.datasets.float16_features import cast_float16_features
from mmf_domainstudy.models.fast_attention import set_attention_path
from mmf_domainstudy.utils.config_values import decode_boolean


def apply_model_fast_paths(model, fused_attention, compile_option):
    """Switch ``model`` (an MMF model, unwrapped) to the configured paths; returns a log line."""
    bound = set_attention_path(model, fused_attention)
    model.register_forward_pre_hook(cast_float16_features)
    backend = compile_backend(compile_option)
    if backend is not None:
        _transformer_encoder(model).compile(backend=backend)
    attention = "fused (SDPA)" if fused_attention else "plain (explicit softmax)"
    modules = ", ".join(f"{count} {name}" for name, count in sorted(bound.items())) or "no known module"
    compiled = f"model.bert.encoder compiled with {backend}" if backend else "not compiled"
    return f"Attention {attention} in {modules}; {compiled}"


def compile_backend(option):
    """``training.compile`` -> a torch.compile backend name, or None for no compilation."""
    boolean = decode_boolean(option)
    if option is None or boolean is not None:
        return "inductor" if boolean else None
    if isinstance(option, str) and option:
        return option
    raise ValueError(f"training.compile={option!r}: set false, true (inductor) or a torch.compile backend name")


def _transformer_encoder(model):
    encoder = getattr(getattr(getattr(model, "model", None), "bert", None), "encoder", None)
    if encoder is None:
        raise ValueError(
            f"training.compile is set, but {type(model).__name__} has no transformer encoder "
            "(model.bert.encoder) to compile; compile knows visual_bert and vilbert: set training.compile=false"
        )
    return encoder


def leaves_parameters_unused(model):
    """Whether a training step leaves trainable parameters without a gradient, which
    DDP must then search for every step (``find_unused_parameters``).

    ViLBERT: always (rc10 builds co-attention ``q_dense1``/``q_dense2`` its forward never
    calls; pretraining also leaves the poolers and next-sentence weights unused).
    VisualBERT: under the pretraining head only (pooler and next-sentence weights);
    its classification heads use every parameter.
    """
    if isinstance(model, ViLBERT):
        return True
    return isinstance(model, VisualBERT) and "pretraining" in str(model.config.get("training_head_type", ""))


def emulated_precision_note(device, precision):
    """A warning line when ``precision`` autocast on this CPU is emulated (no AVX512-BF16,
    AVX512-FP16 or AMX): there it runs slower than fp32, e.g. a 2-core Zen 3 ran the demo
    2x slower in bf16. None where the hardware has the format, or on CUDA."""
    native = {"bf16": torch.ops.mkldnn._is_mkldnn_bf16_supported, "fp16": torch.ops.mkldnn._is_mkldnn_fp16_supported}
    if device.type != "cpu" or precision not in native or native[precision]():
        return None
    return (
        f"training.precision={precision} on a CPU without native {precision} ({torch.backends.cpu.get_cpu_capability()}): "
        "autocast emulates it, usually slower than fp32; set training.precision=fp32 here "
        "(benchmarks/pretrain_throughput.py --variants fast fast-bf16 measures both)"
    )
