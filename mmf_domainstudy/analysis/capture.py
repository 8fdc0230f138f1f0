"""Attention probabilities and layer outputs of MMF VisualBERT / ViLBERT, via hooks.

Upstream returns no usable attention (ViLBERT never passes its flags; transformers'
SDPA attention returns None for the probabilities), so the hooks recompute
softmax(Q K^T / sqrt(d) + mask) from each attention module's own inputs and
projections. That is exact for the eager path, independent of the attention
implementation, and needs no edit to MMF.
"""
import inspect
import math
from dataclasses import dataclass, field

import torch

from .architecture import (
    ATTENTION_MODULE_SUFFIXES,
    HIDDEN_OUTPUTS,
    LAYER_PATTERNS,
    MAP_NAMES,
    parse_module_name,
)


def valid_positions(mask, batch, length):
    """[batch, length] bool validity from a module's attention mask.

    Accepts additive masks (0 = attend, a large negative such as -10000 = padding,
    shaped [batch, 1, 1, length]), boolean masks (True = attend, SDPA style) and None.
    """
    if mask is None:
        return torch.ones(batch, length, dtype=torch.bool)
    if mask.dim() == 4:
        if mask.shape[1] != 1 or mask.shape[2] != 1:
            raise ValueError(
                f"attention mask of shape {tuple(mask.shape)} varies per head or query; only key-padding "
                "masks [batch, 1, 1, keys] are supported"
            )
        mask = mask[:, 0, 0, :]
    if mask.dim() != 2:
        raise ValueError(f"attention mask must be [batch, 1, 1, keys] or [batch, keys], got {tuple(mask.shape)}")
    valid = mask if mask.dtype == torch.bool else mask > -1.0
    return valid.expand(batch, length)


def attention_probs(module, query_input, key_input, query_proj, key_proj, mask):
    """softmax(Q K^T / sqrt(head_dim) + mask) per head, as [batch, heads, queries, keys]."""
    heads, head_dim = module.num_attention_heads, module.attention_head_size

    def split(states):
        return states.view(states.shape[0], states.shape[1], heads, head_dim).transpose(1, 2)

    scores = split(query_proj(query_input)) @ split(key_proj(key_input)).transpose(-1, -2)
    scores = scores / math.sqrt(head_dim)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool else scores + mask
    return scores.softmax(dim=-1)


def _self_attention(module, inputs):
    """One map for a self-attention module (transformers' or MMF ViLBERT's)."""
    if inputs.get("encoder_hidden_states") is not None:
        raise ValueError("cross-attention through encoder_hidden_states is not captured")
    if getattr(module, "dynamic_attention", False):
        raise ValueError("ViLBERT dynamic_attention gates Q/K by text; capture does not support it (set it false)")
    if getattr(module, "position_embedding_type", "absolute") != "absolute":
        raise ValueError("relative position attention is not captured; use position_embedding_type=absolute")
    hidden, mask = inputs["hidden_states"], inputs.get("attention_mask")
    valid = valid_positions(mask, hidden.shape[0], hidden.shape[1]).to(hidden.device)
    probs = attention_probs(module, hidden, hidden, module.query, module.key, mask)
    return [(None, probs, valid, valid)]


def _bi_attention(module, inputs):
    """Two maps for ViLBERT's co-attention: text queries over image regions (its
    ``attention_probs1``) and image queries over text tokens (``attention_probs2``)."""
    image, image_mask = inputs["input_tensor1"], inputs["attention_mask1"]
    text, text_mask = inputs["input_tensor2"], inputs["attention_mask2"]
    image_valid = valid_positions(image_mask, image.shape[0], image.shape[1]).to(image.device)
    text_valid = valid_positions(text_mask, text.shape[0], text.shape[1]).to(text.device)
    text_queries = attention_probs(module, text, image, module.query2, module.key1, image_mask)
    image_queries = attention_probs(module, image, text, module.query1, module.key2, text_mask)
    return [("text", text_queries, text_valid, image_valid), ("image", image_queries, image_valid, text_valid)]


_MAP_FUNCTIONS = {"layer": _self_attention, "v_layer": _self_attention, "c_layer": _bi_attention}


@dataclass
class CapturedStream:
    """One attention stream's latest forward: per-layer maps, masks, layer outputs."""

    probs: list
    query_mask: torch.Tensor
    key_mask: torch.Tensor
    hidden: list = field(default_factory=list)


class AttentionCapture:
    """Context manager that hooks a model's attention modules (and, optionally, its
    layers' outputs) and keeps what the latest forward produced.

    >>> with AttentionCapture(model, hidden_states=True) as capture:
    ...     model(sample_list)
    >>> capture.streams()["layer"].probs[0].shape   # [batch, heads, queries, keys]
    """

    def __init__(self, model, hidden_states=False):
        self.model = model
        self.hidden_states = hidden_states
        self._handles = []
        self._maps = {}
        self._hidden = {}

    def __enter__(self):
        layer_suffixes = {stream: "" for stream in LAYER_PATTERNS}
        for name, module in self.model.named_modules():
            found = parse_module_name(name, ATTENTION_MODULE_SUFFIXES)
            if found:
                self._handles.append(module.register_forward_hook(self._map_hook(module, *found), with_kwargs=True))
            found = parse_module_name(name, layer_suffixes) if self.hidden_states else None
            if found:
                self._handles.append(module.register_forward_hook(self._hidden_hook(*found)))
        if not self._handles:
            raise ValueError(
                f"{type(self.model).__name__} has no attention modules named like "
                "'...encoder.layer.N.attention.self' or ViLBERT's v_layer/c_layer; is it VisualBERT or ViLBERT?"
            )
        return self

    def __exit__(self, *exc_info):
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _map_hook(self, module, stream, layer):
        signature = inspect.signature(module.forward)
        compute = _MAP_FUNCTIONS[stream]

        def hook(module, args, kwargs, output):
            inputs = signature.bind(*args, **kwargs).arguments
            with torch.no_grad():
                for side, probs, query_valid, key_valid in compute(module, inputs):
                    name = f"{stream}.{side}" if side else stream
                    self._maps.setdefault(name, {})[layer] = (probs.detach(), query_valid, key_valid)

        return hook

    def _hidden_hook(self, stream, layer):
        def hook(module, args, output):
            for name, (module_stream, index) in HIDDEN_OUTPUTS.items():
                if module_stream == stream:
                    self._hidden.setdefault(name, {})[layer] = output[index].detach()

        return hook

    def clear(self):
        self._maps.clear()
        self._hidden.clear()

    def streams(self):
        """name -> CapturedStream for every map the latest forward produced, layers in
        order, with the masks all of a stream's layers share."""
        captured = {}
        for name in MAP_NAMES:
            layers = self._maps.get(name)
            if not layers:
                continue
            order = sorted(layers)
            if order != list(range(len(order))):
                raise ValueError(f"stream {name!r}: captured layers {order}, expected 0..{len(order) - 1}")
            first = layers[order[0]]
            for index in order:
                if not (torch.equal(layers[index][1], first[1]) and torch.equal(layers[index][2], first[2])):
                    raise ValueError(f"stream {name!r}: layer {index} saw other padding than layer {order[0]}")
            hidden = self._hidden.get(name, {})
            captured[name] = CapturedStream(
                probs=[layers[index][0] for index in order],
                query_mask=first[1],
                key_mask=first[2],
                hidden=[hidden[index] for index in order if index in hidden],
            )
        return captured
