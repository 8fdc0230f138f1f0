"""The study's drift analysis: how far finetuning moved each pretrained base.

For every finished finetuning run that starts from a pretraining run, at the fractions the
transfer gain is taken at, and that trained its base (a frozen base does not move: those
runs are skipped, with the reason logged), the pretrained
``<model>_final.pth`` is compared with the finetuned one, both in the finetuning run's
model, on ``analysis.drift_samples`` validation samples of its task. Under
``<output_dir>/analysis/drift/``:

- ``<run folder>/``: ``parameter_drift.csv|json``, ``attention_drift.csv|json``, one
  heatmap ``attn_l1.png`` (layer x head, a panel per attention stream) and ``drift.json``
  (the run's row and the stamps of its inputs: a rerun recomputes only changed runs);
- ``runs.csv``: one row per run, every grid axis;
- ``summary.csv``: what the report reads, one row per ``model, source, task, mode``
  (mean over seeds) at the cells its transfer gain is taken from.
"""
import json
import logging
import math
import statistics
from pathlib import Path

import yaml

from mmf_domainstudy.analysis.mmf_inputs import DatasetDriftRequest, dataset_drift_report
from mmf_domainstudy.analysis.writers import write_stream_heatmap
from mmf_domainstudy.study.analyses.inputs import RUN_CONFIG, stamp_files
from mmf_domainstudy.study.run.plan import final_checkpoint_path
from mmf_domainstudy.utils.tables import csv_text
from mmf_domainstudy.study.run.rundir import read_done, read_json, write_json
from mmf_domainstudy.utils.atomic import atomic_write_text
from mmf_domainstudy.utils.config_values import decode_boolean

logger = logging.getLogger(__name__)

SPLIT = "val"
SEED = 0
# Summary measure -> (record measure, the records averaged): whole-layer parameter drift
# (role "all", no head) and every layer x head (or layer, for CKA) of every stream.
MEASURES = {
    "param_l1": ("param_l1", lambda row: row["role"] == "all" and row["head"] is None),
    "param_angle_deg": ("param_angle_deg", lambda row: row["role"] == "all" and row["head"] is None),
    "attn_l1": ("attn_l1", lambda row: True),
    "attn_angle_deg": ("attn_angle_deg", lambda row: True),
    "cka_linear": ("cka_linear", lambda row: True),
}
RUN_COLUMNS = ("run", "model", "source", "pretrain_fraction", "task", "mode", "fraction", "seed", "samples")
SUMMARY_KEYS = ("model", "source", "task", "mode")


def mean_measures(records):
    """Each summary measure: the mean of its finite record values (NaN: no direction)."""
    means = {}
    for name, (measure, chosen) in MEASURES.items():
        values = [row["value"] for row in records if row["measure"] == measure and chosen(row)
                  and row["value"] is not None and math.isfinite(row["value"])]
        means[name] = statistics.fmean(values) if values else math.nan
    return means


def drift_inputs(spec, run):
    """Stamps of what a run's drift is computed from, or None with the reason it cannot be yet."""
    if not read_done(run.run_dir):
        return None, "the finetuning run has not finished"
    if _frozen_base(run):
        return None, "its base was frozen (freeze_base), so it did not move"
    files = {"pretrained": final_checkpoint_path(run.depends_on), "finetuned": final_checkpoint_path(run),
             "config": run.run_dir / RUN_CONFIG}
    stamps, missing = stamp_files(files)
    if missing:
        return None, missing
    return {**stamps, "dataset": run.dataset, "split": SPLIT, "samples": spec.analysis.drift_samples,
            "seed": SEED}, None


def _frozen_base(run):
    """Whether the run trained its head only; a drift of zero by construction is not worth the measuring."""
    with open(run.run_dir / RUN_CONFIG) as handle:
        config = yaml.safe_load(handle) or {}
    return bool(decode_boolean(((config.get("model_config") or {}).get(run.model) or {}).get("freeze_base")))


def _read_report(path):
    return json.loads(Path(path).read_text())


