"""The report's Recommender section, from hand-made stored results and a similarity.csv.

similarity.csv makes the recommender rank a > b > c for task t1. Gains over the baseline (paired by seed):
finetuned a {0.3, 0.0, 0.3}, b {0.1, 0.2, 0.1}, c {-0.1, -0.1, -0.2} at seeds 1, 2, 3: a is best on the mean,
but a draw with seed 2 at least twice (7 of 27 draws) puts b first (rho 0.5); frozen: c > b > a at every
seed (rho -1). At the smaller pretraining and downstream fractions the gains are reversed, so a section
that read them would flip its verdicts.
"""
import re

import pytest

from mmf_domainstudy.study.report.write import write_report
from mmf_domainstudy.study.run.plan import expand_study
from mmf_domainstudy.study.run.rundir import write_json
from mmf_domainstudy.study.run.spec import load_spec
from tests.test_study_support import FAKE_RUN

GAINS = {
    "finetuned": {"a": (0.3, 0.0, 0.3), "b": (0.1, 0.2, 0.1), "c": (-0.1, -0.1, -0.2)},
    "frozen": {"a": (-0.1, -0.1, -0.1), "b": (0.0, 0.0, 0.0), "c": (0.1, 0.1, 0.1)},
}
SIMILARITY = ("source,task,text_jsd,vocab_jaccard,target_token_coverage,target_type_coverage,visual_frechet\n"
              "a,t1,0.1,0.9,0.9,0.9,1.0\nb,t1,0.5,0.5,0.5,0.5,10.0\nc,t1,0.9,0.1,0.1,0.1,100.0\n")


def write_spec(root, seeds=(1, 2, 3), analyses="[similarity]", baseline="none: null, "):
    (root / "pt.yaml").write_text("x: 1\n")
    (root / "ft.yaml").write_text("y: 1\n")
    path = root / "study.yaml"
    path.write_text(
        f"name: rec\noutput_dir: {root / 'out'}\ncommand: [python, {FAKE_RUN}]\nmodels: [m1]\n"
        f"pretrain:\n  config: {root}/pt.yaml\n  fractions: [0.5, 1.0]\n"
        "  fraction_override: 'dataset_config.{dataset}.fraction={fraction}'\n"
        f"  sources: {{{baseline}a: {{dataset: pa}}, b: {{dataset: pb}}, c: {{dataset: pc}}}}\n"
        f"finetune:\n  config: {root}/ft.yaml\n  fractions: [0.1, 1.0]\n"
        f"  fraction_override: 'dataset_config.{{dataset}}.fraction={{fraction}}'\n  seeds: {list(seeds)}\n"
        "  tasks: {t1: {dataset: d1, metric: d1/accuracy}}\n"
        "  modes: {finetuned: [], frozen: ['model_config.{model}.freeze_base=True']}\n"
        f"analyses: {analyses}\n"
    )
    return load_spec(path)


def value(axes):
    """The baseline's 0.5 + seed / 100 (cancels in a paired gain), plus the source's gain at that seed."""
    result = 0.5 + axes["seed"] / 100
    if axes["source"] != "none":
        gain = GAINS[axes["mode"]][axes["source"]][axes["seed"] - 1]
        full = axes["pretrain_fraction"] == 1.0 and axes["fraction"] == 1.0
        result += gain if full else -gain
    return result


def study_with_results(root, skip=(), similarity=SIMILARITY, **options):
    spec = write_spec(root, **options)
    runs = expand_study(spec)
    for run in runs:
        if run.kind == "finetune" and run.name not in skip:
            write_json(run.run_dir / "done.json", {"name": run.name, "axes": run.axes, "metrics": {
                "val": {"d1/accuracy": value(run.axes)}, "updates": 3}})
    if similarity:
        (spec.output_dir / "analysis").mkdir(parents=True, exist_ok=True)
        (spec.output_dir / "analysis" / "similarity.csv").write_text(similarity)
    return spec, runs


def section(spec, runs):
    text = write_report(spec, runs).path.read_text()
    assert "## Recommender" in text
    return text.split("## Recommender")[1]


