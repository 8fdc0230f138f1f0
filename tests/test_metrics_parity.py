"""Every metric rc10 registers gives the value rc10 gave with its June 2020 libraries (torch 1.5,
scikit-learn 0.23.1, nltk 3.5), computed as a config selects it: by name (or ``type`` and ``params``)
through MMF's registry and its ``Metrics`` wrapper, on one evaluated split.

Each expected value says how it was derived. Where today's libraries changed it, a shim in
``mmf_domainstudy/compat/metrics.py`` restores it, and a test shows today's library value beside it.
"""
import math
import os

import pytest
import torch
from omegaconf import OmegaConf

import mmf_domainstudy
from mmf_domainstudy.compat import metrics as metric_shims
from tests.conftest import REPO, run_mmf, write_run_config
from tests.test_trainer import vqa2_config

if hasattr(mmf_domainstudy, "activate"):
    mmf_domainstudy.activate()

from mmf.common.registry import registry  # noqa: E402
from mmf.common.sample import SampleList  # noqa: E402
from mmf.datasets.processors.processors import (  # noqa: E402
    CaptionProcessor, M4CAnswerProcessor, VQAAnswerProcessor)
from mmf.modules.metrics import F1, Metrics  # noqa: E402
from mmf.utils.distributed import object_to_byte_tensor  # noqa: E402

DATASET = "parity"
MMIMDB_TASK = os.path.join(REPO, "projects", "domain_study", "configs", "tasks", "mmimdb.yaml")


def tensor(rows):
    return torch.tensor(rows, dtype=torch.float)


# Logits of MMF's own metric tests; softmax rows [.097 .555 .348] [.139 .633 .228] [.097 .409 .494] [.551 .303 .146]
SCORES = tensor([[-0.9332, 0.8149, 0.3491], [-0.8391, 0.6797, -0.3410],
                 [-0.7235, 0.7220, 0.9104], [0.9043, 0.3078, -0.4210]])
# Two classes; softmax of class 1: .852 .820 .809 .771.
BINARY_SCORES = tensor([[-0.9332, 0.8149], [-0.8391, 0.6797], [-0.7235, 0.7220], [-0.9043, 0.3078]])
INPUTS = {  # name -> (scores, targets): four samples each
    # argmax [1, 1, 2, 0] against classes [1, 2, 0, 2]: only sample 0 is right
    "multiclass": (SCORES, torch.tensor([1, 2, 0, 2])),
    "multiclass_one_hot": (SCORES, tensor([[0, 1, 0], [0, 0, 1], [1, 0, 0], [0, 0, 1]])),
    "all_correct": (SCORES, torch.tensor([1, 1, 2, 0])),
    "all_wrong": (SCORES, torch.tensor([0, 2, 1, 1])),
    # class 2 is in no target; argmax [1, 1, 2, 0] predicts it once
    "class_2_never_true": (SCORES, torch.tensor([1, 0, 0, 1])),
    # class 2 neither true nor predicted: argmax [0, 0, 0, 1] against [0, 1, 0, 1]
    "class_2_absent": (tensor([[2, 0, -3], [1, 0, -3], [3, 1, -3], [0, 2, -3]]), torch.tensor([0, 1, 0, 1])),
    # rows 0, 1 and 3 tie: torch 1.5 on CPU picked the last tied index (1, 2, 2), torch now the first (0, 1, 0)
    "tied_scores": (tensor([[1, 1, 0], [0, 2, 2], [3, 0, 0], [0, 0, 0]]), torch.tensor([1, 0, 0, 2])),
    "binary": (BINARY_SCORES, torch.tensor([1, 0, 0, 1])),
    # MMF's multi-label example; sigmoid rounded: [0 1 1] [0 1 0] [0 1 1] [1 1 0]
    "multilabel": (SCORES, tensor([[0, 1, 1], [1, 0, 1], [1, 0, 1], [0, 0, 1]])),
    # 4 movies x 4 genres; genre 3 in no movie, never predicted. Predicted (logit > 0): [1 0 0 0] [0 1 1 0] [1 0 1 0]
    "genres": (tensor([[2, -2, -2, -2], [-2, 2, 2, -2], [2, -2, 2, -2], [-2, -2, -2, -2]]),
               tensor([[1, 1, 0, 0], [0, 1, 0, 0], [1, 0, 1, 0], [0, 0, 1, 0]])),
    # VQA soft scores; answer 0 is <unk>, masked. Row 0 ties answers 1 and 2: torch 1.5 took 2, torch now 1
    "vqa_tied": (tensor([[0, 2, 2], [5, 1, 0]]), tensor([[0, 0.3, 1], [0, 0.6, 0]])),
    "vqa_all_correct": (tensor([[0, 2, 1], [9, 0, 1]]), tensor([[0, 1, 0.3], [0, 0, 1]])),
    "vqa_all_wrong": (tensor([[0, 2, 1], [9, 0, 1]]), tensor([[1, 0, 1], [1, 1, 0]])),
}

