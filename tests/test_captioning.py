"""CCG captioning: beam search, BLEU/CIDEr-D, easy-vqa captions, and a tiny end-to-end run.

The end-to-end fixture is a synthetic shapes world: each image's regions encode
one colour and one shape, its caption is "a <colour> <shape>", so a tiny
captioner trained for a few dozen updates learns to caption unseen images.
"""
import itertools
import json
import math
import os

import numpy as np
import pytest
import torch
from nltk.translate.bleu_score import corpus_bleu as nltk_corpus_bleu

import mmf_domainstudy

mmf_domainstudy.activate()  # compat shims, MMF, the plugin's registered components

from mmf.common.registry import registry
from mmf.common.sample import SampleList
from mmf.datasets.databases.annotation_database import AnnotationDatabase
from mmf_domainstudy.captioning.beam_search import beam_search, decode
from mmf_domainstudy.captioning.caption_pairs import caption_index
from mmf_domainstudy.captioning.easy_vqa import (easy_vqa_caption, easy_vqa_caption_samples, halves,
                                                 write_easy_vqa_captions)
from mmf_domainstudy.captioning.generate import generate_caption_file, partial_path, provenance_path
from mmf_domainstudy.captioning.loading import load_captioner
from mmf_domainstudy.captioning.quality import evaluate_captioner, score_caption_files
from mmf_domainstudy.captioning.training import train_captioner
from mmf_domainstudy.captioning.metrics import caption_words, cider_d, cider_d_per_image, corpus_bleu
from mmf_domainstudy.formats.imdb import read_imdb, write_imdb
from mmf_domainstudy.formats.lmdb_store import LMDBFeatureWriter
from mmf_domainstudy.formats.errors import DataFormatError
from mmf_domainstudy.zoo.archive import sha256_file

LOG2 = math.log(2)


# ---------------------------------------------------------------- beam search

def random_scorer(vocab, seed):
    """A deterministic next-token distribution per (batch element, prefix)."""

    def step(rows, prefixes):
        out = []
        for row, prefix in zip(rows.tolist(), prefixes.tolist()):
            generator = torch.Generator().manual_seed(hash((seed, row, tuple(prefix))) % (2**31))
            out.append(torch.log_softmax(3 * torch.randn(vocab, generator=generator), dim=-1))
        return torch.stack(out)

    return step


def reference_greedy(step, bos, eos, max_length):
    prefix, score = [bos], 0.0
    for _ in range(max_length):
        log_probs = step(torch.tensor([0]), torch.tensor([prefix]))[0]
        token = int(log_probs.argmax())
        score += float(log_probs[token])
        if token == eos:
            return prefix[1:], score
        prefix.append(token)
    return prefix[1:], score


def exhaustive_best(step, bos, eos, vocab, max_length):
    best = (None, -math.inf)
    for length in range(max_length + 1):
        for body in itertools.product([t for t in range(vocab) if t != eos], repeat=length):
            sequence = list(body) + ([eos] if length < max_length else [])
            score, prefix = 0.0, [bos]
            for token in sequence:
                score += float(step(torch.tensor([0]), torch.tensor([prefix]))[0, token])
                prefix.append(token)
            if score > best[1]:
                best = (list(body), score)
    return best


@pytest.mark.parametrize("seed", range(6))
def test_beam_one_is_greedy_argmax(seed):
    step = random_scorer(vocab=6, seed=seed)
    found = beam_search(step, batch_size=1, bos_id=5, eos_id=0, beam_size=1, max_length=6)[0]
    tokens, score = reference_greedy(step, bos=5, eos=0, max_length=6)
    assert found.tokens == tokens
    assert found.score == pytest.approx(score, abs=1e-5)


@pytest.mark.parametrize("seed", range(6))
def test_wider_beams_never_score_below_greedy(seed):
    step = random_scorer(vocab=5, seed=100 + seed)
    greedy = decode(step, 3, bos_id=4, eos_id=0, beam_size=1, max_length=5)
    for beam_size in (2, 3, 5):
        wider = decode(step, 3, bos_id=4, eos_id=0, beam_size=beam_size, max_length=5)
        for g, w in zip(greedy, wider):
            assert w.score >= g.score - 1e-6


