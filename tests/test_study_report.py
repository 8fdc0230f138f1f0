"""The report, from hand-made stored results: tables, csv files, plots and the other analyses' sections."""
import csv

import pytest

from mmf_domainstudy.study.cli import main
from mmf_domainstudy.study.run.plan import expand_study
from mmf_domainstudy.study.report.write import write_report
from mmf_domainstudy.study.run.rundir import write_json
from mmf_domainstudy.study.run.spec import load_spec
from tests.test_study_support import FAKE_RUN

PNG = b"\x89PNG\r\n\x1a\n"
GAINS = {"a": 0.10, "b": 0.20, "c": 0.05}  # at pretraining fraction 1.0; half of it at 0.5


def write_spec(root, analyses="[]"):
    (root / "pt.yaml").write_text("x: 1\n")
    (root / "ft.yaml").write_text("y: 1\n")
    path = root / "study.yaml"
    path.write_text(
        f"name: rep\noutput_dir: {root / 'out'}\ncommand: [python, {FAKE_RUN}]\nmodels: [m1]\n"
        f"pretrain:\n  config: {root}/pt.yaml\n  fractions: [0.5, 1.0]\n"
        "  fraction_override: 'dataset_config.{dataset}.fraction={fraction}'\n"
        "  sources: {none: null, a: {dataset: pa}, b: {dataset: pb}, c: {dataset: pc}}\n"
        f"finetune:\n  config: {root}/ft.yaml\n  fractions: [0.1, 1.0]\n"
        "  fraction_override: 'dataset_config.{dataset}.fraction={fraction}'\n  seeds: [1, 2]\n"
        "  tasks: {t1: {dataset: d1, metric: d1/accuracy}}\n"
        "  modes: {finetuned: [], frozen: ['model_config.{model}.freeze_base=True']}\n"
        f"analyses: {analyses}\n"
    )
    return path


def expected_value(axes):
    """Baseline 0.5 (0.4 frozen, 0.3 on 10% of the downstream data) + gain x pretraining fraction + seed / 100."""
    value = 0.5 - 0.1 * (axes["mode"] == "frozen") - 0.2 * (axes["fraction"] == 0.1) + 0.01 * axes["seed"]
    if axes["source"] != "none":
        value += GAINS[axes["source"]] * axes["pretrain_fraction"]
    return value


def store_results(runs, skip=()):
    """done.json files as a finished runner leaves them, for every finetuning run not in ``skip``."""
    for run in runs:
        if run.kind == "finetune" and run.name not in skip:
            write_json(run.run_dir / "done.json", {"name": run.name, "axes": run.axes, "metrics": {
                "val": {"d1/accuracy": expected_value(run.axes)}, "updates": 3}})


@pytest.fixture
def study(tmp_path):
    spec = load_spec(write_spec(tmp_path))
    runs = expand_study(spec)
    return spec, runs


def table_row(report_text, source, fraction):
    """The cells of one row of the first table."""
    for line in report_text.splitlines():
        if line.startswith(f"| {source} | {fraction} |"):
            return [cell.strip() for cell in line.strip("|").split("|")][2:]
    raise AssertionError(f"no row {source} {fraction}")


