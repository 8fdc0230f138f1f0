"""Where attention lives in MMF's VisualBERT and ViLBERT, as data rather than code.

Streams are named after MMF's own module lists so a number can be traced to a key:
``layer`` is VisualBERT's single stream and ViLBERT's text stream
(``bert.encoder.layer.N``), ``v_layer`` is ViLBERT's visual stream and ``c_layer`` its
co-attention layers. Everything that walks a state dict or a model reads these tables.
"""
import re
from dataclasses import dataclass

LAYER_PATTERNS = {
    "layer": r"encoder\.layer\.(?P<layer>\d+)",
    "v_layer": r"encoder\.v_layer\.(?P<layer>\d+)",
    "c_layer": r"encoder\.c_layer\.(?P<layer>\d+)",
}

# (stream, role, key suffix after the layer prefix, axis that splits into heads).
# Projections split their output rows by head; output denses split their input columns.
# In ViLBERT's co-attention, ``*1`` project the visual input and ``*2`` the text input;
# ``dense1`` maps the visual queries' context back to the visual stream, ``dense2`` the
# text queries' context to the text stream.
ATTENTION_WEIGHTS = (
    ("layer", "query", "attention.self.query.weight", 0),
    ("layer", "key", "attention.self.key.weight", 0),
    ("layer", "value", "attention.self.value.weight", 0),
    ("layer", "output", "attention.output.dense.weight", 1),
    ("v_layer", "query", "attention.self.query.weight", 0),
    ("v_layer", "key", "attention.self.key.weight", 0),
    ("v_layer", "value", "attention.self.value.weight", 0),
    ("v_layer", "output", "attention.output.dense.weight", 1),
    ("c_layer", "query1", "biattention.query1.weight", 0),
    ("c_layer", "key1", "biattention.key1.weight", 0),
    ("c_layer", "value1", "biattention.value1.weight", 0),
    ("c_layer", "query2", "biattention.query2.weight", 0),
    ("c_layer", "key2", "biattention.key2.weight", 0),
    ("c_layer", "value2", "biattention.value2.weight", 0),
    ("c_layer", "dense1", "biOutput.dense1.weight", 1),
    ("c_layer", "dense2", "biOutput.dense2.weight", 1),
)

# Head counts: the model-config key per stream and MMF's released defaults
# (bert-base: 12; ViLBERT's visual and co-attention streams: 8).
HEADS_CONFIG_KEYS = {
    "layer": "num_attention_heads",
    "v_layer": "v_num_attention_heads",
    "c_layer": "bi_num_attention_heads",
}
DEFAULT_HEADS = {"layer": 12, "v_layer": 8, "c_layer": 8}

# Modules whose forward computes attention probabilities, per stream.
ATTENTION_MODULE_SUFFIXES = {
    "layer": "attention.self",
    "v_layer": "attention.self",
    "c_layer": "biattention",
}

# Maps the capture produces, in report order. The co-attention module yields two maps,
# named by the side that asks the queries.
MAP_NAMES = ("layer", "v_layer", "c_layer.text", "c_layer.image")

# Hidden states per map name: (module stream, index into the layer module's output
# tuple). A ViLBERT connection layer returns (visual output, text output, probs).
HIDDEN_OUTPUTS = {
    "layer": ("layer", 0),
    "v_layer": ("v_layer", 0),
    "c_layer.image": ("c_layer", 0),
    "c_layer.text": ("c_layer", 1),
}


@dataclass(frozen=True)
class WeightKey:
    """One attention weight matrix: which stream, which layer, which projection."""

    stream: str
    layer: int
    role: str
    head_axis: int


def _name_pattern(stream, suffix):
    """Regex for a stream's layer N plus a dotted suffix, under any prefix."""
    tail = r"\." + re.escape(suffix) if suffix else ""
    return re.compile(r"(?:^|\.)" + LAYER_PATTERNS[stream] + tail + "$")


_WEIGHT_PATTERNS = [
    (_name_pattern(stream, suffix), stream, role, axis) for stream, role, suffix, axis in ATTENTION_WEIGHTS
]


def parse_weight_key(key):
    """Return the WeightKey a state-dict key names, or None when it is not attention."""
    for pattern, stream, role, axis in _WEIGHT_PATTERNS:
        match = pattern.search(key)
        if match:
            return WeightKey(stream, int(match.group("layer")), role, axis)
    return None


_TABLE_ORDER = {(stream, role): index for index, (stream, role, _, _) in enumerate(ATTENTION_WEIGHTS)}


def weight_order(unit):
    """Sort key for (stream, layer, role): table order, so reports read query, key,
    value, output, layer by layer."""
    stream, layer, role = unit
    return (list(LAYER_PATTERNS).index(stream), layer, _TABLE_ORDER[(stream, role)])


def parse_module_name(name, suffixes):
    """Return (stream, layer) when a module name is a stream's layer N plus that
    stream's suffix in ``suffixes`` (``""``: the layer module itself), else None."""
    for stream in LAYER_PATTERNS:
        match = _name_pattern(stream, suffixes[stream]).search(name)
        if match:
            return stream, int(match.group("layer"))
    return None


def heads_from_config(config):
    """Head counts per stream from an MMF checkpoint's saved config, where present.

    MMF saves the whole run config; the model's block is ``model_config.<model>``.
    """
    if not isinstance(config, dict):
        return {}
    model_name = config.get("model")
    model_configs = config.get("model_config") or {}
    block = model_configs.get(model_name) if isinstance(model_configs, dict) else None
    if not isinstance(block, dict):
        return {}
    return {stream: int(block[key]) for stream, key in HEADS_CONFIG_KEYS.items() if block.get(key)}
