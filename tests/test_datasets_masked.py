"""The pretraining sources' samples: fields, shapes, token and region masking, and segment B."""
import pytest
import torch

from mmf.common.registry import registry
from mmf.common.sample import SampleList
from mmf_domainstudy.datasets.regions import REGION_MASK_PROBABILITY, REGION_ZERO_PROBABILITY
from mmf_domainstudy.formats.errors import DataFormatError
from tests.datasets_support import data_root, load_split  # noqa: F401  (data_root is a fixture)

SOURCES = ["masked_coco", "masked_vqa_p", "masked_conceptual_captions", "masked_cc_small", "masked_ccg"]
ACCESSES = 400


def tokenizer_of(dataset):
    return dataset.datasets[0].masked_token_processor._tokenizer


def records(dataset):
    part = dataset.datasets[0]
    return [part.annotation_db[i] for i in range(len(part.annotation_db))]


def original_tokens(sample, tokenizer):
    """The tokens before masking: the label where a token was masked, else the input id."""
    labels, ids = sample["lm_label_ids"], sample["input_ids"]
    restored = torch.where(labels != -1, labels, ids)
    return tokenizer.convert_ids_to_tokens(restored.tolist())


def segments(sample, tokenizer):
    """(segment A tokens, segment B tokens) of a sample, without [CLS]/[SEP]/padding."""
    tokens = original_tokens(sample, tokenizer)
    real = sample["input_mask"].bool().tolist()
    in_b = sample["segment_ids"].bool().tolist()
    a = [t for t, r, b in zip(tokens, real, in_b) if r and not b][1:-1]
    b = [t for t, r, b in zip(tokens, real, in_b) if r and b][:-1]
    return a, b


def tokenized(texts, tokenizer):
    return {tuple(tokenizer.tokenize(text)) for text in texts}


@pytest.mark.parametrize("name", SOURCES)
@pytest.mark.parametrize("region_masks", [False, True])
def test_sample_fields_and_shapes(data_root, name, region_masks):
    dataset = load_split(name, data_root, use_image_feature_masks=region_masks)
    sample = dataset[0]
    for field in ("input_ids", "input_mask", "segment_ids", "lm_label_ids"):
        assert sample[field].shape == (128,) and sample[field].dtype == torch.long
    assert sample["is_correct"].item() == -1
    assert sample["image_feature_0"].shape == (100, 2048)
    info = sample["image_info_0"]
    assert 0 < int(info["max_features"]) <= 100
    assert info["bbox"].shape == (100, 4) and info["cls_prob"].shape == (100, 1601)
    assert ("image_labels" in sample) == region_masks
    batch = SampleList([dataset[i % len(dataset)] for i in range(2)])
    assert batch.input_ids.shape == (2, 128) and batch.image_feature_0.shape == (2, 100, 2048)


@pytest.mark.parametrize("name", SOURCES)
def test_tokens_are_masked_at_15_percent_with_labels_only_there(data_root, name):
    dataset = load_split(name, data_root)
    mask_id = tokenizer_of(dataset).convert_tokens_to_ids("[MASK]")
    text_tokens = masked = replaced_by_mask = 0
    for access in range(ACCESSES):
        sample = dataset[access % len(dataset)]
        ids, labels, real = sample["input_ids"], sample["lm_label_ids"], sample["input_mask"] == 1
        is_masked = labels != -1
        separators = [0, int(real.sum()) - 1]  # [CLS], the last [SEP], and the [SEP] before segment B
        if sample["segment_ids"].any():
            separators.append(int(sample["segment_ids"].argmax()) - 1)
        assert not is_masked[separators].any(), "[CLS] or [SEP] has a label"
        assert not (is_masked & ~real).any(), "a padding position has a label"
        assert not (ids[real & ~is_masked] == mask_id).any(), "an unlabelled position holds [MASK]"
        text_tokens += int(real.sum()) - len(separators)
        masked += int(is_masked.sum())
        replaced_by_mask += int((ids[is_masked] == mask_id).sum())
    assert abs(masked / text_tokens - 0.15) < 0.035, masked / text_tokens
    assert abs(replaced_by_mask / masked - 0.8) < 0.08, replaced_by_mask / masked


@pytest.mark.parametrize("name", ["masked_coco", "masked_vqa_p"])
def test_regions_are_masked_only_among_real_regions(data_root, name):
    dataset = load_split(name, data_root, use_image_feature_masks=True)
    features_db = dataset.datasets[0].features_db
    real = selected = zeroed = 0
    for access in range(ACCESSES):
        index = access % len(dataset)
        sample = dataset[index]
        original = features_db[index]["image_feature_0"]
        labels, features = sample["image_labels"], sample["image_feature_0"]
        boxes = int(sample["image_info_0"]["max_features"])
        assert labels.shape == (100,) and set(labels.unique().tolist()) <= {-1, 1}
        assert (labels[boxes:] == -1).all(), "a padding slot was selected"
        row_zeroed = (features == 0).all(dim=1) & (original != 0).any(dim=1)
        assert not (row_zeroed & (labels == -1)).any(), "an unselected region was zeroed"
        assert torch.equal(features[labels == -1], original[labels == -1])
        real, selected, zeroed = real + boxes, selected + int((labels == 1).sum()), zeroed + int(row_zeroed.sum())
    assert abs(selected / real - REGION_MASK_PROBABILITY) < 0.035
    assert abs(zeroed / selected - REGION_ZERO_PROBABILITY) < 0.07


