"""End-to-end drift reports: checkpoints in, CSV + JSON + heatmaps out."""
import logging
import os

from .checkpoints import load_checkpoint
from .model_drift import call_model, measure_model_drift
from .param_drift import parameter_drift, resolve_heads
from .writers import write_heatmaps, write_records_csv, write_records_json

logger = logging.getLogger(__name__)


def checkpoint_name(path):
    """Short readable name for titles: the file and its folder (runs are folders)."""
    path = os.path.abspath(os.fspath(path))
    return os.path.join(os.path.basename(os.path.dirname(path)), os.path.basename(path))


def _meta(checkpoint_a, checkpoint_b, name_a, name_b, data, **extra):
    return {
        "checkpoint_a": os.path.abspath(checkpoint_a),
        "checkpoint_b": os.path.abspath(checkpoint_b),
        "name_a": name_a or checkpoint_name(checkpoint_a),
        "name_b": name_b or checkpoint_name(checkpoint_b),
        "data": data,
        **extra,
    }


def write_report(out_dir, stem, records, meta):
    """``<stem>.csv``, ``<stem>.json`` and ``heatmaps/<measure>__<stream>.png``."""
    csv_path = os.path.join(out_dir, f"{stem}.csv")
    json_path = os.path.join(out_dir, f"{stem}.json")
    write_records_csv(csv_path, records)
    write_records_json(json_path, records, meta)
    heatmaps = write_heatmaps(records, os.path.join(out_dir, "heatmaps"), meta["name_a"], meta["name_b"], meta["data"])
    logger.info("wrote %s, %s and %d heatmaps", csv_path, json_path, len(heatmaps))
    return {"csv": csv_path, "json": json_path, "heatmaps": heatmaps}


def parameter_drift_report(checkpoint_a, checkpoint_b, out_dir, heads=None, name_a=None, name_b=None):
    """Self-attention weight drift between two checkpoint files; works without MMF."""
    state_a, config_a = load_checkpoint(checkpoint_a)
    state_b, config_b = load_checkpoint(checkpoint_b)
    resolved = resolve_heads(config_a, config_b, heads)
    records = parameter_drift(state_a, state_b, resolved)
    meta = _meta(checkpoint_a, checkpoint_b, name_a, name_b, "weights only", heads=resolved)
    return write_report(out_dir, "parameter_drift", records, meta)


def attention_drift_report(
    batches, build_model, checkpoint_a, checkpoint_b, out_dir, split, max_samples=None,
    forward=call_model, name_a=None, name_b=None,
):
    """Attention-map drift and CKA on ``batches`` (the dataloader plugs in here)."""
    records, samples = measure_model_drift(batches, build_model, checkpoint_a, checkpoint_b, forward, max_samples)
    meta = _meta(checkpoint_a, checkpoint_b, name_a, name_b, split, samples=samples)
    return write_report(out_dir, "attention_drift", records, meta)
