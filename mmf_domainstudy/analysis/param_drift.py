"""How far self-attention weights moved between two checkpoints of one architecture."""
import logging
from collections import defaultdict

import torch

from .architecture import DEFAULT_HEADS, heads_from_config, parse_weight_key, weight_order
from .measures import angular_distance_deg, record, vector_angle_deg

logger = logging.getLogger(__name__)

EXAMPLE_KEY = "model.bert.encoder.layer.0.attention.self.query.weight"


def attention_weights(state_dict, name="checkpoint"):
    """Map (stream, layer, role) -> (weight, head axis) for every attention matrix.

    Two keys naming the same matrix (e.g. a model saved with both ``bert.`` and
    ``model.bert.`` copies) would make the comparison ambiguous, so that is an error.
    """
    found = {}
    for key, tensor in state_dict.items():
        parsed = parse_weight_key(key)
        if parsed is None:
            continue
        unit = (parsed.stream, parsed.layer, parsed.role)
        if unit in found:
            raise ValueError(
                f"{name}: keys {found[unit][2]!r} and {key!r} both name {unit}; "
                "pass a state dict holding one model"
            )
        found[unit] = (tensor, parsed.head_axis, key)
    if not found:
        raise ValueError(
            f"{name}: no self-attention weights recognised; expected keys like {EXAMPLE_KEY!r} "
            "(MMF VisualBERT/ViLBERT or a BERT encoder)"
        )
    return {unit: (tensor, axis) for unit, (tensor, axis, _) in found.items()}


def resolve_heads(config_a=None, config_b=None, overrides=None, streams=None):
    """Head count per stream: explicit overrides, else the checkpoints' configs, else
    MMF's defaults. Checkpoints that disagree cannot be compared head by head.
    ``streams``: those the checkpoints hold (default: all); only their defaults are logged."""
    from_a, from_b = heads_from_config(config_a), heads_from_config(config_b)
    for stream in set(from_a) & set(from_b):
        if from_a[stream] != from_b[stream]:
            raise ValueError(
                f"checkpoints disagree on heads for stream {stream!r}: {from_a[stream]} vs "
                f"{from_b[stream]}; they are not the same architecture"
            )
    heads = {**DEFAULT_HEADS, **from_b, **from_a, **(overrides or {})}
    defaulted = sorted(set(streams or DEFAULT_HEADS) - set(from_a) - set(from_b) - set(overrides or {}))
    if defaulted:
        logger.info("no saved config for streams %s: using MMF default heads %s", defaulted,
                    {stream: heads[stream] for stream in defaulted})
    return heads


def by_head(weight, heads, axis, unit):
    """[heads, elements per head] view of one matrix: rows split for projections
    (axis 0), input columns for output denses (axis 1)."""
    if weight.shape[axis] % heads:
        raise ValueError(
            f"{unit}: dimension {axis} of shape {tuple(weight.shape)} does not split into {heads} "
            "heads; pass the right count (tools/attention_drift.py --heads STREAM=N)"
        )
    if axis == 0:
        return weight.reshape(heads, -1)
    rows, columns = weight.shape
    return weight.reshape(rows, heads, columns // heads).transpose(0, 1).reshape(heads, -1)


def _pair_units(units_a, units_b):
    missing_b = sorted(set(units_a) - set(units_b))
    missing_a = sorted(set(units_b) - set(units_a))
    if missing_a or missing_b:
        raise ValueError(
            f"checkpoints hold different attention weights: only in a: {missing_b[:5]}, only in b: "
            f"{missing_a[:5]}; compare checkpoints of the same architecture"
        )
    for unit in units_a:
        shape_a, shape_b = tuple(units_a[unit][0].shape), tuple(units_b[unit][0].shape)
        if shape_a != shape_b:
            raise ValueError(f"{unit}: shape {shape_a} in a but {shape_b} in b")


def _drift_records(stream, role, layer, per_head_a, per_head_b):
    """Whole-matrix and per-head records from two [heads, elements] views."""
    heads, size = per_head_a.shape
    l1 = (per_head_a - per_head_b).abs().mean(dim=1)
    angles = angular_distance_deg(per_head_a, per_head_b, dim=1)
    records = [
        record("param_l1", stream, role, layer, None, l1.mean(), heads * size),
        record("param_angle_deg", stream, role, layer, None, vector_angle_deg(per_head_a, per_head_b), heads * size),
    ]
    for head in range(heads):
        records.append(record("param_l1", stream, role, layer, head, l1[head], size))
        records.append(record("param_angle_deg", stream, role, layer, head, angles[head], size))
    return records


def _compute_dtype(weight):
    """float32 at least: half-precision checkpoints are upcast; float32 keeps angles
    accurate to ~1e-5 degrees at half the memory traffic of float64."""
    return weight.to(torch.promote_types(weight.dtype, torch.float32))


def _layer_drift(stream, layer, roles, units_a, units_b, heads):
    """Records for one layer's matrices, then for their union (role ``all``)."""
    records, joined_a, joined_b = [], [], []
    for role in roles:
        unit = (stream, layer, role)
        weight_a, axis = units_a[unit]
        per_head_a = by_head(_compute_dtype(weight_a), heads, axis, unit)
        per_head_b = by_head(_compute_dtype(units_b[unit][0]), heads, axis, unit)
        records += _drift_records(stream, role, layer, per_head_a, per_head_b)
        joined_a.append(per_head_a)
        joined_b.append(per_head_b)
    records += _drift_records(stream, "all", layer, torch.cat(joined_a, dim=1), torch.cat(joined_b, dim=1))
    return records


def parameter_drift(state_a, state_b, heads):
    """L1 and angular drift of every attention matrix, whole and per head, as records.

    ``heads`` maps stream -> head count (see resolve_heads). Role ``all`` joins a
    layer's matrices (a head's slices of them for per-head numbers): the study's
    per-layer summary.
    """
    units_a = attention_weights(state_a, "checkpoint a")
    units_b = attention_weights(state_b, "checkpoint b")
    _pair_units(units_a, units_b)
    roles_by_layer = defaultdict(list)
    for stream, layer, role in sorted(units_a, key=weight_order):
        roles_by_layer[(stream, layer)].append(role)
    records = []
    for (stream, layer), roles in roles_by_layer.items():
        records += _layer_drift(stream, layer, roles, units_a, units_b, heads[stream])
    return records
