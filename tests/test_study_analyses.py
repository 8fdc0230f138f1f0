"""The study's analyses (drift, similarity) and the drift tool on real tiny MMF runs.

One tiny study on the fixture data: sources none (baseline), coco, vqa_p and cc_full,
task vqa2. The coco runs and the baseline really run (3 updates each); the others are
left pending, so drift must skip them while similarity, which needs data only,
covers every source. Module-scoped: the runs and the Frechet distances (2048-d
features) are what costs time.
"""
import csv
import importlib.util
import json
import logging
import math
import os
import subprocess
from collections import Counter

import pytest
import torch
import yaml

from mmf_domainstudy.analysis.domain_similarity import jensen_shannon_divergence, unigram_counts
from mmf_domainstudy.formats.imdb import read_imdb
from mmf_domainstudy.study.report.sections import DRIFT_KEYS, SIMILARITY_KEYS, read_csv_rows
from mmf_domainstudy.study.cli import main
from mmf_domainstudy.study.run.plan import expand_study
from mmf_domainstudy.study.run.spec import load_spec
from tests.conftest import REPO, TINY_OVERLAY, installed_script, mmf_env
from tests.test_study_mmf import FIXTURE_OVERLAY

DRIFT_SAMPLES, REGIONS, PROBE_SAMPLES = 4, 30, 8
COCO_RUN = "ft-visual_bert-coco-p1.0-s1-vqa2-finetuned-d1.0-s1"
DRIFT_MEASURES = ["param_l1", "param_angle_deg", "attn_l1", "attn_angle_deg", "cka_linear"]
SIMILARITY_MEASURES = ["text_jsd", "vocab_jaccard", "target_token_coverage", "target_type_coverage", "visual_frechet"]
COCO_TRAIN = "coco/defaults/annotations/imdb_karpathy_train_by_image.npy"
VQA_TRAIN = "vqa2/defaults/annotations/imdb_train2014.npy"