CASES = [  # (metric, input, rc10's value, how it is derived)
    ("accuracy", "multiclass", 0.25, "by hand: 1 of 4"),
    ("accuracy", "multiclass_one_hot", 0.25, "by hand: one-hot targets read by max(dim): 1 of 4"),
    ("accuracy", "all_correct", 1.0, "by hand"),
    ("accuracy", "all_wrong", 0.0, "by hand"),
    ("accuracy", "tied_scores", 0.75, "torch 1.5 CPU max(dim), last of ties: [1, 2, 0, 2] vs [1, 0, 0, 2]"),
    ("vqa_accuracy", "vqa_tied", (1 + 0.6) / 2, "by hand, torch 1.5 argmax: last of tied answers (answer 2, 1.0)"),
    ("vqa_accuracy", "vqa_all_correct", 1.0, "by hand: <unk> masked, argmax answers 1 and 2"),
    ("vqa_accuracy", "vqa_all_wrong", 0.0, "by hand: answers 1 and 2 score 0; <unk> (answer 0) never wins"),
    ("micro_f1", "multiclass", 0.25, "by hand: micro-F1 of single-label = accuracy"),
    ("micro_f1", "binary", 0.5, "by hand: argmax [1, 1, 1, 1] vs [1, 0, 0, 1]"),
    ("macro_f1", "multiclass", 2 / 9, "by hand: class F1 0, 2/3, 0 (sklearn 0.23 semantics)"),
    ("macro_f1", "binary", 1 / 3, "by hand: class 0 F1 0, class 1 F1 2/3"),
    ("macro_f1", "all_correct", 1.0, "by hand"),
    ("macro_f1", "all_wrong", 0.0, "by hand: every class F1 0"),
    ("macro_f1", "class_2_absent", (0.8 + 2 / 3) / 2,
     "sklearn 0.23 semantics: single-label macro averages the labels in truth or prediction only: "
     "class 0 F1 0.8, class 1 F1 2/3, class 2 left out"),
    ("macro_f1", "class_2_never_true", 0.5 / 3,
     "sklearn 0.23 semantics: class 0 F1 0, class 1 F1 1/2, class 2 (predicted, never true) F1 0, all averaged"),
    ("binary_f1", "binary", 2 / 3, "by hand: F1 of class 1: P 1/2, R 1"),
    ("binary_f1", "multiclass", 2 / 3, "by hand: F1 of class 1 only (labels=[1], micro)"),
    ("multilabel_micro_f1", "multilabel", 6 / 14, "by hand: TP 3, FP 4, FN 4"),
    ("multilabel_micro_f1", "binary", 0.5, "by hand: one-hot of [1, 0, 0, 1] vs sigmoid-rounded [0 1] x 4"),
    ("multilabel_macro_f1", "multilabel", 0.4 / 3,
     "by hand (0.13333, the value reported for rc10): rc10's class is not multi-label, it takes argmaxes; "
     "torch 1.5 read each multi-hot row's last positive [2, 2, 2, 2] against [1, 1, 2, 0]: class 2 F1 0.4, "
     "classes 0, 1 F1 0"),
    ("multilabel_macro_f1", "multiclass", 2 / 9, "by hand: as macro_f1"),
    ("multilabel_macro_f1", "genres", 0.5 / 4,
     "torch 1.5, last of ties: targets read as [1, 1, 2, 2], scores as [0, 2, 2, 3]: only genre 2 scores, F1 1/2"),
    ("roc_auc", "multiclass", 2 / 9, "by hand: per-class AUC of softmax scores: 0/3, 2/3, 0/4 pairs ranked right"),
    ("macro_roc_auc", "multiclass", 2 / 9, "by hand: as roc_auc"),
    ("macro_roc_auc", "binary", 0.5, "by hand: class 1: 2 of 4 pairs ranked right, class 0 mirrors it"),
    ("micro_roc_auc", "multiclass", 11 / 32, "by hand: 11 of 4 x 8 (positive, negative) pairs ranked right"),
    ("micro_roc_auc", "binary", 0.5, "by hand: 8 of 16 pairs"),
    ("ap", "multiclass", (1 / 4 + 1 / 2 + (1 / 3 + 2 / 4) / 2) / 3,
     "by hand: per-class AP: 1/4, 1/2, (1/3 + 2/4)/2, averaged"),
    ("micro_ap", "multiclass", 11 / 32, "rc10's micro_ap subclasses ROC_AUC: it is micro_roc_auc"),
    ("macro_ap", "multiclass", 2 / 9, "rc10's macro_ap subclasses ROC_AUC: it is macro_roc_auc"),
]