def test_table_shows_mean_std_over_seeds_and_difference_to_baseline(study):
    spec, runs = study
    store_results(runs, skip={"ft-m1-c-p0.5-s1-t1-frozen-d1.0-s2"})
    report = write_report(spec, runs)
    text = report.path.read_text()
    # columns: t1 finetuned, t1 frozen; seeds 1 and 2 -> mean +0.015, sample std 0.0071; every seed's
    # difference to the baseline is the same, so the paired intervals have no width
    assert table_row(text, "none", "—") == ["0.5150 ± 0.0071 (n=2)", "0.4150 ± 0.0071 (n=2)"]
    assert table_row(text, "b", "1.0") == ["0.7150 ± 0.0071 (n=2) Δ +0.2000 [+0.2000, +0.2000]",
                                           "0.6150 ± 0.0071 (n=2) Δ +0.2000 [+0.2000, +0.2000]"]
    assert table_row(text, "a", "0.5") == ["0.5650 ± 0.0071 (n=2) Δ +0.0500 [+0.0500, +0.0500]",
                                           "0.4650 ± 0.0071 (n=2) Δ +0.0500 [+0.0500, +0.0500]"]
    assert table_row(text, "c", "0.5") == ["0.5400 ± 0.0071 (n=2) Δ +0.0250 [+0.0250, +0.0250]",
                                           "0.4350 (n=1, missing s2) Δ +0.0250 [n=1]"]  # seed 1's pair only
    assert "| b @1.0 | finetuned | 0.7150 ± 0.0071 | n=2 | +0.2000 | [+0.2000, +0.2000] |" in report.main_table
    assert "| c @0.5 | frozen | 0.4350 | n=1, missing s2 | +0.0250 | [n=1] |" in report.main_table
    assert "## m1, downstream training fraction 0.1" in text
    assert "| none | — | 0.3150 ± 0.0071 (n=2) | 0.2150 ± 0.0071 (n=2) |" in text


def test_results_and_summary_csv_hold_every_run_and_cell(study):
    spec, runs = study
    store_results(runs, skip={"ft-m1-a-p1.0-s1-t1-finetuned-d0.1-s1"})
    write_report(spec, runs)
    rows = list(csv.DictReader(open(spec.output_dir / "results.csv")))
    finetunes = [r for r in runs if r.kind == "finetune"]
    assert [row["run"] for row in rows] == [r.name for r in finetunes]
    missing = next(row for row in rows if row["run"] == "ft-m1-a-p1.0-s1-t1-finetuned-d0.1-s1")
    assert (missing["status"], missing["value"]) == ("pending", "")
    done = next(row for row in rows if row["run"] == "ft-m1-b-p0.5-s1-t1-frozen-d1.0-s2")
    assert (done["status"], float(done["value"]), done["metric"]) == ("done", pytest.approx(0.52), "d1/accuracy")
    summary = list(csv.DictReader(open(spec.output_dir / "summary.csv")))
    assert len(summary) == 2 * 2 * (1 + 3 * 2)  # fractions x modes x (baseline + sources x pretraining fractions)
    cell = next(s for s in summary if (s["source"], s["pretrain_fraction"], s["mode"], s["fraction"])
                == ("a", "1.0", "finetuned", "0.1"))
    # seed 1 is missing: the delta pairs seed 2 with the baseline's seed 2 only
    assert (cell["n"], cell["missing_seeds"], float(cell["mean"]), float(cell["delta"])) == (
        "1", "s1", pytest.approx(0.42), pytest.approx(0.10))
    assert (cell["delta_low"], cell["delta_high"], cell["within_noise"]) == ("", "", "")


def test_plots_are_written_and_linked(study):
    spec, runs = study
    store_results(runs)
    text = write_report(spec, runs).path.read_text()
    for name in ("bars_t1.png", "fraction_t1.png", "gain_vs_downstream_fraction_t1.png"):
        assert (spec.output_dir / "plots" / name).read_bytes().startswith(PNG)
        assert f"(plots/{name})" in text


