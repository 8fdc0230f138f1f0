"""Uncertainty in the report and its Findings section, from hand-made stored results.

The synthetic study: models m1 and m2; sources none (the baseline), inreal (real in-domain captions,
100 train samples), ccg (captions generated after inreal's) and out (out of domain, 1000 samples);
task t1 finetuned and frozen, seeds 1-3, plus downstream fraction 0.1 for none and inreal. A run's
value is 0.5 + its model's scale x its source's effect in its mode (x LOW_RESOURCE at fraction 0.1)
+ noise x a per-(source, model, mode) pattern over the seeds, so every paired difference has a spread.
"""
import csv
import dataclasses

import numpy as np
import pytest
import scipy.stats

from mmf_domainstudy.analysis.statistics import paired_t_interval, seed_contrast_interval, welch_interval
from mmf_domainstudy.study.report.findings import compute_findings, source_sizes
from mmf_domainstudy.study.report.plots import gain_plot
from mmf_domainstudy.study.report.results import Cell, collect_results, delta, summarize
from mmf_domainstudy.study.report.write import write_report
from mmf_domainstudy.study.run.plan import expand_study
from mmf_domainstudy.study.run.rundir import write_json
from mmf_domainstudy.study.run.spec import load_spec
from tests.test_study_support import FAKE_RUN

PATTERNS = ((0.0, 1.0, -1.0), (1.0, -1.0, 0.0), (-1.0, 0.0, 1.0), (0.5, -1.0, 0.5))  # per seed 1, 2, 3


@dataclasses.dataclass
class Truth:
    """What the synthetic runs measure: effects over the baseline per (source, mode), scaled per model."""

    effects: dict = dataclasses.field(default_factory=lambda: {
        ("inreal", "finetuned"): 0.10, ("ccg", "finetuned"): 0.07, ("out", "finetuned"): 0.04,
        ("inreal", "frozen"): 0.05, ("ccg", "frozen"): 0.08, ("out", "frozen"): 0.03})
    scales: dict = dataclasses.field(default_factory=lambda: {"m1": 1.0, "m2": 0.5})
    overrides: dict = dataclasses.field(default_factory=dict)  # (model, source, mode) -> effect, scale included
    low_resource: float = 2.0  # gain at downstream fraction 0.1 / gain at 1.0
    noise: float = 0.001
    sizes: dict = dataclasses.field(default_factory=lambda: {"inreal": 100, "ccg": 100, "out": 1000})

    def value(self, axes):
        source, mode, model = axes["source"], axes["mode"], axes["model"]
        effect = 0.0 if source == "none" else self.overrides.get(
            (model, source, mode), self.scales[model] * self.effects[(source, mode)])
        low = axes["fraction"] < 1.0
        if low:
            effect *= self.low_resource
        pattern = PATTERNS[(("none", "inreal", "ccg", "out").index(source) + 2 * (mode == "frozen")
                            + (model == "m2") + low) % len(PATTERNS)]
        return 0.5 + effect + self.noise * pattern[axes["seed"] - 1]


BOTH_MODES = "{finetuned: [], frozen: ['model_config.{model}.freeze_base=True']}"


def write_spec(root, models="[m1, m2]", roles=True, modes=BOTH_MODES, extra=True):
    root.mkdir(parents=True, exist_ok=True)
    (root / "pt.yaml").write_text("x: 1\n")
    (root / "ft.yaml").write_text("y: 1\n")
    roles_given = ("{dataset: pa, domain: in}", "{dataset: pc, domain: in, generated_from: inreal}",
                   "{dataset: po, domain: out}")
    inreal, ccg, out = roles_given if roles else ("{dataset: pa}", "{dataset: pc}", "{dataset: po}")
    extra_lines = "  extra: [{fractions: [0.1], sources: [none, inreal]}]\n" if extra else ""
    path = root / "study.yaml"
    path.write_text(
        f"name: findings\noutput_dir: {root / 'out'}\ncommand: [python, {FAKE_RUN}]\nmodels: {models}\n"
        f"pretrain:\n  config: {root}/pt.yaml\n"
        f"  sources: {{none: null, inreal: {inreal}, ccg: {ccg}, out: {out}}}\n"
        f"finetune:\n  config: {root}/ft.yaml\n  seeds: [1, 2, 3]\n"
        "  fraction_override: 'dataset_config.{dataset}.fraction={fraction}'\n"
        f"{extra_lines}"
        "  tasks: {t1: {dataset: d1, metric: d1/accuracy}}\n"
        f"  modes: {modes}\n"
    )
    return path