def evaluate(metric, scores, dataset=DATASET, **fields):
    """``metric`` (a name, or a ``{type, params}`` entry) as MMF's trainer evaluates it on one split."""
    entry = metric if isinstance(metric, str) else OmegaConf.create(metric)
    sample = SampleList(fields)
    sample.dataset_name, sample.dataset_type = dataset, "val"
    values = Metrics([entry])(sample, {"scores": scores})
    return values[f"val/{dataset}/{entry if isinstance(entry, str) else entry.type}"].item()


@pytest.mark.parametrize("metric, inputs, expected, derivation", CASES, ids=[f"{m}-{i}" for m, i, _, _ in CASES])
def test_metric_gives_rc10s_value(metric, inputs, expected, derivation):
    scores, targets = INPUTS[inputs]
    assert evaluate(metric, scores, targets=targets) == pytest.approx(expected, abs=1e-6), derivation


UNDEFINED = [  # (metric, input, what rc10 gave, how it is derived)
    ("roc_auc", "class_2_never_true", ValueError, "sklearn 0.23 raised: class 2 has no positive sample"),
    ("macro_roc_auc", "class_2_never_true", ValueError, "sklearn 0.23 raised: class 2 has no positive sample"),
    ("macro_ap", "class_2_never_true", ValueError, "rc10's macro_ap is ROC AUC: sklearn 0.23 raised"),
    ("ap", "class_2_never_true", math.nan, "sklearn 0.23: class 2's recall is 0/0, so its AP and the mean are NaN"),
    ("f1", "multiclass", ValueError, "sklearn 0.23: average='binary' (f1's default) rejects 3 classes"),
    ("multilabel_f1", "multilabel", ValueError, "sklearn 0.23: average='binary' rejects multi-label targets"),
]


@pytest.mark.parametrize("metric, inputs, expected, derivation", UNDEFINED,
                         ids=[f"{m}-{i}" for m, i, _, _ in UNDEFINED])
def test_undefined_metric_is_what_rc10_gave(metric, inputs, expected, derivation):
    scores, targets = INPUTS[inputs]
    if expected is ValueError:
        with pytest.raises(ValueError):
            evaluate(metric, scores, targets=targets)
    else:
        assert math.isnan(evaluate(metric, scores, targets=targets)), derivation


def test_roc_auc_on_one_class_says_why():
    scores, targets = INPUTS["class_2_never_true"]
    with pytest.raises(ValueError, match="Only one class present in y_true. ROC AUC score is not defined"):
        evaluate("roc_auc", scores, targets=targets)


