"""The study's head-probe analysis: does a pretrained base carry the task's answer where a head can read it?

A frozen cell at the majority answer says little alone: the base may carry nothing, or the head
may not have found what it carries. For every finished pretraining run and each task finetuned
from it, a linear probe (analysis/head_probe.py) on the task head's input with the base's weights,
in the model that a finished finetuning run of that base built (its config.yaml; a frozen run's
when there is one), on up to ``analysis.probe_samples`` train and as many validation samples.
Under ``<output_dir>/analysis/probe/``:

- ``<pretraining run folder>/<task>.json``: the probe and the stamps of its inputs (a rerun
  recomputes only changed ones);
- ``summary.csv``: what the report reads, one row per pretraining run and task.
"""
import dataclasses
import logging

from mmf_domainstudy.analysis.mmf_inputs import HeadProbeRequest, head_probe_report
from mmf_domainstudy.study.analyses.inputs import RUN_CONFIG, stamp_files
from mmf_domainstudy.study.run.plan import final_checkpoint_path
from mmf_domainstudy.study.run.rundir import read_done, read_json, write_json
from mmf_domainstudy.utils.atomic import atomic_write_text
from mmf_domainstudy.utils.tables import csv_text

logger = logging.getLogger(__name__)

SEED = 0
KEYS = ("model", "source", "pretrain_fraction", "pretrain_seed", "task")
MEASURES = ("probe_accuracy", "probe_train_accuracy", "majority_accuracy", "top2_variance_share")


def bases_and_tasks(runs):
    """``{(pretraining run name, task): (pretraining run, finetuning runs from it on that task)}``."""
    groups = {}
    for run in runs:
        if run.kind == "finetune" and run.depends_on is not None:
            key = (run.depends_on.name, run.axes["task"])
            groups.setdefault(key, (run.depends_on, []))[1].append(run)
    return groups


def probe_inputs(spec, base, finetunes):
    """Stamps of what a base's probe is computed from, or None with the reason it cannot be yet."""
    if not read_done(base.run_dir):
        return None, "the pretraining run has not finished"
    finished = [run for run in finetunes if read_done(run.run_dir)]
    if not finished:
        return None, "no finetuning run from it has finished (its config.yaml builds the task model)"
    builder = min(finished, key=lambda run: (run.axes["mode"] != "frozen", run.name))
    files = {"pretrained": final_checkpoint_path(base), "config": builder.run_dir / RUN_CONFIG}
    stamps, missing = stamp_files(files)
    if missing:
        return None, missing
    return {**stamps, "dataset": builder.dataset, "samples": spec.analysis.probe_samples, "seed": SEED}, None


def run_probe(spec, base, task, finetunes, out):
    """A base's stored probe on a task, computed first when missing or stale; None when it cannot be."""
    inputs, reason = probe_inputs(spec, base, finetunes)
    if inputs is None:
        logger.info("probe: skipped %s on %s: %s", base.name, task, reason)
        return None
    path = out / base.run_dir.name / f"{task}.json"
    stored = read_json(path)
    if stored and stored.get("inputs") == inputs:
        return stored
    logger.info("probe: %s on %d %s samples per split", base.name, inputs["samples"], inputs["dataset"])
    try:
        probe = head_probe_report(HeadProbeRequest(
            checkpoint=inputs["pretrained"]["path"], config_path=inputs["config"]["path"], dataset=inputs["dataset"],
            train_samples=inputs["samples"], val_samples=inputs["samples"], seed=SEED,
        ))
    except ValueError as error:
        logger.error("probe: %s on %s failed: %s", base.name, task, error)
        return None
    result = {"run": base.name, "task": task, "inputs": inputs, "probe": dataclasses.asdict(probe)}
    write_json(path, result)
    return result


def write_probe(spec, runs):
    """Probe every finished pretraining run on each task finetuned from it; write the summary."""
    out = spec.output_dir / "analysis" / "probe"
    rows = []
    for (_, task), (base, finetunes) in bases_and_tasks(runs).items():
        result = run_probe(spec, base, task, finetunes, out)
        if result:
            axes = base.axes
            rows.append([axes["model"], axes["source"], axes["pretrain_fraction"], axes["pretrain_seed"], task]
                        + [result["probe"][name] for name in MEASURES])
    if not rows:
        logger.info("probe: no finished pretraining run with a finished finetuning run yet; nothing written")
        return
    atomic_write_text(out / "summary.csv", csv_text(list(KEYS) + list(MEASURES), rows))
    logger.info("probe: %d bases probed; wrote %s", len(rows), out / "summary.csv")