def store(runs, truth, skip=()):
    """done.json files as a finished runner leaves them (pretraining runs with their train size)."""
    for run in runs:
        if run.name in skip:
            continue
        if run.kind == "pretrain":
            sizes = {"train": truth.sizes[run.axes["source"]]} if run.axes["source"] in truth.sizes else {}
            metrics = {"val": {}, "updates": 3, "samples": sizes}
        else:
            metrics = {"val": {"d1/accuracy": truth.value(run.axes)}, "updates": 3}
        write_json(run.run_dir / "done.json", {"name": run.name, "axes": run.axes, "metrics": metrics})


def verdicts(tmp_path, truth=None, **spec_options):
    spec = load_spec(write_spec(tmp_path, **spec_options))
    runs = expand_study(spec)
    store(runs, truth or Truth())
    results, _ = collect_results(spec, runs)
    return {f.letter: f for f in compute_findings(spec, summarize(results), source_sizes(spec, runs))}


NOISY = Truth(noise=0.05)
# (truth, spec options, the verdicts expected), each case moving one value or the noise from the first
CASES = {
    "as built": (Truth(), {}, dict(a="supported", b="supported", c="supported", d="supported", e="supported",
                                   f="supported")),
    "noise wider than every effect": (NOISY, {}, dict(a="inconclusive", b="inconclusive", c="inconclusive",
                                                      d="inconclusive", e="inconclusive", f="inconclusive")),
    "out beats in once": (Truth(overrides={("m1", "out", "finetuned"): 0.15}), {}, dict(a="not supported",
                                                                                       b="supported")),
    "out beats in everywhere": (Truth(effects={**Truth().effects, ("out", "finetuned"): 0.2, ("out", "frozen"): 0.2}),
                                {}, dict(a="not supported", b="not supported")),
    "less gain with little data": (Truth(low_resource=0.5), {}, dict(c="not supported")),
    "ccg below the midpoint": (Truth(effects={**Truth().effects, ("ccg", "finetuned"): 0.03}), {},
                               dict(d="not supported")),
    "m2 transfers better": (Truth(scales={"m1": 0.5, "m2": 1.0}), {}, dict(e="supported")),
    "each model better for some source": (Truth(overrides={("m2", "out", "finetuned"): 0.2}), {},
                                          dict(e="not supported")),
    "one best source in both modes": (Truth(effects={**Truth().effects, ("inreal", "frozen"): 0.10,
                                                     ("ccg", "frozen"): 0.05}), {}, dict(f="not supported")),
    "the out-of-domain source is the smaller": (Truth(sizes={"inreal": 100, "ccg": 100, "out": 50}), {},
                                                dict(b="not tested")),
    "no sizes recorded": (Truth(sizes={}), {}, dict(b="not tested")),
    "no domain roles": (Truth(), dict(roles=False), dict(a="not tested", b="not tested", d="not tested",
                                                         c="supported", f="supported")),
    "one model": (Truth(), dict(models="[m1]"), dict(e="not tested", a="supported")),
    "one downstream fraction": (Truth(), dict(extra=False), dict(c="not tested")),
    "no frozen mode": (Truth(), dict(modes="{finetuned: []}"), dict(f="not tested", a="supported")),
}


@pytest.mark.parametrize("case", CASES)
def test_each_verdict_follows_the_results(tmp_path, case):
    truth, options, expected = CASES[case]
    found = verdicts(tmp_path, truth, **options)
    assert {letter: found[letter].verdict for letter in expected} == expected