RANKING = [("r@1", RecursionError), ("r@5", RecursionError), ("r@10", RecursionError),
           ("mean_r", AttributeError), ("mean_rr", AttributeError)]


@pytest.mark.parametrize("metric, error", RANKING)
def test_ranking_metrics_fail_as_in_rc10(metric, error):
    # rc10's RecallAt1/5/10.calculate call self.calculate (meant: the parent's); its RecallAtK.get_ranks
    # calls a process_ranks that no class defines. None of them returned a value in rc10.
    scores = torch.arange(100, 0, -1, dtype=torch.float).repeat(3, 1)  # VisDial's 100 candidates
    targets = torch.nn.functional.one_hot(torch.tensor([0, 4, 99]), 100).float()
    with pytest.raises(error):
        evaluate(metric, scores, targets=targets)


def test_textcaps_bleu4_needs_pycocoevalcap_as_in_rc10():
    # rc10's TextCaps evaluator imports pycocoevalcap (a git install that needs Java), which rc10 never required
    with pytest.raises(ModuleNotFoundError, match="pycocoevalcap"):
        Metrics(["textcaps_bleu4"])


@pytest.fixture
def caption_processor(tmp_path):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("".join(f"word{index}\n" for index in range(4, 19)))  # ids 4..18 after MMF's 4 specials
    processor = CaptionProcessor(OmegaConf.create({"vocab": {"type": "random", "vocab_file": str(vocab)}}))
    registry.register("coco_caption_processor", processor)
    yield
    registry.unregister("coco_caption_processor")


def caption_scores(*spans):
    """Scores of 5 captions x 10 steps over 19 words: each ``(steps, word)`` span scores 1, the rest 0."""
    scores = torch.zeros(5, 10, 19)
    for steps, word in spans:
        scores[:, steps, word] = 1.0
    return scores


@pytest.mark.parametrize("spans, expected, derivation", [
    ([(slice(0, 10), 4)], 1.0, "MMF's own test: a complete match"),
    ([(slice(0, 5), 4)], (1 / 2 * 4 / 9 * 3 / 8 * 2 / 7) ** 0.25,
     "MMF's own test (0.3928): steps 5-9 tie over all 19 words; torch 1.5 CPU max(dim) took word 18, so "
     "10 words against 5 references of word4 x 10: precisions 5/10, 4/9, 3/8, 2/7, brevity penalty 1"),
    ([(slice(0, 10), 5)], 0.0, "nltk 3.5 corpus_bleu: no unigram matches gives 0"),
], ids=["all_correct", "tied_steps", "all_wrong"])
def test_caption_bleu4(caption_processor, spans, expected, derivation):
    answers = torch.full((5, 5, 10), 4.0)  # every reference caption: word4 x 10
    value = evaluate("caption_bleu4", caption_scores(*spans), answers=answers)
    assert value == pytest.approx(expected, abs=1e-4), derivation


@pytest.fixture
def vqa_answer_processor(tmp_path):
    vocab = tmp_path / "answers.txt"
    vocab.write_text("<unk>\nyes\nno\n2\nred\n")
    config = {"vocab_file": str(vocab), "num_answers": 10, "preprocessor": {"type": "simple_word", "params": {}}}
    registry.register("parity_vqa_answer_processor", VQAAnswerProcessor(OmegaConf.create(config)))
    yield
    registry.unregister("parity_vqa_answer_processor")


def test_vqa_evalai_accuracy(vqa_answer_processor):
    # by hand (EvalAI's normalisation, leave-one-out over 10 human answers, min(1, matches / 3)):
    # sample 0 predicts "2": "two" x 2 and "2" count, so 3 of 10 match: (3 x 2/3 + 7 x 1) / 10 = 0.9;
    # sample 1 predicts "yes": "Yes." counts once: (1 x 0 + 9 x 1/3) / 10 = 0.3
    answers = [["two", "two", "2"] + ["no"] * 7, ["Yes."] + ["no"] * 9]
    scores = tensor([[0, 0, 0, 5, 0], [0, 5, 0, 0, 0]])
    assert evaluate("vqa_evalai_accuracy", scores, dataset="parity_vqa", answers=answers) == pytest.approx(0.6)