@pytest.mark.parametrize("seed", range(3))
def test_wide_enough_beam_finds_the_best_sequence(seed):
    step = random_scorer(vocab=3, seed=200 + seed)
    tokens, score = exhaustive_best(step, bos=3, eos=0, vocab=3, max_length=3)
    found = beam_search(step, 1, bos_id=3, eos_id=0, beam_size=16, max_length=3)[0]
    assert found.tokens == tokens
    assert found.score == pytest.approx(score, abs=1e-5)


def table_scorer(table, vocab=9):
    """Scores from {prefix tuple (without bos): {token: prob}}; unlisted prefixes end (eos=0)."""

    def step(rows, prefixes):
        out = torch.full((len(prefixes), vocab), 1e-9)
        for i, prefix in enumerate(prefixes.tolist()):
            for token, prob in table.get(tuple(prefix[1:]), {0: 1.0}).items():
                out[i, token] = prob
        return torch.log(out / out.sum(dim=1, keepdim=True))

    return step


def test_decode_keeps_greedy_when_plain_beam_search_prunes_it():
    # Greedy: 1 (0.4) then 3 (0.3) then end: p = 0.12. Beam 2 keeps 1 and 2, then 2·4 and 2·5
    # (0.175 each) over 1·3 (0.12); both then spread over five tokens: p = 0.035 at best.
    spread = {t: 0.2 for t in (1, 3, 4, 5, 6)}
    table = {
        (): {1: 0.4, 2: 0.35, 7: 0.25},
        (1,): {3: 0.3, 4: 0.25, 5: 0.25, 6: 0.2},
        (2,): {4: 0.5, 5: 0.5},
        (2, 4): spread,
        (2, 5): spread,
    }
    step = table_scorer(table)
    greedy = beam_search(step, 1, bos_id=8, eos_id=0, beam_size=1, max_length=4)[0]
    plain = beam_search(step, 1, bos_id=8, eos_id=0, beam_size=2, max_length=4)[0]
    guarded = decode(step, 1, bos_id=8, eos_id=0, beam_size=2, max_length=4)[0]
    assert greedy.tokens == [1, 3] and greedy.score == pytest.approx(math.log(0.12), abs=1e-4)
    assert plain.score < greedy.score  # the failure decode() exists to prevent
    assert guarded.tokens == greedy.tokens


def test_beam_search_cuts_at_max_length_and_rejects_bad_options():
    step = table_scorer({(): {1: 1.0}, (1,): {1: 1.0}, (1, 1): {1: 1.0}})
    found = beam_search(step, 2, bos_id=8, eos_id=0, beam_size=2, max_length=3)
    assert [h.tokens for h in found] == [[1, 1, 1], [1, 1, 1]]
    assert not found[0].finished
    with pytest.raises(ValueError, match="beam_size"):
        beam_search(step, 1, bos_id=8, eos_id=0, beam_size=0)


# ---------------------------------------------------------------- metrics

def words(*captions):
    return [caption_words(c) for c in captions]


def test_bleu4_hand_computed():
    # p1 = 5/6, p2 = 3/5, p3 = 2/4, p4 = 1/3, equal lengths: BLEU = (1/12) ** (1/4)
    assert corpus_bleu(words("the cat sat on the mat"), [words("the cat sat on a mat")]) == pytest.approx(
        (1 / 12) ** 0.25
    )


def test_bleu_brevity_penalty_and_zero_cases():
    # Hypothesis of 4 words, closest reference 6 words: BP = exp(1 - 6/4); all 4 n-grams match.
    assert corpus_bleu(words("the cat sat on"), [words("the cat sat on a mat")]) == pytest.approx(math.exp(-0.5))
    assert corpus_bleu(words("a red circle"), [words("a red circle")]) == 0.0  # no 4-gram at all
    assert corpus_bleu(words("a red circle"), [words("a red circle")], max_n=3) == pytest.approx(1.0)


