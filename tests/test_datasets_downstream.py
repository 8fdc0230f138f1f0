"""The downstream tasks through the re-registered rc10 builders: samples, and the head-size check."""
import pytest
import torch
from omegaconf import OmegaConf

from mmf.common.registry import registry
from mmf.utils.text import VocabDict
from mmf_domainstudy.datasets.downstream import check_answers_in_vocabulary, check_num_labels
from tests.datasets_support import data_root, dataset_config, load_split  # noqa: F401  (data_root is a fixture)

TASKS = ["vqa2", "vizwiz", "visual_entailment", "mmimdb"]


def answer_vocabulary_size(name, root):
    vocab_file = dataset_config(name, root).processors.answer_processor.params.vocab_file
    return VocabDict(vocab_file, data_dir=dataset_config(name, root).data_dir).get_size()


@pytest.mark.parametrize("name", TASKS)
def test_task_samples(data_root, name):
    train = load_split(name, data_root)
    sample = train[0]
    assert sample["input_ids"].shape == (256 if name == "mmimdb" else 128,)
    assert sample["image_feature_0"].shape == (100, 2048)
    assert sample["image_info_0"]["bbox"].shape == (100, 4)
    if name == "visual_entailment":
        assert sample["targets"].dtype == torch.long and 0 <= int(sample["targets"]) < 3
    else:
        assert sample["targets"].shape == (answer_vocabulary_size(name, data_root),)
        assert sample["targets"].max() > 0
    assert registry.get_builder_class(name).__module__ == "mmf_domainstudy.datasets.downstream"


def run_config(model, head, num_labels):
    head_config = {"training_head_type": head, "num_labels": num_labels}
    return OmegaConf.create({"model": model, "model_config": {model: head_config}})


@pytest.mark.parametrize("name", ["vqa2", "mmimdb"])
def test_head_size_must_match_the_answer_vocabulary(data_root, name):
    dataset = load_split(name, data_root, "val")
    size = answer_vocabulary_size(name, data_root)
    check_num_labels(dataset, name, run_config("vilbert", "classification", size))
    check_num_labels(dataset, name, run_config("vilbert", "pretraining", size + 1))
    expected = rf"vilbert\.num_labels={size + 1} but .*model_config\.vilbert\.num_labels={size} or"
    with pytest.raises(ValueError, match=expected):
        check_num_labels(dataset, name, run_config("vilbert", "classification", size + 1))


def test_targets_outside_the_vocabulary_are_a_clear_error(data_root):
    vocab_file = "mmimdb/defaults/extras/classes_mm_imdb.txt"  # the fixture's, not lowercase
    capitalised = {"processors": {"answer_processor": {"params": {"vocab_file": vocab_file}}}}
    dataset = load_split("mmimdb", data_root, **capitalised)
    with pytest.raises(ValueError, match="mmimdb train: none of the first .* must be lowercase"):
        check_answers_in_vocabulary(dataset, "mmimdb")
    check_answers_in_vocabulary(load_split("mmimdb", data_root), "mmimdb")


def test_vqa_answer_scores_are_rc10s_bit_for_bit(tmp_path):
    from mmf.datasets.processors.processors import VQAAnswerProcessor

    from mmf_domainstudy.datasets.answer_scores import CountingVQAAnswerProcessor

    vocab = tmp_path / "answers.txt"
    vocab.write_text("\n".join(["<unk>", "yes", "no", "2", "red", "blue"]) + "\n")
    config = OmegaConf.create({"vocab_file": str(vocab), "num_answers": 10,
                               "preprocessor": {"type": "simple_word", "params": {}}})
    assert registry.get_processor_class("vqa_answer") is CountingVQAAnswerProcessor
    counting = CountingVQAAnswerProcessor(config)
    generator = torch.Generator().manual_seed(0)
    for _ in range(200):
        distinct = int(torch.randint(1, 7, (1,), generator=generator))
        answers = torch.randint(0, distinct, (10,), generator=generator)  # 0 is <unk>
        expected = VQAAnswerProcessor.compute_answers_scores(counting, answers)
        assert torch.equal(counting.compute_answers_scores(answers), expected), answers.tolist()
    assert counting({"answers": ["yes"] * 10})["answers_scores"][1] == 1.0