def test_analysis_sections_appear_when_their_files_exist(tmp_path):
    spec = load_spec(write_spec(tmp_path, analyses="[drift, similarity]"))
    runs = expand_study(spec)
    store_results(runs)
    text = write_report(spec, runs).path.read_text()
    assert "## Attention drift\n\nNo results yet: expected `analysis/drift/" in text
    assert "## Domain similarity\n\nNo results yet: expected `analysis/similarity.csv`" in text

    drift = spec.output_dir / "analysis" / "drift"
    (drift / "pt-m1-b").mkdir(parents=True)
    (drift / "pt-m1-b" / "attn_l1__text.png").write_bytes(PNG)
    # gains at full fractions: a 0.10, b 0.20, c 0.05, in both modes; drift ranks them the same way
    with open(drift / "summary.csv", "w") as handle:
        handle.write("model,source,task,mode,attn_l1,note\n")
        for source, l1 in (("a", 2.0), ("b", 3.0), ("c", 1.0)):
            handle.write(f"m1,{source},t1,finetuned,{l1},x\n")
    with open(spec.output_dir / "analysis" / "similarity.csv", "w") as handle:
        handle.write("source,task,text_overlap,visual_frechet\n")
        for source, overlap, frechet in (("a", 0.5, 20.0), ("b", 0.9, 10.0), ("c", 0.1, 30.0)):
            handle.write(f"{source},t1,{overlap},{frechet}\n")
    text = write_report(spec, runs).path.read_text()
    assert "![analysis/drift/pt-m1-b/attn_l1__text.png](analysis/drift/pt-m1-b/attn_l1__text.png)" in text
    assert "| attn_l1 | +1.000 |" in text  # 'note' is not numeric, so it is not a measure
    assert "note" not in text.split("### Drift vs transfer gain")[1].split("## Domain similarity")[0]
    assert (spec.output_dir / "plots" / "drift_vs_gain.png").read_bytes().startswith(PNG)
    assert "| m1 | finetuned | text_overlap | +1.000 |" in text
    assert "| m1 | frozen | visual_frechet | -1.000 |" in text
    assert "| b | t1 | 0.9 | 10.0 |" in text


def test_unusable_analysis_files_are_explained_in_the_report(tmp_path):
    spec = load_spec(write_spec(tmp_path))
    runs = expand_study(spec)
    store_results(runs)
    (spec.output_dir / "analysis").mkdir(parents=True)
    (spec.output_dir / "analysis" / "similarity.csv").write_text("source,overlap\na,0.5\n")
    text = write_report(spec, runs).path.read_text()
    assert "similarity.csv: missing column(s) task; it needs source, task" in text
    (spec.output_dir / "analysis" / "similarity.csv").write_text("source,task,overlap\na,t1,0.5\nb,t1,0.6\n")
    text = write_report(spec, runs).path.read_text()
    assert "| m1 | finetuned | overlap | n/a (need at least 3 pairs for a rank correlation, got 2) |" in text


def test_problems_name_missing_metrics_and_failures(study):
    spec, runs = study
    store_results(runs)
    broken = next(r for r in runs if r.name == "ft-m1-a-p1.0-s1-t1-frozen-d1.0-s1")
    write_json(broken.run_dir / "done.json", {"metrics": {"val": {"d1/acc": 0.4}}})
    failed = next(r for r in runs if r.name == "ft-m1-b-p1.0-s1-t1-frozen-d1.0-s1")
    (failed.run_dir / "done.json").unlink()
    write_json(failed.run_dir / "failed.json", {"reason": "the run exited with status 1", "log_tail": ""})
    text = write_report(spec, runs).path.read_text()
    assert ("- ft-m1-a-p1.0-s1-t1-frozen-d1.0-s1: 'd1/accuracy' is not in its val metrics (has: d1/acc); "
            "fix finetune.tasks.t1.metric") in text
    assert "- ft-m1-b-p1.0-s1-t1-frozen-d1.0-s1 failed: the run exited with status 1" in text


def test_report_only_rebuilds_from_stored_results(study, capsys):
    spec, runs = study
    store_results(runs)
    assert main([str(spec.path), "--report-only"]) == 0
    out = capsys.readouterr().out
    assert "| c @1.0 | finetuned | 0.5650 ± 0.0071 | n=2 | +0.0500 | [+0.0500, +0.0500] |" in out
    assert "m1 · t1 (d1/accuracy, val), downstream fraction 1.0:" in out
    assert max(len(line) for line in out.splitlines()) <= 120
    assert out.rstrip().endswith(f"Report: {spec.output_dir / 'report.md'}")
    assert not any((r.run_dir / "run.json").exists() for r in runs)  # nothing was launched
