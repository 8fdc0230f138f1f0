"""Read model weights from the checkpoint shapes MMF and its users produce."""
import os

import torch

DDP_PREFIX = "module."


def load_checkpoint(path):
    """Return (state_dict, config or None) from an MMF checkpoint or a bare state dict.

    MMF saves ``{"model": state_dict, "config": ..., ...}``; zoo files and hand exports
    are often the bare state dict; DDP-wrapped saves carry a ``module.`` prefix. Loading
    uses ``weights_only=True`` so a checkpoint cannot run code.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint {path!r} does not exist; pass the path of a .ckpt/.pth file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise ValueError(
            f"cannot read checkpoint {path!r} with torch.load(weights_only=True): {error}. "
            "Re-save it as plain tensors and containers (e.g. torch.save({'model': model.state_dict()}, path))."
        ) from error
    if not isinstance(payload, dict):
        raise ValueError(f"checkpoint {path!r} holds a {type(payload).__name__}, expected a dict (state dict or MMF checkpoint)")
    config = payload.get("config") if isinstance(payload.get("model"), dict) else None
    state_dict = payload["model"] if isinstance(payload.get("model"), dict) else payload
    tensors = {key: value for key, value in state_dict.items() if isinstance(value, torch.Tensor)}
    if not tensors:
        raise ValueError(f"checkpoint {path!r} contains no tensors under 'model' or at top level")
    return strip_ddp_prefix(tensors), config


def strip_ddp_prefix(state_dict):
    """Drop a ``module.`` prefix that DistributedDataParallel adds to every key."""
    if all(key.startswith(DDP_PREFIX) for key in state_dict):
        return {key[len(DDP_PREFIX):]: value for key, value in state_dict.items()}
    return dict(state_dict)