@pytest.fixture
def m4c_answer_processor(tmp_path):
    vocab = tmp_path / "m4c_answers.txt"
    vocab.write_text("<pad>\n<s>\n</s>\n<unk>\nred\nblue\n")  # ids 0-5; OCR tokens follow as 6, 7
    config = {"vocab_file": str(vocab), "preprocessor": {"type": "simple_word", "params": {}},
              "context_preprocessor": {"type": "simple_word", "params": {}},
              "num_answers": 10, "max_length": 50, "max_copy_steps": 12}
    registry.register("parity_textvqa_answer_processor", M4CAnswerProcessor(OmegaConf.create(config)))
    yield
    registry.unregister("parity_textvqa_answer_processor")


def m4c_batch():
    """Two decoded answers: "red" + OCR "car" + end, then a tie of "blue" and OCR "Stop" + end."""
    scores = torch.full((2, 3, 8), -1.0)
    for sample, step, word in [(0, 0, 4), (0, 1, 6), (0, 2, 2), (1, 0, 5), (1, 0, 7), (1, 1, 2)]:
        scores[sample, step, word] = 1.0
    ocr = torch.stack([object_to_byte_tensor(["car", "Stop"])] * 2)
    answers = torch.stack([object_to_byte_tensor(["red car"] * 2 + ["blue car"] * 8),
                           object_to_byte_tensor(["stops"] * 10)])
    return scores, {"context_tokens": ocr, "answers": answers}


M4C = [
    ("textvqa_accuracy", (0.6 + 0) / 2,
     "by hand: 'red car' is 2 of 10 answers: (2 x 1/3 + 8 x 2/3) / 10 = 0.6; 'stop' matches none"),
    ("stvqa_accuracy", (1 + 0) / 2, "by hand: 'red car' is among the answers, 'stop' is not"),
    ("ocrvqa_accuracy", (1 + 0) / 2, "by hand: as stvqa_accuracy"),
    ("stvqa_anls", (1 + 0.8) / 2,
     "by hand: 'red car' exact; torch 1.5 argmax took the last tied word, OCR 'Stop': 1 - 1/5 against 'stops'"),
]


@pytest.mark.parametrize("metric, expected, derivation", M4C)
def test_m4c_metrics(m4c_answer_processor, metric, expected, derivation):
    scores, fields = m4c_batch()
    assert evaluate(metric, scores, dataset="parity_textvqa", **fields) == pytest.approx(expected), derivation


def test_torch_now_takes_the_first_of_tied_maxima_which_moved_rc10s_macro_f1():
    # why rc10_tie_breaking exists: torch 1.5 gave 2 here (pytorch#32343); the 0.13333 reported for rc10 became 2/9
    assert torch.zeros(1, 3).argmax(1).item() == 0 and torch.zeros(1, 3).max(1)[1].item() == 0
    scores, targets = INPUTS["multilabel"]
    metric = registry.get_metric_class("multilabel_macro_f1")()
    sample = SampleList({"targets": targets})
    assert F1.calculate.__wrapped__(metric, sample, {"scores": scores}).item() == pytest.approx(2 / 9)
    assert metric.calculate(sample, {"scores": scores}).item() == pytest.approx(0.4 / 3)


def test_tie_mode_picks_as_torch_1_5_on_each_device():
    # torch 1.5 took the last of tied maxima, but its CUDA max(dim) the first, as torch does now
    tied = torch.zeros(2, 3)
    with metric_shims.TorchOneFiveTies():
        assert tied.max(1)[1].tolist() == [2, 2] and tied.argmax(1).tolist() == [2, 2]
        assert tied.max(dim=1, keepdim=True).values.shape == (2, 1) and torch.max(tied).item() == 0
        if torch.cuda.is_available():
            assert tied.cuda().max(1)[1].tolist() == [0, 0] and tied.cuda().argmax(1).tolist() == [2, 2]


