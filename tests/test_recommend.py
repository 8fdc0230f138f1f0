"""The source recommender: its rule, its agreement statistics, and the command on data whose answer is known.

The constructed data are in MMF's formats (imdb ``.npy``, LMDB feature stores) at the paths a spec's
composed run configs name. Task vqa2: questions over a fixed word distribution and regions drawn from
one Gaussian. Candidate sources (``masked_coco`` captions): ``own`` draws its captions and regions from
the task's very distributions, ``disjoint`` from a vocabulary with no word in common and a Gaussian far
away and wider, ``between`` from half of each vocabulary and a Gaussian in between. So
every measure, and the ranking, must put own before between before disjoint.
"""
import json
import subprocess

import numpy as np
import pytest
import yaml

from mmf_domainstudy.analysis.recommend import MEASURE_ORIENTATION, rank_agreement, rank_sources
from mmf_domainstudy.formats.imdb import write_imdb
from mmf_domainstudy.formats.lmdb_store import LMDBFeatureWriter
from tests.conftest import REPO, exit_status, installed_script, mmf_env
from tests.test_bad_inputs import assert_one_clear_error

TASK_WORDS = ("red blue green yellow circle square triangle shape color big small left right top bottom "
              "what which is the there a of how many").split()
OTHER_WORDS = ("checkerboard stripes marble wood grain velvet denim knit lace wicker rust moss "
               "granite cork burlap suede linen quilt mesh bark").split()
FEATURE_DIM, REGIONS_PER_IMAGE, IMAGES = 8, 10, 40
# source -> (its vocabulary, mean shift of every feature, feature scale); the task is TASK_WORDS, shift 0, scale 1
SOURCES = {
    "own": (TASK_WORDS, 0.0, 1.0),
    "between": ([word for pair in zip(TASK_WORDS[::2], OTHER_WORDS[::2]) for word in pair], 1.5, 1.0),
    "disjoint": (OTHER_WORDS, 4.0, 3.0),
}
CANDIDATES = ["disjoint", "own", "between"]  # deliberately not in the expected order


def sentence(rng, words):
    """6-10 words drawn from ``words`` with Zipf weights in list order."""
    weights = 1.0 / np.arange(1, len(words) + 1)
    return " ".join(words[i] for i in rng.choice(len(words), size=rng.integers(6, 11), p=weights / weights.sum()))


def write_features(path, image_ids, rng, shift, scale):
    records = {}
    for image_id in image_ids:
        features = (shift + scale * rng.normal(size=(REGIONS_PER_IMAGE, FEATURE_DIM))).astype(np.float32)
        boxes = np.tile(np.array([0.0, 0.0, 10.0, 10.0], np.float32), (REGIONS_PER_IMAGE, 1))
        records[image_id] = {"features": features, "bbox": boxes, "image_width": 100, "image_height": 100}
    with LMDBFeatureWriter(path, map_size=1 << 24) as writer:
        writer.write_batch(records)


def image_name(image_id):
    return f"COCO_train2014_{image_id:012d}"


def write_task(datasets, rng):
    """vqa2's train split at the paths its config names: two questions per image."""
    image_ids = list(range(1, IMAGES + 1))
    samples = [{"question_id": number, "image_id": image_id, "image_name": image_name(image_id),
                "feature_path": image_name(image_id) + ".npy", "question_str": sentence(rng, TASK_WORDS) + "?",
                "question_tokens": [], "all_answers": ["red"] * 10, "answers": ["red"] * 10}
               for number, image_id in enumerate(image_ids * 2)]
    write_imdb(datasets / "vqa2/defaults/annotations/imdb_train2014.npy", samples, dataset_name="vqa2")
    write_features(datasets / "coco/defaults/features/trainval2014.lmdb", image_ids, rng, 0.0, 1.0)


def write_source(datasets, name, rng, words, shift, scale, first_id):
    """A caption source's train files (5 captions per image, its own images)."""
    image_ids = list(range(first_id, first_id + IMAGES))
    samples = [{"image_id": image_id, "image_name": image_name(image_id), "feature_path": image_name(image_id) + ".npy",
                "captions": [sentence(rng, words) for _ in range(5)]} for image_id in image_ids]
    write_imdb(datasets / f"recommend/{name}/train.npy", samples, dataset_name="coco")
    write_features(datasets / f"recommend/{name}/train.lmdb", image_ids, rng, shift, scale)