def test_bleu_agrees_with_nltk_on_a_corpus():
    hypotheses = words("the cat sat on the mat today", "a dog runs in the green park")
    references = [
        words("the cat sat on a mat today", "a cat is on the mat"),
        words("a dog runs in a park", "the dog is running in the green park"),
    ]
    assert corpus_bleu(hypotheses, references) == pytest.approx(nltk_corpus_bleu(references, hypotheses))


def test_cider_d_hand_computed():
    refs = [words("a red circle"), words("a blue square")]
    # Identical captions: "a" is in both images (idf 0); n = 1..3 cosines are 1; no 4-grams: 10 * 3/4.
    assert cider_d_per_image(words("a red circle", "a blue square"), refs) == pytest.approx([7.5, 7.5])
    # "a blue circle" vs "a red circle": unigram cosine (log2)^2 / (sqrt2 log2)^2 = 1/2, nothing else.
    assert cider_d_per_image(words("a blue circle", "a blue square"), refs)[0] == pytest.approx(1.25)
    # "red circle": unigram cosine 1, bigram 1/sqrt2, length differs by 1: penalty exp(-1/72).
    expected = 10 * (1 + 2**-0.5) / 4 * math.exp(-1 / 72)
    assert cider_d_per_image(words("red circle", "a blue square"), refs)[0] == pytest.approx(expected)


def test_cider_d_clips_repeated_ngrams_and_averages_references():
    refs = [words("a red circle", "red circle"), words("a blue square")]
    # vs "a red circle" 1 for n = 1..3 (as above); vs "red circle": unigrams 1, bigram 1/sqrt2, penalty.
    second = (1 + 2**-0.5) * math.exp(-1 / 72)
    assert cider_d_per_image(words("a red circle", "a blue square"), refs)[0] == pytest.approx(
        10 * (3 + second) / 4 / 2
    )
    # Repeating "red" does not raise the clipped dot product, but it lengthens the norm.
    repeated = cider_d_per_image(words("red red circle", "a blue square"), [words("red circle"), refs[1]])[0]
    unigram = (LOG2 * LOG2 + LOG2 * LOG2) / (math.sqrt(5) * LOG2 * math.sqrt(2) * LOG2)
    bigram = (LOG2 * LOG2) / (math.sqrt(2) * LOG2 * LOG2)
    assert repeated == pytest.approx(10 * (unigram + bigram) / 4 * math.exp(-1 / 72))
    assert cider_d(words("a red circle"), [words("a red circle")]) == 0.0  # one image: every idf is 0


def test_metrics_refuse_misaligned_input():
    with pytest.raises(ValueError, match="one reference list per hypothesis"):
        cider_d(words("a"), [])
    with pytest.raises(ValueError, match="no reference"):
        corpus_bleu(words("a"), [[]])


# ---------------------------------------------------------------- easy-vqa captions

def test_easy_vqa_caption_from_questions():
    questions = [
        ("what is the blue shape?", "rectangle"),
        ("is there a triangle in the image?", "no"),
        ("is there not a blue shape?", "no"),
    ]
    assert easy_vqa_caption(questions) == "a blue rectangle"
    assert easy_vqa_caption([("what color is the triangle?", "teal")]) == "a teal triangle"
    # Colour stated, shape only by elimination.
    by_elimination = [("what color is the shape?", "red"), ("is there a circle?", "no"), ("is no triangle present?", "yes")]
    assert easy_vqa_caption(by_elimination) == "a red rectangle"
    assert easy_vqa_caption([("what color is the shape?", "red")]) is None
    with pytest.raises(DataFormatError, match="image 7.*color"):
        easy_vqa_caption([("what color is the shape?", "red"), ("is there a red shape?", "no"),
                          ("what shape is present?", "circle")], image=7)