def test_verdict_summaries_name_the_winner_and_what_the_spec_lacks(tmp_path):
    assert verdicts(tmp_path / "1", Truth(scales={"m1": 0.5, "m2": 1.0}))["e"].summary == (
        "finetuned, m1 vs m2: m2 transfers better (3 comparisons).",
        "frozen, m1 vs m2: m2 transfers better (3 comparisons).")
    found = verdicts(tmp_path / "2", Truth(sizes={"inreal": 100, "ccg": 100, "out": 50}), models="[m1]")
    assert found["e"].summary == ("Not tested: the spec has one model.",)
    assert found["b"].summary == ("Not tested: the spec has no in-domain source smaller than the largest "
                                  "out-of-domain one, out (train samples: inreal 100, ccg 100, out 50).",)
    assert found["f"].comparisons[0].note == "best finetuned: inreal; best frozen: ccg"


def test_findings_section_in_the_report(tmp_path):
    spec = load_spec(write_spec(tmp_path))
    runs = expand_study(spec)
    store(runs, Truth())
    text = write_report(spec, runs).path.read_text()
    section = text.split("## Findings")[1].split("\n## ")[0]
    for heading in ("(a) In-domain beats out-of-domain: **supported**", "(b) Domain beats size: **supported**",
                    "(c) Pretraining helps more with little downstream data: **supported**",
                    "(d) Generated captions: **supported**", "(e) Which architecture transfers better: **supported**",
                    "(f) The best source depends on the mode: **supported**"):
        assert f"### {heading}" in section
    assert "train samples (pretraining runs' metrics.json): out 1000, inreal 100, ccg 100." in section
    assert "| m1 | t1 | finetuned | inreal − out: +0.0600 [" in section
    assert text.index("## Findings") < text.index("## Plots")
    store(runs, Truth(effects={**Truth().effects, ("out", "finetuned"): 0.2, ("out", "frozen"): 0.2}))
    text = write_report(spec, runs).path.read_text()
    assert "### (a) In-domain beats out-of-domain: **not supported**" in text
    assert "### (b) Domain beats size: **not supported**" in text


def test_paired_interval_is_students_t_on_the_shared_seeds():
    source = {1: 0.61, 2: 0.64, 3: 0.64, 4: 0.70}
    baseline = {1: 0.55, 2: 0.56, 3: 0.57}  # seed 4 is not shared: left out
    differences = np.array([0.06, 0.08, 0.07])
    half = scipy.stats.t.ppf(0.975, 2) * differences.std(ddof=1) / np.sqrt(3)
    interval = seed_contrast_interval([(1, source), (-1, baseline)])
    assert (interval.method, interval.n) == ("paired", 3)
    assert interval.estimate == pytest.approx(differences.mean())
    assert (interval.low, interval.high) == (pytest.approx(differences.mean() - half),
                                             pytest.approx(differences.mean() + half))
    assert interval.within_noise is False
    assert paired_t_interval([0.01, -0.02, 0.04]).within_noise is True


def test_welch_interval_without_shared_seeds():
    source, baseline = {1: 0.61, 2: 0.64, 3: 0.58}, {4: 0.55, 5: 0.60}
    interval = seed_contrast_interval([(1, source), (-1, baseline)])
    expected = scipy.stats.ttest_ind(list(source.values()), list(baseline.values()), equal_var=False)
    low, high = expected.confidence_interval(0.95)
    assert (interval.method, interval.n) == ("Welch", 2)
    assert (interval.low, interval.high) == (pytest.approx(low), pytest.approx(high))
    assert interval.estimate == pytest.approx(np.mean([0.61, 0.64, 0.58]) - np.mean([0.55, 0.60]))


def test_one_seed_gives_no_interval(tmp_path):
    assert paired_t_interval([0.05]).low is None and paired_t_interval([0.05]).within_noise is None
    assert welch_interval([(1, [0.6, 0.7]), (-1, [0.5])]).low is None
    spec_path = write_spec(tmp_path)
    spec_path.write_text(spec_path.read_text().replace("seeds: [1, 2, 3]", "seeds: [1]"))
    spec = load_spec(spec_path)
    runs = expand_study(spec)
    store(runs, Truth(noise=0.0))
    report = write_report(spec, runs)
    assert "| inreal | 1.0 | 0.6000 (n=1) Δ +0.1000 [n=1] |" in report.path.read_text()
    assert "| inreal | finetuned | 0.6000 | n=1 | +0.1000 | [n=1] |" in report.main_table
    results, _ = collect_results(spec, runs)
    one_seed = compute_findings(spec, summarize(results), source_sizes(spec, runs))
    assert [f.verdict for f in one_seed] == ["inconclusive"] * 6  # with three seeds: all supported (CASES)
    assert one_seed[0].comparisons[0].evidence[0].interval.low is None