def source_config(root, name):
    """The coco recipe on this source's files, as a study's source config would be."""
    path = root / "configs" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({
        "includes": [f"{REPO}/projects/domain_study/configs/visual_bert/pretrain/coco.yaml"],
        "dataset_config": {"masked_coco": {"annotations": {"train": [f"recommend/{name}/train.npy"]},
                                           "features": {"train": [f"recommend/{name}/train.lmdb"]}}},
    }))


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A spec over the constructed data; source 'absent' and task vizwiz name files that do not exist."""
    root = tmp_path_factory.mktemp("recommend")
    datasets = root / "data" / "datasets"
    rng = np.random.default_rng(0)
    write_task(datasets, rng)
    for index, (name, options) in enumerate(SOURCES.items()):
        write_source(datasets, name, rng, *options, first_id=1000 * (index + 1))
    for name in (*SOURCES, "absent"):
        source_config(root, name)
    spec = root / "study.yaml"
    spec.write_text(yaml.safe_dump({
        "name": "recommend",
        "output_dir": str(root / "out"),
        "data_dir": str(root / "data"),
        "models": ["visual_bert"],
        "pretrain": {"config": f"{root}/configs/{{source}}.yaml",
                     "sources": {"none": None, **{name: {"dataset": "masked_coco"} for name in (*SOURCES, "absent")}}},
        "finetune": {"config": f"{REPO}/projects/domain_study/configs/{{model}}/finetune/{{task}}.yaml", "seeds": [1],
                     "tasks": {"vqa2": {"dataset": "vqa2", "metric": "vqa2/vqa_accuracy"},
                               "vizwiz": {"dataset": "vizwiz", "metric": "vizwiz/vqa_accuracy"}}},
        "analyses": ["similarity"],
        "analysis": {"similarity_regions": 300},
    }, sort_keys=False))
    return spec, root


@pytest.fixture
def in_repo(study, monkeypatch):
    for key, value in mmf_env(study[1] / "data").items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(REPO)
    return study[0]


def measures(**values):
    return {"text_jsd": 0.5, "vocab_jaccard": 0.5, "target_token_coverage": 0.5, "target_type_coverage": 0.5,
            "visual_frechet": 10.0, **values}


def test_rule_weighs_text_and_vision_the_same():
    """Four text measures do not outvote the one visual measure: best in all text vs best visually is a tie."""
    ranking = rank_sources({
        "texty": measures(text_jsd=0.1, vocab_jaccard=0.9, target_token_coverage=0.9, target_type_coverage=0.9),
        "looky": measures(visual_frechet=1.0),
        "worst": measures(text_jsd=0.9, vocab_jaccard=0.1, target_token_coverage=0.1, target_type_coverage=0.1,
                          visual_frechet=99.0),
    })
    assert [(c.source, c.family_ranks, c.score, c.rank) for c in ranking] == [
        ("texty", {"text": 1.0, "visual": 2.0}, 1.5, 1),
        ("looky", {"text": 2.0, "visual": 1.0}, 1.5, 1),
        ("worst", {"text": 3.0, "visual": 3.0}, 3.0, 3),
    ]


def test_rule_needs_every_measure():
    with pytest.raises(ValueError, match="source 'a' lacks the measure.s. visual_frechet"):
        rank_sources({"a": {name: 0.5 for name in MEASURE_ORIENTATION if name != "visual_frechet"}})


def test_every_similarity_measure_has_an_orientation():
    from mmf_domainstudy.study.analyses.similarity import MEASURES

    assert set(MEASURE_ORIENTATION) == set(MEASURES)


def test_agreement_interval_resamples_the_seeds():
    """a beats b except at seed 2: a resample with seed 2 at least twice (7/27 of them) ranks b first, rho 0.5."""
    ranking = rank_sources({"a": measures(text_jsd=0.1, visual_frechet=1.0), "b": measures(),
                            "c": measures(text_jsd=0.9, visual_frechet=99.0)})
    gains = {"a": {1: 0.3, 2: 0.0, 3: 0.3}, "b": {1: 0.1, 2: 0.2, 3: 0.1}, "c": {1: -0.1, 2: -0.1, 3: -0.2}}
    agreement = rank_agreement(ranking, gains)
    assert agreement.mean_gains == pytest.approx({"a": 0.2, "b": 0.4 / 3, "c": -0.4 / 3})
    assert agreement.rho == pytest.approx(1.0)
    assert agreement.interval == pytest.approx((0.5, 1.0))
    assert (agreement.defined_resamples, agreement.resamples) == (2000, 2000)
    assert agreement.pick_best_share == pytest.approx(20 / 27, abs=0.03)

    one_seed = rank_agreement(ranking, {source: {2: by_seed[2]} for source, by_seed in gains.items()})
    assert (one_seed.rho, one_seed.interval, one_seed.pick_best_share) == (pytest.approx(0.5), None, None)


def test_constructed_sources_rank_own_between_disjoint(in_repo):
    from mmf_domainstudy.study.analyses.candidates import candidate_measures
    from mmf_domainstudy.study.analyses.similarity import write_similarity
    from mmf_domainstudy.study.report.sections import SIMILARITY_KEYS, read_csv_rows
    from mmf_domainstudy.study.run.plan import expand_study
    from mmf_domainstudy.study.run.spec import load_spec

    spec = load_spec(in_repo)
    found = candidate_measures(spec, "vqa2", CANDIDATES)
    for name, (_, orientation) in MEASURE_ORIENTATION.items():  # each measure alone already orders them
        values = [orientation * found[source][name] for source in ("own", "between", "disjoint")]
        assert values[0] > values[1] > values[2], (name, values)
    assert found["disjoint"]["vocab_jaccard"] == 0.0 and found["disjoint"]["text_jsd"] == 1.0
    assert [c.source for c in rank_sources(found)] == ["own", "between", "disjoint"]

    write_similarity(spec, expand_study(spec))  # the study's own analysis: the same numbers
    rows, _ = read_csv_rows(spec.output_dir / "analysis" / "similarity.csv", SIMILARITY_KEYS)
    stored = {row["source"]: {name: float(row[name]) for name in MEASURE_ORIENTATION}
              for row in rows if row["task"] == "vqa2"}
    assert set(stored) == set(SOURCES)  # 'absent' has no files: skipped there
    for source in SOURCES:
        assert stored[source] == pytest.approx(found[source], rel=1e-9)


def run_installed(study, *args):
    spec, root = study
    return subprocess.run([installed_script("domainstudy-recommend-source"), "--spec", str(spec), *args],
                          cwd=REPO, env=mmf_env(root / "data"), capture_output=True, text=True, timeout=300)


def test_installed_command_prints_the_ranking(study):
    result = run_installed(study, "--task", "vqa2", "--sources", *CANDIDATES, "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    printed = json.loads(result.stdout)
    assert [(row["rank"], row["source"]) for row in printed["ranking"]] == [(1, "own"), (2, "between"), (3, "disjoint")]
    assert set(printed["definitions"]) == set(printed["ranking"][0]["measures"]) == set(MEASURE_ORIENTATION)
    assert "text and vision weigh the same" in printed["rule"]


def test_table_names_every_measure(in_repo, capsys):
    from mmf_domainstudy.analysis.cli.recommend_source import main
    from mmf_domainstudy.study.analyses.candidates import candidate_sources
    from mmf_domainstudy.study.run.spec import load_spec

    assert candidate_sources(load_spec(in_repo)) == [*SOURCES, "absent"]  # no --sources: all but the baseline
    assert main(["--spec", str(in_repo), "--task", "vqa2", "--sources", *SOURCES]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[2] == ("| rank | source | score | text rank | visual rank | " + " | ".join(MEASURE_ORIENTATION) + " |")
    assert [line.split(" | ")[1] for line in lines[4:7]] == ["own", "between", "disjoint"]


def test_missing_source_data_is_one_error_line_naming_the_file(study):
    result = run_installed(study, "--task", "vqa2", "--sources", "own", "absent")
    absent = study[1] / "data" / "datasets" / "recommend" / "absent"
    assert_one_clear_error(result, f"error: {study[0]}: the recommender reads the train files each planned run's "
                           f"config names, and these do not exist: source 'absent' (masked_coco): annotations "
                           f"{absent / 'train.npy'}, features {absent / 'train.lmdb'}. Prepare that data, or fix "
                           "data_dir or the config that names the file.")
    assert result.stdout == ""


@pytest.mark.parametrize("args, message", [
    (["--task", "vizwiz", "--sources", "own"],
     "task 'vizwiz' (vizwiz): annotations {datasets}/vizwiz/v2019/annotations/imdb_vizwiz_train.npy"),
    (["--task", "vqa2", "--sources", "none"], "source 'none' is the no-pretraining baseline; it has no data to rank"),
    (["--task", "vqa3"], "task 'vqa3' is not in finetune.tasks. Name one of: vqa2, vizwiz."),
])
def test_bad_names_and_missing_task_data_are_one_error_line(in_repo, study, capsys, args, message):
    from mmf_domainstudy.analysis.cli.recommend_source import main

    assert exit_status(main, ["--spec", str(in_repo), *args]) == 2
    error = capsys.readouterr().err.splitlines()
    assert len(error) == 1 and error[0].startswith("error: ")
    assert message.format(datasets=study[1] / "data" / "datasets") in error[0]
