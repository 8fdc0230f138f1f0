"""End-to-end reports: checkpoints or data files in; CSV, JSON and heatmaps out."""
import dataclasses
import json
import logging
import os
from typing import Callable, Iterable, Optional

from ..utils.atomic import atomic_write_text
from .checkpoints import load_weights_and_config
from .domain_inputs import iter_region_features, iter_text_lines
from .domain_similarity import text_domain_similarity, visual_domain_similarity
from .measures import MEASURE_DEFINITIONS
from .model_drift import call_model, measure_model_drift
from .param_drift import attention_weights, parameter_drift, resolve_heads
from .statistics import spearman_correlation
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


def write_report(out_dir, stem, records, meta, heatmaps=True):
    """``<stem>.csv``, ``<stem>.json`` and (unless ``heatmaps`` is false, as for quick
    sweeps over many checkpoint pairs) ``heatmaps/<measure>__<stream>.png``."""
    csv_path = os.path.join(out_dir, f"{stem}.csv")
    json_path = os.path.join(out_dir, f"{stem}.json")
    write_records_csv(csv_path, records)
    write_records_json(json_path, records, meta)
    pngs = []
    if heatmaps:
        pngs = write_heatmaps(records, os.path.join(out_dir, "heatmaps"), meta["name_a"], meta["name_b"], meta["data"])
    logger.info("wrote %s, %s and %d heatmaps", csv_path, json_path, len(pngs))
    return {"csv": csv_path, "json": json_path, "heatmaps": pngs}


def parameter_drift_report(checkpoint_a, checkpoint_b, out_dir, heads=None, name_a=None, name_b=None, heatmaps=True):
    """Self-attention weight drift between two checkpoint files; works without MMF."""
    state_a, config_a = load_weights_and_config(checkpoint_a)
    state_b, config_b = load_weights_and_config(checkpoint_b)
    streams = {stream for stream, _, _ in attention_weights(state_a, checkpoint_a)}
    resolved = resolve_heads(config_a, config_b, heads, streams)
    records = parameter_drift(state_a, state_b, resolved)
    meta = _meta(checkpoint_a, checkpoint_b, name_a, name_b, "weights only", heads=resolved)
    return write_report(out_dir, "parameter_drift", records, meta, heatmaps)


@dataclasses.dataclass(frozen=True, kw_only=True)
class AttentionDriftRequest:
    """Attention-map drift between two checkpoints of one model on the same batches."""

    batches: Iterable  # model inputs; a data loader plugs in here
    build_model: Callable  # checkpoint path -> model with its weights
    checkpoint_a: str
    checkpoint_b: str
    out_dir: str
    data: str  # what the batches are, for the report, e.g. "vqa2 val"
    max_samples: Optional[int] = None
    forward: Callable = call_model
    name_a: Optional[str] = None
    name_b: Optional[str] = None
    heatmaps: bool = True


def attention_drift_report(request):
    """Attention-map drift and CKA of ``request``'s checkpoints on its batches; CSV, JSON, heatmaps."""
    records, samples = measure_model_drift(request.batches, request.build_model, request.checkpoint_a,
                                           request.checkpoint_b, request.forward, request.max_samples)
    meta = _meta(request.checkpoint_a, request.checkpoint_b, request.name_a, request.name_b, request.data,
                 samples=samples)
    return write_report(request.out_dir, "attention_drift", records, meta, request.heatmaps)


def _similarity_result(measures, inputs, out_path):
    """Measures with their definitions and inputs, written as JSON when asked."""
    result = {
        "measures": measures,
        "definitions": {name: MEASURE_DEFINITIONS[name] for name in measures},
        "inputs": inputs,
    }
    if out_path:
        atomic_write_text(out_path, json.dumps(result, indent=1) + "\n")
        logger.info("wrote %s", out_path)
    return result


def _with_paths(measure, source_paths, target_paths):
    """Run ``measure()``; a ValueError (empty corpus, too few vectors) names the files."""
    try:
        return measure()
    except ValueError as error:
        raise ValueError(f"{error} (source: {list(source_paths)}, target: {list(target_paths)})") from error


def text_similarity_report(source_paths, target_paths, out_path=None):
    """Unigram JSD and vocabulary overlap of two sets of text files (one text a line)."""
    measures = _with_paths(
        lambda: text_domain_similarity(iter_text_lines(source_paths), iter_text_lines(target_paths)),
        source_paths, target_paths,
    )
    return _similarity_result(measures, {"source": list(source_paths), "target": list(target_paths)}, out_path)


def visual_similarity_report(source_paths, target_paths, out_path=None, ridge=1e-6, max_images=None, seed=0):
    """Frechet distance between region features of two sets of LMDB stores / arrays."""
    measures = _with_paths(
        lambda: visual_domain_similarity(
            iter_region_features(source_paths, max_images, seed),
            iter_region_features(target_paths, max_images, seed),
            ridge,
        ),
        source_paths, target_paths,
    )
    inputs = {
        "source": list(source_paths), "target": list(target_paths),
        "ridge": ridge, "max_images": max_images, "seed": seed,
    }
    return _similarity_result(measures, inputs, out_path)


def rank_correlation_report(similarity, gains, out_path=None):
    """Spearman rho between per-pair similarities and transfer gains."""
    measures = spearman_correlation(similarity, gains)
    return _similarity_result(measures, {"similarity": list(similarity), "gains": list(gains)}, out_path)