def truth_by_seed(runs, truth, source):
    """Seed -> the value stored for m1's run of this source, finetuned on the full t1 data."""
    wanted = ("m1", source, "finetuned", 1.0)
    return {run.axes["seed"]: truth.value(run.axes) for run in runs if run.kind == "finetune"
            and (run.model, run.axes["source"], run.axes["mode"], run.axes["fraction"]) == wanted}


def test_missing_seeds_are_named_and_never_averaged(tmp_path):
    spec = load_spec(write_spec(tmp_path))
    runs = expand_study(spec)
    truth = Truth()
    failed = next(r for r in runs if r.name == "ft-m1-inreal-p1.0-s1-t1-finetuned-d1.0-s2")
    store(runs, truth, skip={failed.name})
    write_json(failed.run_dir / "failed.json", {"reason": "the run exited with status 1", "log_tail": ""})
    report = write_report(spec, runs)
    text = report.path.read_text()
    by_seed, baseline = (truth_by_seed(runs, truth, source) for source in ("inreal", "none"))
    mean = np.mean([by_seed[1], by_seed[3]])
    differences = [by_seed[1] - baseline[1], by_seed[3] - baseline[3]]  # seed 2 is left out on both sides
    paired = np.mean(differences)
    half = scipy.stats.t.ppf(0.975, 1) * np.std(differences, ddof=1) / np.sqrt(2)
    row = next(line for line in text.splitlines() if line.startswith("| inreal | 1.0 |"))
    assert f"| inreal | 1.0 | {mean:.4f} ± {np.std([by_seed[1], by_seed[3]], ddof=1):.4f} (n=2, missing s2) " \
           f"Δ {paired:+.4f} [" in row
    assert f"| inreal | finetuned | {mean:.4f} ± " in report.main_table and "| n=2, missing s2 |" in report.main_table
    assert f"- {failed.name} failed: the run exited with status 1" in text
    summary = next(row for row in csv.DictReader(open(spec.output_dir / "summary.csv"))
                   if (row["model"], row["source"], row["mode"], row["fraction"])
                   == ("m1", "inreal", "finetuned", "1.0"))
    assert (summary["n"], summary["missing_seeds"]) == ("2", "s2")
    assert (float(summary["mean"]), float(summary["delta"])) == (pytest.approx(mean), pytest.approx(paired))
    assert (float(summary["delta_low"]), float(summary["delta_high"])) == (pytest.approx(paired - half),
                                                                           pytest.approx(paired + half))
    assert (summary["delta_method"], summary["within_noise"]) == ("paired", "False")


def test_several_pretraining_seeds_average_per_finetuning_seed_first():
    cell = Cell(0.6, 0.01, 3, {(1, 1): 0.60, (2, 1): 0.64, (1, 2): 0.58}, ((2, 2),))
    assert cell.seed_means() == {1: pytest.approx(0.62)}  # seed 2 lacks pretraining seed 2's run
    assert cell.missing_text() == "p2-s2"


def test_gain_plot_error_bars_are_the_intervals(tmp_path):
    spec = load_spec(write_spec(tmp_path))
    runs = expand_study(spec)
    store(runs, Truth(noise=0.01))
    results, _ = collect_results(spec, runs)
    cells = summarize(results)
    axes = gain_plot(spec, cells, "t1").axes[0]  # m1
    bars = next(c for c in axes.containers if c.get_label() == "inreal finetuned")
    segments = bars.lines[2][0].get_segments()  # one vertical segment per downstream fraction
    for fraction, segment in zip(spec.finetune.all_fractions, segments):
        interval = delta(spec, cells, "m1", "inreal", 1.0, "t1", "finetuned", fraction)
        assert (segment[0][1], segment[1][1]) == (pytest.approx(interval.low), pytest.approx(interval.high))
        assert interval.high - interval.low > 0.01