def test_easy_vqa_caption_samples_and_halves(tmp_path):
    vqa = []
    for image_id, (color, shape) in enumerate([("red", "circle"), ("blue", "triangle"), ("green", None)]):
        base = {"image_id": image_id, "image_name": f"easy_vqa_{image_id:06d}", "feature_path": f"easy_vqa_{image_id:06d}.npy"}
        vqa.append({**base, "question_str": "what color is the shape?", "answers": [color] * 10})
        if shape:
            vqa.append({**base, "question_str": "what shape is in the image?", "answers": [shape] * 10})
    samples, left_out = easy_vqa_caption_samples(vqa)
    assert left_out == 1
    assert samples == [
        {"image_id": 0, "image_name": "easy_vqa_000000", "feature_path": "easy_vqa_000000.npy", "captions": ["a red circle"]},
        {"image_id": 1, "image_name": "easy_vqa_000001", "feature_path": "easy_vqa_000001.npy", "captions": ["a blue triangle"]},
    ]
    first, second = halves(samples[::-1])
    assert [s["image_id"] for s in first] == [0] and [s["image_id"] for s in second] == [1]
    write_imdb(tmp_path / "vqa.npy", vqa, "easy_vqa")
    counts = write_easy_vqa_captions(tmp_path / "vqa.npy", tmp_path / "second.npy", half="second")
    assert counts == {"images": 1, "undetermined": 1}
    assert read_imdb(tmp_path / "second.npy")[1][0]["captions"] == ["a blue triangle"]


# ---------------------------------------------------------------- registration, data checks

def test_components_are_registered():
    assert registry.get_model_class("region_captioner").__name__ == "RegionCaptioner"
    assert registry.get_builder_class("caption_pairs").__name__ == "CaptionPairsBuilder"
    assert registry.get_loss_class("caption_token_ce").__name__ == "CaptionTokenCrossEntropy"


def test_caption_loss_ignores_padding_and_trims_targets():
    loss = registry.get_loss_class("caption_token_ce")()
    scores = torch.log(torch.tensor([[[0.5, 0.5], [0.9, 0.1]]]))
    targets = SampleList({"targets": torch.tensor([[0, -1, -1]])})
    assert float(loss(targets, {"scores": scores})) == pytest.approx(-math.log(0.5))


def test_caption_index_names_the_bad_file():
    samples = [{"image_id": 1, "captions": ["a", "b"]}, {"image_id": 2, "captions": []}]
    assert caption_index(samples[:1], "x.npy") == [(0, 0), (0, 1)]
    with pytest.raises(DataFormatError, match=r"y\.npy: sample 1 \(image_id 2\)"):
        caption_index(samples, "y.npy")


# ---------------------------------------------------------------- end to end

COLORS = ("red", "green", "blue")
SHAPES = ("circle", "square", "triangle")
DIM = 16