def compute_run_drift(run, inputs, folder, note_kept_weights=True):
    """Measure one run's drift into ``folder``; return its stored result."""
    reports = dataset_drift_report(DatasetDriftRequest(
        checkpoint_a=inputs["pretrained"]["path"], checkpoint_b=inputs["finetuned"]["path"],
        config_path=inputs["config"]["path"], dataset=run.dataset, out_dir=folder, samples=inputs["samples"],
        split=SPLIT, seed=SEED, name_a=run.depends_on.name, name_b=run.name, heatmaps=False,
        note_kept_weights=note_kept_weights,
    ))
    attention = _read_report(reports["attention"]["json"])
    records = _read_report(reports["parameter"]["json"])["records"] + attention["records"]
    samples = attention["meta"]["samples"]
    axes = run.axes
    title = (f"{axes['model']}: {axes['source']} p{axes['pretrain_fraction']} -> {axes['task']} "
             f"d{axes['fraction']}\n{axes['mode']}, seed {axes['seed']}, {samples} {run.dataset} {SPLIT} samples")
    write_stream_heatmap(records, "attn_l1", folder / "attn_l1.png", title)
    result = {"run": run.name, "inputs": inputs, "samples": samples, "measures": mean_measures(records)}
    write_json(folder / "drift.json", result)
    return result


def run_drift(spec, run, out, noted_checkpoints):
    """A run's stored drift, computed first when missing or stale; None when it cannot be.

    ``noted_checkpoints``: pretraining checkpoints whose kept-initial-weights note was already
    logged (a study compares each with many runs); this adds the one it measures.
    """
    inputs, reason = drift_inputs(spec, run)
    if inputs is None:
        logger.info("drift: skipped %s: %s", run.name, reason)
        return None
    folder = out / run.run_dir.name
    stored = read_json(folder / "drift.json")
    if stored and stored.get("inputs") == inputs:
        return stored
    logger.info("drift: measuring %s against %s on %d %s samples", run.name, run.depends_on.name,
                inputs["samples"], run.dataset)
    pretrained = inputs["pretrained"]["path"]
    note = pretrained not in noted_checkpoints
    noted_checkpoints.add(pretrained)
    try:
        return compute_run_drift(run, inputs, folder, note)
    except ValueError as error:
        logger.error("drift: %s failed: %s", run.name, error)
        return None


def at_gain_fractions(spec, run):
    """Whether a run is at the fractions the transfer gain (and so the drift summary) is taken at."""
    return (run.axes["pretrain_fraction"] == max(spec.pretrain.fractions)
            and run.axes["fraction"] == max(spec.finetune.fractions))


def summary_rows(spec, measured):
    """One row per (model, source, task, mode), mean over seeds, at the gain's fractions."""
    groups = {}
    for run, result in measured:
        groups.setdefault(tuple(run.axes[key] for key in SUMMARY_KEYS), []).append(result["measures"])
    return [list(key) + [statistics.fmean(m[name] for m in measures) for name in MEASURES]
            for key, measures in groups.items()]


def write_drift(spec, runs):
    """Measure every finished finetuning run with a pretraining source at the gain's fractions; write the tables."""
    out = spec.output_dir / "analysis" / "drift"
    pairs = [run for run in runs
             if run.kind == "finetune" and run.depends_on is not None and at_gain_fractions(spec, run)]
    measured, noted_checkpoints = [], set()
    for run in pairs:
        result = run_drift(spec, run, out, noted_checkpoints)
        if result:
            measured.append((run, result))
    if not measured:
        logger.info("drift: no finished finetuning run with a pretraining source yet; nothing written")
        return
    run_rows = [[run.name] + [run.axes[key] for key in RUN_COLUMNS[1:-1]] + [result["samples"]]
                + [result["measures"][name] for name in MEASURES] for run, result in measured]
    atomic_write_text(out / "runs.csv", csv_text(list(RUN_COLUMNS) + list(MEASURES), run_rows))
    atomic_write_text(out / "summary.csv", csv_text(list(SUMMARY_KEYS) + list(MEASURES),
                                                    summary_rows(spec, measured)))
    logger.info("drift: %d of %d finetuning runs measured; wrote %s", len(measured), len(pairs), out / "summary.csv")
