"""Study specs: validation errors name the key and the fix; the shipped specs expand to the paper's grid."""
import dataclasses
from pathlib import Path

import pytest
import yaml
from tests.test_study_support import REPO, study_yaml, write_configs

from mmf_domainstudy.study.run.plan import expand_study, select_runs
from mmf_domainstudy.study.run.spec import SpecError, load_spec

STUDIES = REPO / "projects" / "domain_study" / "studies"


def spec_with(tmp_path, edit):
    """A valid small spec, edited by ``edit(dict)``, written to disk."""
    write_configs(tmp_path)
    raw = yaml.safe_load(study_yaml(tmp_path))
    edit(raw)
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


BAD_SPECS = [
    (lambda s: s.pop("models"), "'models' is missing"),
    (lambda s: s.update(colour="red"), "'colour' is not a known key"),
    (lambda s: s.update(models=[]), "'models' must be a non-empty list"),
    (lambda s: s.update(models=["m1", "m1"]), "'models' lists a name twice"),
    (lambda s: s["pretrain"]["sources"]["a"].pop("dataset"), "'pretrain.sources.a.dataset' is missing"),
    (lambda s: s["pretrain"]["sources"].update(c=None), "several baselines"),
    (lambda s: s["pretrain"].update(fractions=[0.5, 2]), "Fractions are numbers in (0, 1]"),
    (lambda s: s["pretrain"].update(fractions=[0.5, 1.0]), "'pretrain.fraction_override' is missing"),
    (lambda s: s["finetune"]["tasks"]["t1"].pop("metric"), "'finetune.tasks.t1.metric' is missing"),
    (lambda s: s["finetune"].update(seeds=[1, 1]), "'finetune.seeds' must be a non-empty list of distinct"),
    (lambda s: s["finetune"].update(seeds=[0, 1]), "rc10 does not seed with 0"),
    (lambda s: s["pretrain"].update(seed=1), "'pretrain.seed' is not a known key"),  # it is seeds: [...]
    (lambda s: s["pretrain"].update(seeds=[]), "'pretrain.seeds' must be a non-empty list of distinct"),
    (lambda s: s["pretrain"].update(seeds=["1"]), "'pretrain.seeds' must be a non-empty list of distinct"),
    (lambda s: s["pretrain"].update(seeds=[2, 2]), "'pretrain.seeds' must be a non-empty list of distinct"),
    (lambda s: s["finetune"].update(seeds=[]), "'finetune.seeds' must be a non-empty list of distinct"),
    (lambda s: s["finetune"].update(seeds=[1.5, 2]), "'finetune.seeds' must be a non-empty list of distinct"),
    (lambda s: s.update(overlays=["{model}.yaml"]), "'overlays[0]' uses {model}, which is not known here. "
                                                    "Available: none"),
    (lambda s: s["finetune"]["modes"].update(frozen=["freeze_base"]), "not an MMF override"),
    (lambda s: s["finetune"]["modes"].update(frozen=["model_config.{modle}.freeze_base=True"]), "uses {modle}"),
    (lambda s: s["pretrain"].update(config="configs/{task}.yaml"), "'pretrain.config' uses {task}"),
    (lambda s: s.update(analyses=["attention"]), "List any of: drift, similarity, probe"),
    (lambda s: s.update(analysis={"probe_samples": 1}), "'analysis.probe_samples'"),
    (lambda s: s.update(report={"split": "train"}), "'report.split' is 'train'"),
    (lambda s: s.update(output_dir="$NO_SUCH_STUDY_VAR/out"), "uses $NO_SUCH_STUDY_VAR, which is not set"),
    (lambda s: s.update(slurm={"gpus": 8}), "'slurm.gpus' is not a known key"),
    (lambda s: s.update(name="my study"), "Names are letters"),
    (lambda s: s["pretrain"]["sources"]["a"].update(domain="inside"), "'pretrain.sources.a.domain' is 'inside'"),
    (lambda s: s["pretrain"]["sources"]["a"].update(generated_from="zz"), "'pretrain.sources.a.generated_from'"),
    (lambda s: s["finetune"].update(extra={"fractions": [0.1]}), "'finetune.extra' must be a list of grids"),
    (lambda s: s["finetune"].update(extra=[{"sources": ["a"]}]), "'finetune.extra[0].fractions' is missing"),
    (lambda s: s["finetune"].update(extra=[{"fractions": [0.1], "sources": ["zz"]}], fraction_override="x={fraction}"),
     "'finetune.extra[0].sources' names 'zz', which is not a pretraining source"),
    (lambda s: s["finetune"].update(extra=[{"fractions": [0.1], "tasks": ["t9"]}], fraction_override="x={fraction}"),
     "'finetune.extra[0].tasks' names 't9', which is not in the grid"),
    (lambda s: s["finetune"].update(extra=[{"fractions": [0.1]}]), "'finetune.fraction_override' is missing"),
]