def test_ranking_next_to_measured_gains_with_a_seed_bootstrap_interval(tmp_path):
    text = section(*study_with_results(tmp_path))
    assert ("| source | recommended | score | text rank | visual rank | m1 finetuned: gain (rank) | "
            "m1 frozen: gain (rank) |") in text
    assert "| a | 1 | 1.00 | 1.00 | 1.00 | +0.2000 (1) | -0.1000 (3) |" in text
    assert "| b | 2 | 2.00 | 2.00 | 2.00 | +0.1333 (2) | +0.0000 (2) |" in text
    assert "| c | 3 | 3.00 | 3.00 | 3.00 | -0.1333 (3) | +0.1000 (1) |" in text
    assert "| m1 | finetuned | +1.000 | [+0.500, +1.000] | 3 (1, 2, 3) |" in text
    assert "| m1 | frozen | -1.000 | [-1.000, -1.000] | 3 (1, 2, 3) |" in text
    verdict = re.search(r"- m1, finetuned: the recommender would have picked the best source, a \(gain \+0.2000\); "
                        r"a has the largest gain in (\d+)% of the seed draws\.", text)
    assert int(verdict.group(1)) == pytest.approx(100 * 20 / 27, abs=3)  # unless seed 2 is drawn twice or more
    assert ("- m1, frozen: the recommender would not have picked the best source: it ranks a first (gain -0.1000, "
            "measured rank 3 of 3); the largest gain is c's (+0.1000).") in text


def test_one_seed_gives_rho_without_an_interval(tmp_path):
    text = section(*study_with_results(tmp_path, seeds=(2,)))
    # at seed 2 alone b gains most (0.2 > 0.0 > -0.1): recommended a, b, c vs measured b, a, c
    assert "| m1 | finetuned | +0.500 | none: one seed | 1 (2) |" in text
    assert "- m1, finetuned: the recommender would not have picked the best source: it ranks a first (gain " \
           "+0.0000, measured rank 2 of 3); the largest gain is b's (+0.2000)." in text


def test_a_missing_seed_is_left_out_for_every_source_and_named(tmp_path):
    spec, runs = study_with_results(tmp_path, skip={"ft-m1-b-p1.0-s1-t1-finetuned-d1.0-s2"})
    text = section(spec, runs)
    # without seed 2: a 0.3, b 0.1, c -0.15; a picked in every draw of seeds 1 and 3
    assert "| m1 | finetuned | +1.000 | [+1.000, +1.000] | 2 (1, 3) |" in text
    assert "| a | 1 | 1.00 | 1.00 | 1.00 | +0.3000 (1) |" in text
    assert ("- m1, finetuned: the recommender would have picked the best source, a (gain +0.3000); a has the "
            "largest gain in 100% of the seed draws (missing: seed 2 for b).") in text
    assert "| m1 | frozen | -1.000 | [-1.000, -1.000] | 3 (1, 2, 3) |" in text


def test_a_source_without_results_is_compared_without_it(tmp_path):
    skip = {f"ft-m1-c-p1.0-s1-t1-finetuned-d1.0-s{seed}" for seed in (1, 2, 3)}
    text = section(*study_with_results(tmp_path, skip=skip))
    assert "| c | 3 | 3.00 | 3.00 | 3.00 | — | +0.1000 (1) |" in text
    assert "| m1 | finetuned | n/a (need at least 3 pairs for a rank correlation, got 2) | n/a | 3 (1, 2, 3) |" in text
    assert "(no result yet for c)." in text


@pytest.mark.parametrize("analyses, expected", [
    ("[similarity]", "## Recommender\n\nNo recommendation yet: it ranks the sources from `analysis/similarity.csv`"),
    ("[]", None),
])
def test_without_similarity_csv(tmp_path, analyses, expected):
    spec, runs = study_with_results(tmp_path, similarity=None, analyses=analyses)
    text = write_report(spec, runs).path.read_text()
    if expected is None:
        assert "## Recommender" not in text
    else:
        assert expected in text


def test_a_similarity_csv_without_a_measure_is_explained(tmp_path):
    similarity = "source,task,text_jsd\na,t1,0.1\nb,t1,0.5\nc,t1,0.9\n"
    text = section(*study_with_results(tmp_path, similarity=similarity))
    assert ("Not shown: `analysis/similarity.csv`: source 'a' lacks the measure(s) vocab_jaccard, "
            "target_token_coverage, target_type_coverage, visual_frechet") in text


def test_without_a_baseline_only_the_recommendation_is_shown(tmp_path):
    text = section(*study_with_results(tmp_path, baseline=""))
    assert "| a | 1 | 1.00 | 1.00 | 1.00 |\n" in text
    assert "No measured ranking: the spec has no baseline source (null settings) to measure gains against." in text
