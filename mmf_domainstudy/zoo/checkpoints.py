"""Reading checkpoints safely and telling VisualBERT weights from ViLBERT weights.

A checkpoint is a pickle: loading one from an untrusted source may run its code. Here
``torch.load(weights_only=True)`` is always tried first, and full unpickling happens
only when the caller says it trusts the file.
"""
import os
import pickle
import re
from collections.abc import Mapping

import torch

from mmf_domainstudy.zoo.errors import (
    ArchitectureMismatchError,
    CorruptCheckpointError,
    UntrustedCheckpointError,
    ZooError,
)

ARCHITECTURES = ("visual_bert", "vilbert")

# Key segments that only one architecture's state_dict has (rc10 module names):
# VisualBERT's visual embeddings vs ViLBERT's image stream, co-attention and poolers.
_MARKERS = {
    "visual_bert": {"token_type_embeddings_visual", "position_embeddings_visual"},
    "vilbert": {"v_embeddings", "v_layer", "c_layer", "t_pooler", "v_pooler"},
}
# torch's two wordings of a name that tensors-only unpickling refuses: a class or function
# outside its allowlist ("Unsupported global: GLOBAL x.Y was not an allowed global"), or
# one from a module it blocks outright ("Trying to load unsupported GLOBAL posix.system
# whose module posix is blocked", torch >= 2.6).
_UNSUPPORTED_GLOBAL = re.compile(r"(?:Unsupported global: GLOBAL|unsupported GLOBAL) (\S+)")


def _refuse_untrusted(path, error):
    found = _UNSUPPORTED_GLOBAL.search(str(error))
    return UntrustedCheckpointError(
        f"{path}: this checkpoint needs arbitrary unpickling: use --trust only for a file you "
        "trust (tools/zoo.py import/export --trust; trust_remote=True in the API). It references "
        f"the Python object {found.group(1)}: loading it can run code from the file. If that "
        "name looks cut short, the file is more likely truncated: check its sha256."
    )


def _corrupt(path, error):
    return CorruptCheckpointError(
        f"{path}: cannot read this checkpoint ({type(error).__name__}: "
        f"{str(error).splitlines()[0] if str(error) else 'no detail'}). It is truncated, "
        "damaged or not a torch checkpoint: check its sha256 or export it again."
    )


def load_checkpoint(path, trust_remote=False, label=None):
    """Load a checkpoint onto the CPU: tensors-only unpickling unless ``trust_remote``.

    Errors name the file as ``label`` (default ``path``).
    """
    label = label or path
    if not os.path.isfile(path):
        raise ZooError(f"{label}: checkpoint file not found.")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if not _UNSUPPORTED_GLOBAL.search(str(error)):
            raise _corrupt(label, error) from error
        if not trust_remote:
            raise _refuse_untrusted(label, error) from error
    except Exception as error:
        # torch reports damage as many types: RuntimeError, EOFError, KeyError, ...
        raise _corrupt(label, error) from error
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:
        raise _corrupt(label, error) from error


def _is_state_dict(value):
    return (
        isinstance(value, Mapping)
        and len(value) > 0
        and any(isinstance(tensor, torch.Tensor) for tensor in value.values())
    )


def split_checkpoint(checkpoint, path):
    """``(state_dict, config or None)`` from a bare state_dict or ``{"model": ..., ...}``."""
    if isinstance(checkpoint, Mapping) and _is_state_dict(checkpoint.get("model")):
        return dict(checkpoint["model"]), checkpoint.get("config")
    if _is_state_dict(checkpoint):
        return dict(checkpoint), None
    keys = list(checkpoint)[:8] if isinstance(checkpoint, Mapping) else type(checkpoint).__name__
    raise ZooError(
        f"{path}: holds neither a state_dict nor {{'model': state_dict, 'config': ...}} "
        f"(found {keys})."
    )


def strip_module_prefix(state_dict):
    """Drop the ``module.`` that DataParallel/DDP puts before every key."""
    if state_dict and all(key.startswith("module.") for key in state_dict):
        return {key[len("module."):]: value for key, value in state_dict.items()}
    return state_dict


def detect_architecture(state_dict):
    """'visual_bert', 'vilbert', or None when the key names match neither or both."""
    segments = {segment for key in state_dict for segment in key.split(".")}
    found = [arch for arch, markers in _MARKERS.items() if segments & markers]
    return found[0] if len(found) == 1 else None


def check_architecture(state_dict, expected, source):
    """Refuse weights whose key names do not show ``expected``'s modules."""
    detected = detect_architecture(state_dict)
    if detected == expected:
        return
    if detected is None:
        sample = ", ".join(list(state_dict)[:4])
        raise ArchitectureMismatchError(
            f"{source}: its key names match neither VisualBERT nor ViLBERT (first keys: "
            f"{sample}); expected {expected} weights."
        )
    raise ArchitectureMismatchError(
        f"{source}: holds {detected} weights (judged from its key names) but {expected} "
        f"weights are expected. Use a {expected} checkpoint, or a zoo key starting "
        f"with '{detected}.' for a {detected} model."
    )