def test_scikit_learn_now_scores_what_0_23_did_not():
    # why roc_auc_one_class_raises and average_precision_without_positives_is_nan exist
    from sklearn.metrics import average_precision_score, roc_auc_score

    scores, targets = INPUTS["class_2_never_true"]
    one_hot = torch.nn.functional.one_hot(targets, 3).numpy()
    probabilities = torch.softmax(scores, -1).numpy()
    with pytest.warns(UserWarning):
        assert math.isnan(roc_auc_score(one_hot, probabilities))  # 0.23 raised
    with pytest.warns(UserWarning):
        assert average_precision_score(one_hot, probabilities, average=None)[2] == 0  # 0.23: NaN
    with pytest.warns(UserWarning):  # weighted: class 2 weighs 0 in both versions, so today's value stands
        weighted = average_precision_score(one_hot, probabilities, average="weighted")
    weighted_entry = {"type": "ap", "params": {"average": "weighted"}}
    assert evaluate(weighted_entry, scores, targets=targets) == pytest.approx(weighted)


@pytest.mark.parametrize("entry, expected, derivation", [
    ({"type": "multilabel_f1", "params": {"average": "macro"}}, (0 + 0.4 + 2 / 3) / 3,
     "by hand: per-class F1 of sigmoid-rounded scores 0, 0.4, 2/3 (the later MMF's documented 0.355555)"),
    ({"type": "multilabel_macro_f1", "params": {"multilabel": True}}, (0 + 0.4 + 2 / 3) / 3, "by hand: as above"),
    ({"type": "f1", "params": {"average": "micro"}}, 0.25,
     "by hand: argmax [1, 1, 2, 0] vs the rows' last positives [2, 2, 2, 2]"),
])
def test_metric_params_reach_the_metric(entry, expected, derivation):
    # rc10's Metrics dropped every metric's params (it read them from the type name)
    scores, targets = INPUTS["multilabel"]
    assert evaluate(entry, scores, targets=targets) == pytest.approx(expected), derivation


def test_mmimdb_task_reports_micro_and_macro_f1_over_genres():
    task = OmegaConf.load(MMIMDB_TASK)
    metrics = Metrics(task.evaluation.metrics)
    scores, targets = INPUTS["genres"]
    sample = SampleList({"targets": targets})
    sample.dataset_name, sample.dataset_type = "mmimdb", "val"
    values = {key: value.item() for key, value in metrics(sample, {"scores": scores}).items()}
    assert values == pytest.approx({
        "val/mmimdb/multilabel_micro_f1": 8 / 11,  # by hand: TP 4, FP 1, FN 2
        # by hand: genre F1 1, 2/3, 1/2 and 0 for genre 3, which sklearn (0.23 too) keeps in the mean
        "val/mmimdb/multilabel_macro_f1": (1 + 2 / 3 + 1 / 2 + 0) / 4,
    })
    assert task.training.early_stop.criteria == "mmimdb/multilabel_micro_f1"


def test_misspelled_metric_is_one_clear_error_before_anything_is_written(tmp_path, fixture_data_dir):
    config = write_run_config(tmp_path / "typo.yaml", [vqa2_config(tmp_path, "visual_bert")],
                              evaluation={"metrics": ["vqa_acuracy"]})
    save = tmp_path / "save"
    result = run_mmf(config, "visual_bert", "vqa2", save, fixture_data_dir, check=False)
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "evaluation.metrics names 'vqa_acuracy'" in errors[0]
    assert "(did you mean vqa_accuracy?)" in errors[0]
    assert [files for _, _, files in os.walk(save) if files] == []


def test_every_rc10_metric_is_pinned_here():
    pinned = {case[0] for case in CASES + UNDEFINED + RANKING + M4C}
    pinned |= {"caption_bleu4", "vqa_evalai_accuracy", "textcaps_bleu4"}  # their own tests above
    assert {name for name, cls in registry.mapping["metric_name_mapping"].items()
            if cls in metric_shims.mmf_metric_classes()} == pinned
