"""Training subsets: exact, seeded, nested counts on every dataset, and tools/make_subset.py."""
import os
import subprocess
import sys

import pytest

from mmf_domainstudy.datasets.subsets import count_for_fraction, ranking, select_indices, source_count
from mmf_domainstudy.formats.imdb import read_imdb
from mmf_domainstudy.formats.jsonl import read_jsonl
from tests.conftest import REPO, mmf_env
from tests.datasets_support import data_root, load_split  # noqa: F401  (data_root is a fixture)
from tools import make_subset

SOURCES = ["masked_coco", "masked_vqa_p", "masked_conceptual_captions", "masked_cc_small", "masked_ccg"]
TASKS = ["vqa2", "vizwiz", "visual_entailment", "mmimdb"]


def samples_of(dataset):
    """The annotation records a loaded (MMFConcatDataset) split serves, in order."""
    return [part.annotation_db[i] for part in dataset.datasets for i in range(len(part.annotation_db))]


def identity(record):
    return record.get("question_id", record.get("pairID", record.get("id", record.get("image_id"))))


def test_selection_has_the_exact_size_and_is_stable():
    for total in (1, 7, 40, 1000):
        for count in {1, total // 2 or 1, total}:
            chosen = select_indices(total, count, seed=3)
            assert len(chosen) == len(set(chosen)) == count
            assert chosen == sorted(chosen) and 0 <= chosen[0] and chosen[-1] < total
            assert chosen == select_indices(total, count, seed=3)
    assert select_indices(1000, 100, seed=0) != select_indices(1000, 100, seed=1)


def test_smaller_subsets_are_inside_larger_ones():
    order = ranking(500, seed=7)
    assert sorted(order) == list(range(500))
    ten, fifty = (set(select_indices(500, count_for_fraction(f, 500, "f"), seed=7)) for f in (0.1, 0.5))
    assert len(ten) == 50 and len(fifty) == 250 and ten < fifty


def test_fraction_counts_round_half_up():
    assert count_for_fraction(0.5, 9, "k") == 5
    assert count_for_fraction(0.1, 9, "k") == 1
    assert count_for_fraction(1.0, 9, "k") == 9
    assert count_for_fraction(0.25, 443757, "k") == 110939


@pytest.mark.parametrize("value", [0, 0.0, -0.1, 1.5, True, "0.1", None])
def test_bad_fraction_names_the_key(value):
    with pytest.raises(ValueError, match=r"dataset_config\.vqa2\.fraction=.*\(0, 1\]"):
        count_for_fraction(value, 10, "dataset_config.vqa2.fraction")


def test_a_fraction_of_tiny_data_keeps_one_sample():
    assert count_for_fraction(0.001, 40, "k") == 1
    assert select_indices(40, count_for_fraction(0.001, 40, "k"), seed=0) == select_indices(40, 1, seed=0)


def test_source_count_errors():
    assert source_count(100, source_num_samples=30) == 30
    with pytest.raises(ValueError, match="both define the source"):
        source_count(100, source_fraction=0.5, source_num_samples=30)
    with pytest.raises(ValueError, match="more samples than the 100"):
        source_count(100, source_num_samples=101)
    with pytest.raises(ValueError, match="positive whole number"):
        source_count(100, source_num_samples=2.5)


@pytest.mark.parametrize("name", SOURCES + TASKS)
def test_fraction_of_the_training_split_is_exact_and_seeded(data_root, name):
    everything = load_split(name, data_root, source_fraction=1.0)
    total = len(everything)
    half = load_split(name, data_root, source_fraction=1.0, fraction=0.5)
    again = load_split(name, data_root, source_fraction=1.0, fraction=0.5)
    assert len(half) == int(total * 0.5 + 0.5)
    kept = [identity(record) for record in samples_of(half)]
    assert kept == [identity(record) for record in samples_of(again)]
    all_ids = [identity(record) for record in samples_of(everything)]
    assert kept == [i for n, i in enumerate(all_ids) if n in set(select_indices(total, len(half), seed=0))]
    assert len(half[len(half) - 1]["input_ids"]) > 0  # samples still load after subsetting
    assert len(load_split(name, data_root, "val", fraction=0.5)) == len(load_split(name, data_root, "val"))


def test_another_subset_seed_chooses_other_samples(data_root):
    first, second = (load_split("vqa2", data_root, fraction=0.5, subset_seed=seed) for seed in (0, 1))
    assert len(first) == len(second)
    assert [identity(r) for r in samples_of(first)] != [identity(r) for r in samples_of(second)]


@pytest.mark.parametrize("value", [0, 1.5])
@pytest.mark.parametrize("name", ["masked_coco", "vizwiz"])
def test_bad_fraction_fails_before_loading(data_root, name, value):
    with pytest.raises(ValueError, match=rf"dataset_config\.{name}\.fraction={value}"):
        load_split(name, data_root, "val", fraction=value)


def test_len_coco_style_count(data_root):
    assert len(load_split("masked_vqa_p", data_root, source_num_samples=10)) == 10
    everything = len(load_split("masked_vqa_p", data_root))
    assert len(load_split("masked_vqa_p", data_root, source_num_samples=None)) == everything
    assert len(load_split("masked_vqa_p", data_root, source_num_samples=10, fraction=0.5)) == 5
    with pytest.raises(ValueError, match=r"dataset_config\.masked_vqa_p\.source_num_samples=10000 asks for more"):
        load_split("masked_vqa_p", data_root, source_num_samples=10000)


def test_cc_small_is_a_tenth_of_cc_and_its_fractions_are_nested(data_root):
    full = len(load_split("masked_conceptual_captions", data_root))
    small = load_split("masked_cc_small", data_root, source_fraction=0.5)
    assert len(load_split("masked_cc_small", data_root)) == int(full * 0.1 + 0.5)
    assert len(small) == int(full * 0.5 + 0.5)
    part = load_split("masked_cc_small", data_root, source_fraction=0.5, fraction=0.5)
    assert {identity(r) for r in samples_of(part)} < {identity(r) for r in samples_of(small)}


@pytest.mark.parametrize("source_fraction", [0.1, 0.5])
def test_make_subset_writes_what_the_builder_keeps(data_root, tmp_path, source_fraction):
    source = os.path.join(data_root, "datasets", "cc", "defaults", "annotations", "train_all.npy")
    output = str(tmp_path / "train_small.npy")
    assert make_subset.main([source, output, "--fraction", str(source_fraction), "--seed", "0"]) == 0
    metadata, written = read_imdb(output)
    built = samples_of(load_split("masked_cc_small", data_root, source_fraction=source_fraction))
    assert [s["image_id"] for s in written] == [s["image_id"] for s in built]
    assert [s["captions"] for s in written] == [list(s["captions"]) for s in built]
    assert metadata["subset_of"] == "train_all.npy" and metadata["subset_size"] == len(written)
    # The file serves as CC-small through the stock CC builder.
    via_file = load_split("masked_conceptual_captions", data_root, annotations={"train": [output]})
    assert [s["image_id"] for s in samples_of(via_file)] == [s["image_id"] for s in built]


def test_make_subset_on_jsonl_by_count(data_root, tmp_path):
    source = os.path.join(data_root, "datasets", "mmimdb", "defaults", "annotations", "train.jsonl")
    output = str(tmp_path / "train_3.jsonl")
    make_subset.main([source, output, "--num-samples", "3", "--seed", "5"])
    records = read_jsonl(source)
    assert read_jsonl(output) == [records[i] for i in select_indices(len(records), 3, seed=5)]


def test_make_subset_errors_exit_with_a_message(data_root, tmp_path, capsys):
    source = os.path.join(data_root, "datasets", "mmimdb", "defaults", "annotations", "train.jsonl")
    with pytest.raises(SystemExit) as exit_info:
        make_subset.main([source, str(tmp_path / "out.npy"), "--fraction", "0.5"])
    assert exit_info.value.code == 2
    assert "give the output the extension" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        make_subset.main([source, str(tmp_path / "out.jsonl"), "--fraction", "0"])
    assert "--fraction=0.0 must be a number in (0, 1]" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "out.jsonl")


def test_make_subset_help_runs_as_a_script(data_root):
    command = [sys.executable, "tools/make_subset.py", "--help"]
    result = subprocess.run(command, cwd=REPO, env=mmf_env(data_root), capture_output=True, text=True)
    assert result.returncode == 0 and "--num-samples" in result.stdout
