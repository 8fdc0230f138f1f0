"""The embedded demo: its data preparation, its vocabulary and a reduced demo study, end to end.

The reduced study is demo.yaml itself (configs, overlay, data layout) with VisualBERT only,
two updates per run, pretraining on in-domain and generated captions, finetuning on easy-vqa.
"""
import os

import pytest
import yaml

from mmf_domainstudy.demo.prepare import prepare_demo_data
from mmf_domainstudy.demo.vocabulary import DEMO_VOCABULARY_SIZE, SPECIAL_TOKENS, demo_texts, write_demo_vocabulary
from mmf_domainstudy.formats.errors import DataFormatError
from mmf_domainstudy.formats.imdb import read_imdb
from mmf_domainstudy.study.run.local import LocalExecutor
from mmf_domainstudy.study.run.plan import expand_study, select_runs
from mmf_domainstudy.study.report.write import write_report
from mmf_domainstudy.study.run.rundir import read_done
from mmf_domainstudy.study.run.runner import DONE, StudyRunner
from mmf_domainstudy.study.run.spec import load_spec
from mmf_domainstudy.text.pretrained import load_bert_tokenizer
from tests.conftest import REPO, mmf_env

DEMO_STUDY = os.path.join(REPO, "projects", "domain_study", "studies", "demo.yaml")
TWO_UPDATES = [
    "training.max_updates=2", "training.evaluation_interval=2", "training.checkpoint_interval=2",
    "training.log_interval=1", "scheduler.params.num_warmup_steps=1", "scheduler.params.num_training_steps=2",
]


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory):
    data_dir = str(tmp_path_factory.mktemp("demo_data"))
    paths = prepare_demo_data(data_dir, max_images=40, image_size=32, texture_images=10, threads=1)
    return data_dir, paths


def test_demo_data_has_every_source_and_task(demo_data):
    _, paths = demo_data
    for path in (paths["ccg"], *paths["captions"].values(), *paths["entailment"].values(),
                 *paths["textures"]["annotations"].values(), paths["textures"]["features"]):
        assert os.path.exists(path), path
    first_half = {s["image_id"] for s in read_imdb(paths["captions"]["first_half"])[1]}
    generated = {s["image_id"] for s in read_imdb(paths["ccg"])[1]}
    assert generated and not first_half & generated  # CCG captions only images the captioner never saw


def test_demo_vocabulary_tokenizes_every_demo_text_as_bert_base_uncased(demo_data):
    _, paths = demo_data
    full = load_bert_tokenizer("bert-base-uncased")
    for use_fast in (False, True):
        small = load_bert_tokenizer(paths["vocabulary"], use_fast=use_fast)
        assert len(small) == DEMO_VOCABULARY_SIZE
        assert small.convert_tokens_to_ids(list(SPECIAL_TOKENS))[0] == 0  # MMF pads input_ids with 0
        for text in demo_texts(paths):
            tokens = full.tokenize(text)
            assert small.tokenize(text) == tokens, text
            assert small.unk_token_id not in small.convert_tokens_to_ids(tokens), text


def test_demo_vocabulary_too_small_names_the_fix(tmp_path):
    with pytest.raises(DataFormatError, match="DEMO_VOCABULARY_SIZE"):
        write_demo_vocabulary(["a red circle", "a blue square"], str(tmp_path / "vocab"), size=6)


def test_reduced_demo_study_runs_end_to_end(demo_data, tmp_path, monkeypatch):
    data_dir, _ = demo_data
    for key, value in mmf_env(data_dir).items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(REPO)
    with open(DEMO_STUDY) as handle:
        study = yaml.safe_load(handle)
    study.update(output_dir=str(tmp_path / "out"), data_dir=data_dir, models=["visual_bert"],
                 overrides=study["overrides"] + TWO_UPDATES)
    for task in study["finetune"]["tasks"].values():  # a task's own recipe comes after the spec's overrides
        task["overrides"] = task.get("overrides", []) + TWO_UPDATES
    (tmp_path / "demo.yaml").write_text(yaml.safe_dump(study, sort_keys=False))
    spec = load_spec(tmp_path / "demo.yaml")
    runs = select_runs(expand_study(spec), "ft-visual_bert-c*-easy_vqa-finetuned-d1.0-s1")
    assert len(runs) == 4  # captions and CCG (masked_coco, masked_ccg), each with its easy_vqa finetuning

    status = StudyRunner(spec, runs, LocalExecutor(), jobs=2, poll_interval=0.5).run()

    assert set(status.values()) == {DONE}, {r.name: (r.run_dir / "console.log").read_text()[-3000:] for r in runs}
    for run in runs:
        composed = yaml.safe_load((run.run_dir / "config.yaml").read_text())
        assert composed["model_config"]["visual_bert"]["vocab_size"] == DEMO_VOCABULARY_SIZE
        assert read_done(run.run_dir)["metrics"]["updates"] == 2
    report = write_report(spec, expand_study(spec)).path.read_text()
    for run in runs:
        if run.name.startswith("ft-"):
            assert f"{read_done(run.run_dir)['metrics']['val']['val/easy_vqa/vqa_accuracy']:.4f}" in report