def shapes_world(ids, seed):
    """Samples and feature records: region 0 encodes the colour, region 1 the shape."""
    rng = np.random.RandomState(seed)
    samples, records = [], {}
    for image_id in ids:
        color, shape = COLORS[image_id % 3], SHAPES[(image_id // 3) % 3]
        features = rng.randn(3, DIM).astype("float32") * 0.1
        features[0, COLORS.index(color)] += 3
        features[1, 4 + SHAPES.index(shape)] += 3
        records[image_id] = {"features": features, "bbox": np.zeros((3, 4), "float32"), "image_width": 8, "image_height": 8}
        name = f"shapes_{image_id:06d}"
        samples.append({"image_id": image_id, "image_name": name, "feature_path": name + ".npy",
                        "captions": [f"a {color} {shape}"]})
    return samples, records


TINY = [
    "training.max_updates=40", "training.batch_size=16", "training.evaluation_interval=20",
    "training.checkpoint_interval=20", "training.log_interval=20", "training.num_workers=0",
    "training.device=cpu", "training.seed=1", "optimizer.params.lr=0.01",
    "model_config.region_captioner.hidden_size=32", "model_config.region_captioner.intermediate_size=64",
    "model_config.region_captioner.num_attention_heads=2",
]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    train, train_records = shapes_world(range(0, 36), seed=0)
    val, val_records = shapes_world(range(100, 118), seed=1)
    target, target_records = shapes_world(range(200, 209), seed=2)
    write_imdb(root / "train.npy", train, "shapes")
    write_imdb(root / "val.npy", val, "shapes")
    write_imdb(root / "target_refs.npy", target, "shapes")
    with LMDBFeatureWriter(root / "shapes.lmdb") as writer:
        writer.write_batch({**train_records, **val_records})
    with LMDBFeatureWriter(root / "target.lmdb") as writer:
        writer.write_batch(target_records)
    run_dir = root / "captioner"
    train_captioner(run_dir, root / "train.npy", root / "val.npy", root / "shapes.lmdb", overrides=TINY, progress=False)
    return root, run_dir


def test_training_run_writes_mmf_outputs(world):
    _, run_dir = world
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["updates"] == 40
    assert metrics["val"]["val/total_loss"] < 1.0  # from ~10 (uniform over 30522 WordPieces)
    for name in ("best.ckpt", "region_captioner_final.pth", "config.yaml", "captioner_run.yaml"):
        assert (run_dir / name).is_file()


def test_evaluate_on_val_scores_learned_captions(world, tmp_path):
    root, run_dir = world
    result = evaluate_captioner(run_dir, root / "val.npy", root / "shapes.lmdb", beam_size=2, batch_size=5,
                                out=tmp_path / "quality.json", progress=False)
    assert json.loads((tmp_path / "quality.json").read_text())["cider_d"] == result["cider_d"]
    assert result["num_images"] == 18
    # Each val image's own caption has CIDEr-D 7.5 at most here (3-word captions, see hand case).
    assert result["cider_d"] > 5.0 and result["bleu1"] > 0.8


def test_generate_writes_mmf_caption_file_and_provenance(world, tmp_path):
    root, run_dir = world
    out = tmp_path / "ccg" / "imdb_ccg.npy"
    provenance = generate_caption_file(run_dir, root / "target.lmdb", out, beam_size=3, max_length=8, batch_size=4,
                                       progress=False)
    database = AnnotationDatabase({}, str(out))
    assert len(database) == 9
    samples = [database[i] for i in range(len(database))]
    assert [s["image_id"] for s in samples] == list(range(200, 209))
    for sample in samples:
        assert set(sample) == {"image_id", "image_name", "feature_path", "captions"}
        assert sample["feature_path"] == f"{sample['image_id']}.npy"
        assert len(sample["captions"]) == 1 and sample["captions"][0]
    truth = {s["image_id"]: s["captions"][0] for s in shapes_world(range(200, 209), seed=2)[0]}
    assert sum(s["captions"][0] == truth[s["image_id"]] for s in samples) >= 7  # it learned from features
    on_disk = json.loads(open(provenance_path(out)).read())
    assert on_disk == provenance
    assert on_disk["captioner"]["sha256"] == sha256_file(run_dir / "region_captioner_final.pth")
    assert on_disk["decoding"]["beam_size"] == 3 and on_disk["decoding"]["max_length"] == 8
    assert on_disk["target_features"] == str(root / "target.lmdb")
    assert on_disk["source_captions"]["train"]["annotations"] == [str(root / "train.npy")]
    assert not os.path.exists(partial_path(out))
    scores = score_caption_files(out, root / "target_refs.npy")
    assert scores["num_images"] == 9 and scores["images_without_reference"] == 0


def test_generate_resumes_and_refuses_other_settings(world, tmp_path):
    root, run_dir = world
    out = tmp_path / "imdb_ccg.npy"
    only = tmp_path / "only.npy"
    write_imdb(only, shapes_world(range(200, 204), seed=2)[0], "shapes")
    captioner_sha = sha256_file(run_dir / "region_captioner_final.pth")
    settings = {"captioner_sha256": captioner_sha, "features": str(root / "target.lmdb"), "only_images": str(only),
                "beam_size": 1, "max_length": 8}
    with open(partial_path(out), "w") as handle:  # an interrupted run: one image done, a torn line
        handle.write(json.dumps({"settings": settings}) + "\n")
        handle.write(json.dumps({"key": "201", "caption": "kept from before", "log_prob": -1.0}) + "\n")
        handle.write('{"key": "202", "capt')
    generate_caption_file(run_dir, root / "target.lmdb", out, only_images=only, beam_size=1, max_length=8,
                          progress=False)
    _, samples = read_imdb(out)
    assert [s["image_name"] for s in samples] == [f"shapes_{i:06d}" for i in range(200, 204)]
    assert samples[1]["captions"] == ["kept from before"]
    assert samples[2]["captions"] != ["kept from before"] and samples[2]["captions"][0]

    with open(partial_path(out), "w") as handle:  # stopped while writing the header: start afresh
        handle.write('{"settings": {"capt')
    generate_caption_file(run_dir, root / "target.lmdb", out, only_images=only, beam_size=1, max_length=8,
                          progress=False)
    assert "kept from before" not in [s["captions"][0] for s in read_imdb(out)[1]]

    with open(partial_path(out), "w") as handle:
        handle.write(json.dumps({"settings": {**settings, "beam_size": 5}}) + "\n")
    with pytest.raises(DataFormatError, match="other settings"):
        generate_caption_file(run_dir, root / "target.lmdb", out, only_images=only, beam_size=1, max_length=8,
                              progress=False)


def test_model_beam_one_is_argmax_and_wider_beams_score_no_lower(world):
    root, run_dir = world
    captioner = load_captioner(run_dir)
    model = captioner.model
    records = shapes_world(range(300, 306), seed=3)[1]
    features = torch.stack([torch.from_numpy(r["features"]) for r in records.values()])
    counts = torch.full((len(records),), 3)
    memory, padding = model.encode(features, counts)
    for row, found in enumerate(model.generate(features, counts, beam_size=1, max_length=6)):
        prefix = [model.tokenizer.cls_token_id]
        while len(prefix) <= 6:
            with torch.no_grad():
                logits = model.token_logits(memory[row : row + 1], padding[row : row + 1], torch.tensor([prefix]))[0, -1]
            logits[model.banned_ids] = -math.inf
            if len(prefix) == 1:
                logits[model.tokenizer.sep_token_id] = -math.inf
            token = int(logits.argmax())
            if token == model.tokenizer.sep_token_id:
                break
            prefix.append(token)
        assert found.tokens == prefix[1:]
    greedy = model.generate(features, counts, beam_size=1, max_length=6)
    wide = model.generate(features, counts, beam_size=4, max_length=6)
    assert all(w.score >= g.score - 1e-5 for g, w in zip(greedy, wide))


def test_bad_inputs_fail_before_training(world, tmp_path):
    root, _ = world
    no_captions = tmp_path / "no_captions.npy"
    write_imdb(no_captions, [{"image_id": 1, "feature_path": "shapes_000001.npy"}], "shapes")
    with pytest.raises(DataFormatError, match="no_captions.npy: sample 0"):
        train_captioner(tmp_path / "run", no_captions, root / "val.npy", root / "shapes.lmdb")
    missing = tmp_path / "missing.npy"
    write_imdb(missing, shapes_world([999], seed=0)[0], "shapes")
    with pytest.raises(DataFormatError, match="no features"):
        train_captioner(tmp_path / "run", missing, root / "val.npy", root / "shapes.lmdb")
    assert not (tmp_path / "run").exists()


def test_generate_refuses_a_store_of_another_width(world, tmp_path):
    root, run_dir = world
    with LMDBFeatureWriter(tmp_path / "wide.lmdb") as writer:
        writer.write_batch({1: {"features": np.zeros((2, DIM + 1), "float32"), "bbox": np.zeros((2, 4), "float32"),
                                "image_width": 1, "image_height": 1}})
    with pytest.raises(DataFormatError, match="17-d features but the captioner was trained on 16-d"):
        generate_caption_file(run_dir, tmp_path / "wide.lmdb", tmp_path / "x.npy", progress=False)