def test_region_masks_need_region_info(data_root):
    with pytest.raises(ValueError, match=r"dataset_config\.masked_coco\.return_features_info=true"):
        load_split("masked_coco", data_root, use_image_feature_masks=True, return_features_info=False)


def test_vqa_p_pairs_the_question_with_a_human_answer_drawn_per_access(data_root):
    dataset = load_split("masked_vqa_p", data_root)
    tokenizer = tokenizer_of(dataset)
    questions = records(dataset)
    seen = {}
    for access in range(ACCESSES):
        index = access % len(dataset)
        a, b = segments(dataset[index], tokenizer)
        assert tuple(a) in tokenized([questions[index]["question_str"]], tokenizer)
        assert tuple(b) in tokenized(questions[index]["all_answers"], tokenizer)
        seen.setdefault(index, set()).add(tuple(b))
    varied = [i for i, q in enumerate(questions) if len(tokenized(q["all_answers"], tokenizer)) > 1]
    assert varied and all(len(seen[i]) > 1 for i in varied)


def test_vqa_p_without_answers_is_the_question_alone(data_root):
    dataset = load_split("masked_vqa_p", data_root, add_answer=False)
    assert not dataset[0]["segment_ids"].any()


def test_switches_take_rc10s_command_line_spellings(data_root):
    """rc10 hands `two_sentence=false` over as the string "false" (only False/True become bools)."""
    assert not load_split("masked_vqa_p", data_root, add_answer="false")[0]["segment_ids"].any()
    assert load_split("masked_coco", data_root, two_sentence="true")[0]["segment_ids"].any()
    assert "image_labels" in load_split("masked_coco", data_root, use_image_feature_masks="True")[0]
    with pytest.raises(ValueError, match=r"dataset_config\.masked_coco\.two_sentence='yes': set true or false"):
        load_split("masked_coco", data_root, two_sentence="yes")


@pytest.mark.parametrize("name", ["masked_coco", "masked_ccg"])
def test_caption_is_one_of_the_image_captions_drawn_per_access(data_root, name):
    dataset = load_split(name, data_root)
    tokenizer = tokenizer_of(dataset)
    images = records(dataset)
    drawn = set()
    for access in range(ACCESSES // 4):
        sample = dataset[0]
        a, b = segments(sample, tokenizer)
        assert tuple(a) in tokenized(images[0]["captions"], tokenizer) and b == []
        drawn.add(tuple(a))
    assert len(drawn) > 1


def test_upstream_cc_quirk_every_segment_b_from_another_image(data_root):
    dataset = load_split("masked_conceptual_captions", data_root, two_sentence=True, two_sentence_probability=0.0)
    tokenizer = tokenizer_of(dataset)
    images = records(dataset)
    for index in range(len(dataset)):
        sample = dataset[index]
        a, b = segments(sample, tokenizer)
        others = [c for n, image in enumerate(images) if n != index for c in image["captions"]]
        assert tuple(a) in tokenized(images[index]["captions"], tokenizer)
        assert tuple(b) in tokenized(others, tokenizer) and sample["is_correct"].item() == 0
    val = load_split("masked_conceptual_captions", data_root, "val", two_sentence=True, two_sentence_probability=0.0)
    assert not val[0]["segment_ids"].any() and val[0]["is_correct"].item() == -1


def test_two_sentence_from_the_same_image(data_root):
    dataset = load_split("masked_coco", data_root, two_sentence=True, two_sentence_probability=1.0)
    tokenizer = tokenizer_of(dataset)
    captions = records(dataset)[0]["captions"]
    a, b = segments(dataset[0], tokenizer)
    assert a != b and {tuple(a), tuple(b)} <= tokenized(captions, tokenizer)
    assert dataset[0]["is_correct"].item() == 1


def test_false_caption_replaces_the_caption(data_root):
    dataset = load_split("masked_coco", data_root, false_caption=True, false_caption_probability=1.0)
    tokenizer = tokenizer_of(dataset)
    a, _ = segments(dataset[0], tokenizer)
    assert tuple(a) not in tokenized(records(dataset)[0]["captions"], tokenizer)
    assert dataset[0]["is_correct"].item() == 0


@pytest.mark.parametrize("value", [-0.1, 1.5])
def test_bad_probability_names_the_key_and_the_upstream_value(data_root, value):
    with pytest.raises(ValueError, match=r"masked_conceptual_captions\.two_sentence_probability=.*0\.0 here"):
        load_split("masked_conceptual_captions", data_root, two_sentence=True, two_sentence_probability=value)


def test_a_sample_of_another_format_is_a_clear_error(data_root):
    vqa_questions = "vqa2/defaults/annotations/imdb_train2014.npy"
    dataset = load_split("masked_coco", data_root, annotations={"train": [vqa_questions]})
    with pytest.raises(DataFormatError, match=r"imdb_train2014.npy: a masked_coco train sample lacks 'captions'"):
        dataset[0]


def test_registered_names_and_dataset_names(data_root):
    for name in SOURCES:
        assert load_split(name, data_root, "val")[0]["input_ids"] is not None
        assert load_split(name, data_root, "val").dataset_name == name
    assert registry.get_builder_class("masked_coco").__module__ == "mmf_domainstudy.datasets.caption_sources"