def load_tool(name):
    spec = importlib.util.spec_from_file_location(f"tool_{name}", os.path.join(REPO, "tools", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_spec(folder, data_dir):
    # the recipes' 5e-5 after thousands of warmup updates would move 3 updates' weights by ~1e-8
    fast = {"optimizer": {"params": {"lr": 1.0e-3}}, "scheduler": {"params": {"num_warmup_steps": 1}}}
    (folder / "fixture.yaml").write_text(yaml.safe_dump({**FIXTURE_OVERLAY, **fast}))
    path = folder / "study.yaml"
    path.write_text(yaml.safe_dump({
        "name": "analyses",
        "output_dir": str(folder / "out"),
        "data_dir": data_dir,
        "models": ["visual_bert"],
        "pretrain": {"config": "projects/domain_study/configs/{model}/pretrain/{source}.yaml",
                     "sources": {"none": None, "coco": {"dataset": "masked_coco"},
                                 "vqa_p": {"dataset": "masked_vqa_p"},
                                 "cc_full": {"dataset": "masked_conceptual_captions"}}},
        "finetune": {"config": "projects/domain_study/configs/{model}/finetune/{task}.yaml", "seeds": [1],
                     "tasks": {"vqa2": {"dataset": "vqa2", "metric": "vqa2/vqa_accuracy"}}},
        "overlays": [TINY_OVERLAY, str(folder / "fixture.yaml")],
        "overrides": ["run_type=train_val"],
        "analyses": ["drift", "similarity", "probe"],
        "analysis": {"drift_samples": DRIFT_SAMPLES, "similarity_regions": REGIONS, "probe_samples": PROBE_SAMPLES},
    }, sort_keys=False))
    return path


class Messages(logging.Handler):
    """The study's log lines, for a module-scoped fixture (caplog is per test)."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())

    def take(self):
        text, self.lines = "\n".join(self.lines), []
        return text


@pytest.fixture(scope="module")
def finished(fixture_data_dir, tmp_path_factory):
    """The study as a user drives it: analyses alone before any run (similarity needs data
    only), then the coco and baseline runs (vqa_p's stay pending), analyses and report.
    Returns the spec, its runs and what each phase logged and left."""
    messages = Messages()
    logger = logging.getLogger("mmf_domainstudy")
    level = logger.level
    logger.addHandler(messages)
    logger.setLevel(logging.INFO)
    with pytest.MonkeyPatch.context() as patch:
        for key, value in mmf_env(fixture_data_dir).items():
            patch.setenv(key, value)
        patch.chdir(REPO)
        spec_path = write_spec(tmp_path_factory.mktemp("analyses"), fixture_data_dir)
        spec = load_spec(spec_path)
        assert main([str(spec_path), "--analyses-only"]) == 0
        before = {"log": messages.take(), "report": (spec.output_dir / "report.md").read_text(),
                  "similarity": (spec.output_dir / "analysis" / "similarity.csv").read_text(),
                  "drift": (spec.output_dir / "analysis" / "drift").exists()}
        assert main([str(spec_path), "--jobs", "2", "--poll-interval", "0.5", "--only", "ft-visual_bert-[cn]o*"]) == 0
        after = {"log": messages.take()}
        yield spec, {run.name: run for run in expand_study(spec)}, before, after, messages
    logger.removeHandler(messages)
    logger.setLevel(level)


def read_rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_similarity_needs_only_data_and_drift_waits_for_runs(finished):
    spec, runs, before, after, _ = finished
    rows, measures = read_csv_rows(spec.output_dir / "analysis" / "similarity.csv", SIMILARITY_KEYS)
    assert [(row["source"], row["task"]) for row in rows] == [("coco", "vqa2"), ("vqa_p", "vqa2"), ("cc_full", "vqa2")]
    assert measures == SIMILARITY_MEASURES
    assert f"drift: skipped {COCO_RUN}: the finetuning run has not finished" in before["log"]
    assert not before["drift"]
    assert "## Domain similarity" in before["report"] and "| coco | vqa2 |" in before["report"]
    assert "No results yet: expected `analysis/drift/" in before["report"]
    # after the runs: similarity's inputs are unchanged, so it is reused; vqa_p's run is still pending
    assert "similarity: up to date" in after["log"]
    assert (spec.output_dir / "analysis" / "similarity.csv").read_text() == before["similarity"]
    assert "drift: skipped ft-visual_bert-vqa_p-p1.0-s1-vqa2-finetuned-d1.0-s1: the finetuning run has not finished" \
        in after["log"]


def test_similarity_reads_each_sides_train_texts_and_regions(finished, fixture_data_dir):
    spec = finished[0]
    out = spec.output_dir / "analysis"
    rows = {(row["source"], row["task"]): row for row in read_rows(out / "similarity.csv")}
    datasets = os.path.join(fixture_data_dir, "datasets")
    _, captions = read_imdb(os.path.join(datasets, COCO_TRAIN))
    _, questions = read_imdb(os.path.join(datasets, VQA_TRAIN))
    caption_counts = unigram_counts(c for sample in captions for c in sample["captions"])
    question_counts = unigram_counts(q["question_str"] for q in questions)
    with_answers = unigram_counts(
        f"{q['question_str']} {Counter(q['all_answers']).most_common(1)[0][0]}" for q in questions
    )
    assert float(rows[("coco", "vqa2")]["text_jsd"]) == pytest.approx(
        jensen_shannon_divergence(caption_counts, question_counts))
    assert float(rows[("vqa_p", "vqa2")]["text_jsd"]) == pytest.approx(
        jensen_shannon_divergence(with_answers, question_counts))
    assert float(rows[("vqa_p", "vqa2")]["target_type_coverage"]) == 1.0  # VQA-P holds the task's questions
    document = json.loads((out / "similarity.json").read_text())
    for pair in document["pairs"]:
        assert pair["counts"]["source_vectors"] == pair["counts"]["target_vectors"] == REGIONS
    # the fixture's coco captions and VQA questions annotate the same 8 images: the same seeded draw of
    # regions, distance 0 (up to the eigen-solvers' rounding, ~1e-6); CC's images are others, in another store
    other_store = float(rows[("cc_full", "vqa2")]["visual_frechet"])
    assert 0 < other_store < math.inf
    assert float(rows[("coco", "vqa2")]["visual_frechet"]) == pytest.approx(0.0, abs=1e-4 * other_store)
    assert float(rows[("vqa_p", "vqa2")]["visual_frechet"]) == pytest.approx(0.0, abs=1e-4 * other_store)
    sources = [(side[2]["annotations"], side[2]["features"]) for side in document["inputs"]["pairs"]]
    coco_store = [os.path.join(datasets, "coco/defaults/features/trainval2014.lmdb")]
    assert sources == [([os.path.join(datasets, COCO_TRAIN)], coco_store), ([os.path.join(datasets, VQA_TRAIN)], coco_store),
                       ([os.path.join(datasets, "cc/defaults/annotations/train_all.npy")],
                        [os.path.join(datasets, "cc/defaults/features/cc_train.lmdb")])]


def test_drift_files_and_report_sections(finished):
    spec, runs = finished[:2]
    drift = spec.output_dir / "analysis" / "drift"
    folder = drift / runs[COCO_RUN].run_dir.name
    assert sorted(p.name for p in folder.iterdir()) == [
        "attention_drift.csv", "attention_drift.json", "attn_l1.png", "drift.json",
        "parameter_drift.csv", "parameter_drift.json",
    ]
    assert json.loads((folder / "drift.json").read_text())["samples"] == DRIFT_SAMPLES
    rows, measures = read_csv_rows(drift / "summary.csv", DRIFT_KEYS)
    assert measures == DRIFT_MEASURES
    assert [[row[key] for key in DRIFT_KEYS] for row in rows] == [["visual_bert", "coco", "vqa2", "finetuned"]]
    row = {name: float(rows[0][name]) for name in measures}
    assert row["param_l1"] > 0 and 0 < row["param_angle_deg"] < 90
    assert 0 < row["attn_l1"] <= 2 and 0 < row["cka_linear"] <= 1 + 1e-6
    assert [r["run"] for r in read_rows(drift / "runs.csv")] == [COCO_RUN]
    report = (spec.output_dir / "report.md").read_text()
    assert f"![analysis/drift/{folder.name}/attn_l1.png](analysis/drift/{folder.name}/attn_l1.png)" in report
    assert "### Drift vs transfer gain" in report and "| param_l1 |" in report
    assert "## Domain similarity" in report and "| vqa_p | vqa2 |" in report


def layer_weights(path, layer):
    state = torch.load(path, map_location="cpu", weights_only=True)
    prefix = f"model.bert.encoder.layer.{layer}.attention."
    names = ("self.query", "self.key", "self.value", "output.dense")
    return torch.cat([state[f"{prefix}{name}.weight"].double().flatten() for name in names])


def test_drift_summary_is_the_layer_mean_of_the_weight_distance(finished):
    spec, runs = finished[:2]
    finetune = runs[COCO_RUN]
    pretrained, finetuned = (run.run_dir / "visual_bert_final.pth" for run in (finetune.depends_on, finetune))
    l1, angles = [], []
    for layer in range(2):  # the tiny overlay's 2 layers
        a, b = layer_weights(pretrained, layer), layer_weights(finetuned, layer)
        l1.append(float((a - b).abs().mean()))
        unit_a, unit_b = a / a.norm(), b / b.norm()
        angles.append(math.degrees(2 * math.atan2((unit_a - unit_b).norm(), (unit_a + unit_b).norm())))
    row = read_rows(spec.output_dir / "analysis" / "drift" / "summary.csv")[0]
    assert float(row["param_l1"]) == pytest.approx(sum(l1) / 2, rel=1e-4)
    assert float(row["param_angle_deg"]) == pytest.approx(sum(angles) / 2, rel=1e-3)


def test_analyses_reuse_unchanged_results_and_redo_changed_ones(finished):
    spec, runs, _, _, messages = finished
    stored = spec.output_dir / "analysis" / "drift" / runs[COCO_RUN].run_dir.name / "drift.json"
    similarity = spec.output_dir / "analysis" / "similarity.json"
    before = stored.stat().st_mtime_ns, similarity.stat().st_mtime_ns
    assert main([str(spec.path), "--analyses-only"]) == 0
    assert (stored.stat().st_mtime_ns, similarity.stat().st_mtime_ns) == before
    log = messages.take()
    assert "similarity: up to date" in log and "drift: measuring" not in log
    checkpoint = runs[COCO_RUN].run_dir / "visual_bert_final.pth"
    os.utime(checkpoint, ns=(checkpoint.stat().st_atime_ns, checkpoint.stat().st_mtime_ns + 10**9))
    assert main([str(spec.path), "--analyses-only"]) == 0
    assert f"drift: measuring {COCO_RUN}" in messages.take()
    inputs = json.loads(stored.read_text())["inputs"]
    assert inputs["finetuned"]["mtime_ns"] == checkpoint.stat().st_mtime_ns


def test_attention_drift_tool_on_a_real_pair(finished, tmp_path, capsys):
    runs = finished[1]
    finetune = runs[COCO_RUN]
    pretrained, finetuned = (str(run.run_dir / "visual_bert_final.pth") for run in (finetune.depends_on, finetune))
    tool = load_tool("attention_drift")
    out = tmp_path / "drift"
    assert tool.main(["--a", pretrained, "--b", finetuned, "--dataset", "vqa2", "--samples", "3",
                      "--out", str(out)]) == 0
    assert "attention_drift.csv" in capsys.readouterr().out
    document = json.loads((out / "attention_drift.json").read_text())
    assert document["meta"]["samples"] == 3 and document["meta"]["data"] == "vqa2 val"
    attention = [row for row in document["records"] if row["measure"] == "attn_l1"]
    assert sorted((row["layer"], row["head"]) for row in attention) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert all(0 < row["value"] <= 2 for row in attention)
    assert len(read_rows(out / "attention_drift.csv")) == len(document["records"])
    assert json.loads((out / "parameter_drift.json").read_text())["meta"]["heads"]["layer"] == 2
    assert {"attn_l1__layer.png", "cka_linear__layer.png", "param_l1__layer.png"} <= {
        path.name for path in (out / "heatmaps").iterdir()}
    same = tmp_path / "same"
    assert tool.main(["--a", finetuned, "--b", finetuned, "--dataset", "vqa2", "--samples", "3",
                      "--out", str(same), "--no-heatmaps"]) == 0
    records = json.loads((same / "attention_drift.json").read_text())["records"]
    assert all(row["value"] == 0.0 for row in records if row["measure"].startswith("attn_"))
    assert all(row["value"] == pytest.approx(1.0) for row in records if row["measure"] == "cka_linear")


def test_probe_analysis_probes_finished_bases_and_reuses_its_results(finished):
    spec, runs, before, after, messages = finished
    coco = runs[COCO_RUN].depends_on
    assert "No results yet: expected `analysis/probe/summary.csv`" in before["report"]
    assert f"probe: skipped {coco.name} on vqa2: the pretraining run has not finished" in before["log"]
    assert "probe: skipped pt-visual_bert-vqa_p-p1.0-s1 on vqa2: the pretraining run has not finished" in after["log"]
    rows = read_rows(spec.output_dir / "analysis" / "probe" / "summary.csv")
    assert [(row["model"], row["source"], row["task"]) for row in rows] == [("visual_bert", "coco", "vqa2")]
    stored = json.loads((spec.output_dir / "analysis" / "probe" / coco.run_dir.name / "vqa2.json").read_text())
    assert stored["inputs"]["config"]["path"] == str(runs[COCO_RUN].run_dir / "config.yaml")
    assert stored["probe"]["train_samples"] == PROBE_SAMPLES and stored["probe"]["dim"] == 32
    assert float(rows[0]["probe_accuracy"]) == stored["probe"]["probe_accuracy"]
    report = (spec.output_dir / "report.md").read_text()
    assert "## Frozen bases: what a linear probe reads" in report
    assert f"| visual_bert | coco (p1.0, s1) | vqa2 | — | {stored['probe']['probe_accuracy']:.3f} |" in report  # no frozen run
    assert main([str(spec.path), "--analyses-only"]) == 0
    assert f"probe: {coco.name} on {PROBE_SAMPLES}" not in messages.take()  # inputs unchanged: reused
    checkpoint = coco.run_dir / "visual_bert_final.pth"
    os.utime(checkpoint, ns=(checkpoint.stat().st_atime_ns, checkpoint.stat().st_mtime_ns + 10**9))
    assert main([str(spec.path), "--analyses-only"]) == 0
    assert f"probe: {coco.name} on {PROBE_SAMPLES} vqa2 samples per split" in messages.take()


def test_probe_section_sets_each_probe_beside_its_frozen_cell(tmp_path):
    from types import SimpleNamespace

    from mmf_domainstudy.study.report.results import Cell, cell_key
    from mmf_domainstudy.study.report.sections import probe_section

    folder = tmp_path / "analysis" / "probe"
    folder.mkdir(parents=True)
    (folder / "summary.csv").write_text(
        "model,source,pretrain_fraction,pretrain_seed,task,probe_accuracy,probe_train_accuracy,majority_accuracy,"
        "top2_variance_share\nvilbert,captions,1.0,1,easy_vqa,0.363,0.5,0.388,0.37\n")
    spec = SimpleNamespace(analyses=("probe",), finetune=SimpleNamespace(fractions=[0.1, 1.0]))
    frozen = Cell(0.3641, 0.01, 3, {}, ())
    cells = {cell_key("vilbert", "captions", 1.0, "easy_vqa", "frozen", 1.0): frozen,
             cell_key("vilbert", "captions", 1.0, "easy_vqa", "frozen", 0.1): Cell(0.9, None, 1, {}, ())}
    lines = probe_section(spec, tmp_path, cells)
    assert "| vilbert | captions (p1.0, s1) | easy_vqa | 0.364 | 0.363 | 0.388 | 37% |" in lines
    (folder / "summary.csv").write_text("model,source\nvilbert,captions\n")
    assert any(line.startswith("Not shown:") and "missing column(s)" in line for line in probe_section(spec, tmp_path, cells))


def run_probe_tool(data_dir, *args):
    return subprocess.run([installed_script("domainstudy-probe-head"), "--dataset", "vqa2", "--train-samples", "8",
                           "--val-samples", "4", "--device", "cpu", *args],
                          capture_output=True, text=True, cwd=REPO, env=mmf_env(data_dir), timeout=300)


def test_probe_head_tool_as_installed_on_a_real_run(finished, fixture_data_dir, tmp_path):
    finetune = finished[1][COCO_RUN]
    finetuned = finetune.run_dir / "visual_bert_final.pth"
    out = tmp_path / "probe.json"
    result = run_probe_tool(fixture_data_dir, "--checkpoint", str(finetuned), "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "linear probe on the head's input: val accuracy" in result.stdout
    document = json.loads(out.read_text())
    assert document["config"] == str(finetune.run_dir / "config.yaml")  # the config beside the checkpoint
    assert (document["train_samples"], document["val_samples"], document["dim"]) == (8, 4, 32)  # tiny: 32 wide
    assert 0 <= document["majority_accuracy"] <= 1 and 0 <= document["probe_accuracy"] <= 1
    # a pretrained base needs a finetuning run's config; its own (masked_coco) is refused by name
    pretrained = str(finetune.depends_on.run_dir / "visual_bert_final.pth")
    refused = run_probe_tool(fixture_data_dir, "--checkpoint", pretrained)
    assert refused.returncode == 2
    assert "is a run config for masked_coco, not vqa2: pass --config of a finetuning run" in refused.stderr
    # ... such as the study's study_config.yaml, which leaves env.data_dir to the command line (relative here)
    through_task_config = run_probe_tool(fixture_data_dir, "--checkpoint", pretrained,
                                         "--config", str(finetune.run_dir / "study_config.yaml"),
                                         "--data-dir", os.path.relpath(fixture_data_dir, REPO))
    assert through_task_config.returncode == 0, through_task_config.stderr[-3000:]
    assert "linear probe on the head's input: val accuracy" in through_task_config.stdout


@pytest.mark.parametrize("freeze_base, reason", [(True, "its base was frozen"), ("False", "missing ")])
def test_drift_skips_a_frozen_base_which_cannot_move(tmp_path, freeze_base, reason):
    from types import SimpleNamespace

    from mmf_domainstudy.study.analyses.drift import drift_inputs

    run_dir = tmp_path / "ft"
    run_dir.mkdir()
    (run_dir / "done.json").write_text('{"name": "ft"}')
    (run_dir / "config.yaml").write_text(yaml.safe_dump({"model_config": {"visual_bert": {"freeze_base": freeze_base}}}))
    pretrained = SimpleNamespace(run_dir=tmp_path / "pt", model="visual_bert")
    run = SimpleNamespace(run_dir=run_dir, model="visual_bert", depends_on=pretrained, dataset="vqa2")
    inputs, why = drift_inputs(SimpleNamespace(analysis=SimpleNamespace(drift_samples=4)), run)
    assert inputs is None and why.startswith(reason)  # not frozen: it goes on to look for the checkpoints