@pytest.mark.parametrize("edit, message", BAD_SPECS)
def test_bad_spec_names_the_key_and_the_fix(tmp_path, edit, message):
    path = spec_with(tmp_path, edit)
    with pytest.raises(SpecError) as error:
        load_spec(path)
    assert message in str(error.value)
    assert str(path) in str(error.value)


def test_missing_config_file_names_the_spec_key(tmp_path):
    path = spec_with(tmp_path, lambda s: s["finetune"]["tasks"].update(t3={"dataset": "d", "metric": "d/acc"}))
    with pytest.raises(SpecError) as error:
        expand_study(load_spec(path))
    assert "'finetune.config'" in str(error.value) and "t3.yaml: config file not found" in str(error.value)


def test_missing_include_names_the_including_file(tmp_path):
    path = spec_with(tmp_path, lambda s: None)
    (tmp_path / "configs" / "pretrain" / "a.yaml").write_text("includes: [nowhere.yaml]\n")
    with pytest.raises(SpecError) as error:
        expand_study(load_spec(path))
    assert "a.yaml: include 'nowhere.yaml' not found" in str(error.value)


def test_extends_merges_mappings_and_replaces_lists(tmp_path):
    base = spec_with(tmp_path, lambda s: None)
    child = tmp_path / "child.yaml"
    child.write_text("extends: study.yaml\nname: child\nfinetune:\n  seeds: [7]\n")
    spec = load_spec(child)
    assert spec.name == "child" and spec.finetune.seeds == (7,)
    assert spec.finetune.tasks == load_spec(base).finetune.tasks


@pytest.mark.parametrize("name", sorted(p.name for p in STUDIES.glob("*.yaml")))
def test_shipped_specs_are_valid(name):
    spec = load_spec(STUDIES / name)
    assert spec.baseline is not None and spec.baseline.name == "none"
    assert {"finetuned", "frozen"} <= set(spec.finetune.modes)


def test_paper_spec_expands_to_the_papers_grid_over_the_project_configs(monkeypatch):
    monkeypatch.chdir(REPO)
    spec = load_spec(STUDIES / "paper.yaml")
    runs = expand_study(spec)
    pretrains = [r for r in runs if r.kind == "pretrain"]
    finetunes = [r for r in runs if r.kind == "finetune"]
    assert len(pretrains) == 2 * 5 * 3  # models x sources with data x fractions
    assert len(finetunes) == 2 * (1 + 5 * 3) * 4 * 2 * 2 * 3  # x upstreams x tasks x modes x fractions x seeds
    assert len({r.run_dir for r in runs}) == len(runs)
    frozen = next(r for r in finetunes if r.name == "ft-vilbert-ccg-p0.5-s1-mmimdb-frozen-d0.1-s3")
    assert frozen.depends_on.name == "pt-vilbert-ccg-p0.5-s1"
    assert frozen.config == "projects/domain_study/configs/vilbert/finetune/mmimdb.yaml"
    assert frozen.overrides == ("run_type=train_val", "model_config.vilbert.freeze_base=True",
                                "dataset_config.mmimdb.fraction=0.1", "training.seed=3")
    assert pretrains[0].overrides == ("run_type=train_val", "dataset_config.masked_coco.fraction=0.1",
                                      "training.seed=1")
    baseline = [r for r in finetunes if r.axes["source"] == "none"]
    assert len(baseline) == 2 * 4 * 2 * 2 * 3 and all(r.depends_on is None for r in baseline)


def test_paper_spec_agrees_with_the_project_configs(monkeypatch):
    """dataset= and the reported metric must be what each config trains and stops early on."""
    from mmf.utils.configuration import load_yaml

    monkeypatch.chdir(REPO)
    spec = load_spec(STUDIES / "paper.yaml")
    checks = {(run.config, run.dataset, run.model, run.axes["task"]) for run in expand_study(spec)}
    assert len(checks) == 2 * (5 + 4)  # each model's source and task configs
    for path, dataset, model, task in checks:
        config = load_yaml(str(REPO / path))
        assert (config.datasets, config.model) == (dataset, model), path
        if task is not None:
            assert config.training.early_stop.criteria == spec.finetune.tasks[task].metric, path
            assert dict(config.checkpoint.pretrained_state_mapping) == {"model.bert": "model.bert"}, path


def test_paper_tiny_differs_from_paper_only_by_overlay_and_seeds(monkeypatch):
    monkeypatch.chdir(REPO)
    paper, tiny = load_spec(STUDIES / "paper.yaml"), load_spec(STUDIES / "paper_tiny.yaml")
    assert tiny.overlays == ("projects/domain_study/configs/tiny.yaml",) and tiny.finetune.seeds == (1,)
    assert tiny.pretrain == paper.pretrain and tiny.finetune == dataclasses.replace(paper.finetune, seeds=(1,))
    tiny_runs = expand_study(tiny)
    assert len(tiny_runs) == 30 + 1536 // 3
    assert not {r.digest for r in tiny_runs} & {r.digest for r in expand_study(paper)}


def test_only_selects_matching_runs_and_what_they_start_from(tmp_path):
    runs = expand_study(load_spec(spec_with(tmp_path, lambda s: None)))
    chosen = select_runs(runs, "ft-m1-a-*-frozen-*")
    assert [r.name for r in chosen] == ["pt-m1-a-p1.0-s1", "ft-m1-a-p1.0-s1-t1-frozen-d1.0-s1",
                                        "ft-m1-a-p1.0-s1-t1-frozen-d1.0-s2"]
    assert Path(chosen[1].run_dir).parent == tmp_path / "out" / "runs"


def test_extra_grid_adds_fractions_only_where_it_says(tmp_path):
    def edit(raw):
        raw["pretrain"]["sources"]["a"].update(domain="in")
        raw["pretrain"]["sources"]["b"].update(domain="out", generated_from="a")
        raw["finetune"].update(fraction_override="dataset_config.{dataset}.fraction={fraction}",
                               extra=[{"fractions": [0.1], "sources": ["none", "a"], "modes": ["finetuned"]}])

    spec = load_spec(spec_with(tmp_path, edit))
    assert spec.pretrain.sources["a"].domain == "in" and spec.pretrain.sources["b"].generated_from == "a"
    runs = [r for r in expand_study(spec) if r.kind == "finetune"]
    small = {(r.axes["source"], r.axes["mode"]) for r in runs if r.axes["fraction"] == 0.1}
    assert small == {("none", "finetuned"), ("a", "finetuned")}
    assert sum(r.axes["fraction"] == 0.1 for r in runs) == 2 * len(spec.finetune.seeds)
    assert spec.finetune.all_fractions == (0.1, 1.0)
