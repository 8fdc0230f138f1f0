"""The domain_study trainer's fast paths keep the plain path's loss curve.

Each fast path runs the tiny VisualBERT and ViLBERT pretraining for UPDATES updates
in-process, without dropout (SDPA draws other attention-dropout masks than the plain
softmax, so only dropout-free runs can match step by step), against the plain path:
explicit-softmax attention, per-tensor AdamW, fp32, eager, float32 features, dense
masked-LM head. Tolerances (relative, per update's loss): the same maths reordered
(fused attention, compile) 1e-4; bit-identical ops (foreach AdamW on CPU) exact;
features rounded to float16 1e-3; bf16 autocast 2e-2. Seen on CPU: 0, 0, 0, 1e-7 and
5e-4. The sparse masked-LM head is checked on one batch (loss and gradients, 1e-5):
ViLBERT's draws one dropout mask fewer, so its later batches' region masks differ.
MMF_DOMAINSTUDY_TEST_DEVICE=cuda runs the same checks on a GPU.
"""
import os

import pytest
import torch

import mmf_domainstudy

mmf_domainstudy.activate()  # compat shims, MMF, the plugin's registered components

from mmf.common.registry import registry

from mmf_domainstudy.analysis.capture import AttentionCapture
from mmf_domainstudy.compat.hf_adamw import HFAdamW
from mmf_domainstudy.models.fast_attention import ATTENTION_FORWARDS, set_attention_path
from mmf_domainstudy.models.sparse_mlm import use_sparse_masked_lm_head
from mmf_domainstudy.trainers.fast_paths import compile_backend, emulated_precision_note, leaves_parameters_unused
from mmf_domainstudy.trainers.in_process import build_loaded_trainer
from tests.conftest import TINY_OVERLAY, write_run_config
from tests.fixtures.make_fixtures import VQA_ANSWERS
from tests.test_analysis_models import CO_LAYERS, TEXT_LAYERS, VISUAL_LAYERS, sample_list, tiny_model
from tests.test_analysis_models import mmf_global_config  # noqa: F401  (autouse fixture: MMF's global config)

DEVICE = os.environ.get("MMF_DOMAINSTUDY_TEST_DEVICE", "cpu")
UPDATES = 4
MODELS = ("visual_bert", "vilbert")
NO_DROPOUT = {
    "hidden_dropout_prob": 0.0,
    "attention_probs_dropout_prob": 0.0,
    "v_hidden_dropout_prob": 0.0,
    "v_attention_probs_dropout_prob": 0.0,
}
PLAIN = {"fused_attention": False, "compile": False, "precision": "fp32", "sparse_mlm_head": False}
ADAMW = {"type": "adam_w", "params": {"lr": 1.0e-3, "eps": 1.0e-8, "weight_decay": 0.01, "foreach": False}}
# fast path -> (config sections on top of the plain run, relative tolerance per update; 0 = exact)
FAST_PATHS = {
    "fused_attention": ({"training": {"fused_attention": True}}, 1e-4),
    "foreach_adam_w": ({"optimizer": {"params": {"foreach": True}}}, 0.0 if DEVICE == "cpu" else 1e-4),
    "compile": ({"training": {"compile": "aot_eager"}}, 1e-4),
    "features_float16": ({"dataset_config": {"masked_coco": {"features_float16": True}}}, 1e-3),
    "bf16": ({"training": {"precision": "bf16"}}, 2e-2),
}
VQA2_TEST_FROM_VAL = {
    "annotations": {"test": ["vqa2/defaults/annotations/imdb_val2014.npy"]},
    "features": {"test": ["coco/defaults/features/trainval2014.lmdb"]},
}


def merged(base, extra):
    out = dict(base)
    for key, value in extra.items():
        out[key] = merged(out.get(key, {}), value) if isinstance(value, dict) else value
    return out


def pretrain_sections(model, extra=None, updates=UPDATES):
    sections = {
        "model_config": {model: NO_DROPOUT},
        "optimizer": ADAMW,
        "training": dict(
            PLAIN, max_updates=updates, device=DEVICE, log_interval=100, evaluation_interval=100, checkpoint_interval=100,
            stdout_capture=False,
        ),
        "dataset_config": {"masked_coco": {"use_image_feature_masks": model == "vilbert", "max_features": 10}},
    }
    return merged(sections, extra or {})


def classification_sections(model):
    return {
        "model_config": {
            model: {"training_head_type": "classification", "num_labels": len(VQA_ANSWERS), "losses": [{"type": "logit_bce"}]}
        },
        "optimizer": ADAMW,
        "training": {"max_updates": 1, "device": DEVICE, "stdout_capture": False},
        "dataset_config": {"vqa2": {"max_features": 10, **VQA2_TEST_FROM_VAL}},
    }


@pytest.fixture
def isolated_mmf(monkeypatch, fixture_data_dir):
    """MMF's global registry state and data dir for one in-process run, restored afterwards;
    one thread, as the subprocess runs have (2 threads on a loaded 2-core box run 3x slower)."""
    monkeypatch.setenv("MMF_DATA_DIR", fixture_data_dir)
    monkeypatch.setitem(registry.mapping, "state", dict(registry.mapping["state"]))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def build_tiny_trainer(folder, model, dataset, sections):
    """A loaded domain_study trainer on the fixture data, as mmf_run would build it."""
    folder.mkdir(parents=True, exist_ok=True)
    config_path = write_run_config(folder / "run.yaml", [TINY_OVERLAY], **sections)
    opts = [f"config={config_path}", f"model={model}", f"dataset={dataset}", f"env.save_dir={folder / 'save'}"]
    return build_loaded_trainer(opts)


def loss_curve(trainer):
    """Train and return every update's loss."""
    losses = []
    extract = trainer._extract_loss

    def recording(report):
        loss = extract(report)
        losses.append(float(loss))
        return loss

    trainer._extract_loss = recording
    trainer.train()
    return losses


@pytest.fixture(scope="module")
def plain_curves():
    return {}


@pytest.mark.parametrize("fast_path", sorted(FAST_PATHS))
@pytest.mark.parametrize("model", MODELS)
def test_fast_path_keeps_the_plain_loss_curve(tmp_path, isolated_mmf, plain_curves, model, fast_path):
    if model not in plain_curves:
        plain_curves[model] = loss_curve(build_tiny_trainer(tmp_path / "plain", model, "masked_coco", pretrain_sections(model)))
    extra, tolerance = FAST_PATHS[fast_path]
    fast = loss_curve(build_tiny_trainer(tmp_path / "fast", model, "masked_coco", pretrain_sections(model, extra)))
    plain = plain_curves[model]
    assert len(plain) == len(fast) == UPDATES
    assert len(set(plain)) == UPDATES  # the model learns: the curve is not flat
    if tolerance == 0.0:
        assert fast == plain
    else:
        assert fast == pytest.approx(plain, rel=tolerance)


@pytest.mark.parametrize("model", MODELS)
def test_sparse_masked_lm_head_gives_the_dense_loss_and_gradients(tmp_path, isolated_mmf, model):
    trainer = build_tiny_trainer(tmp_path, model, "masked_coco", pretrain_sections(model, updates=1))
    raw = next(iter(trainer.train_loader))
    runs = []
    for sparse in (False, True):
        if sparse:
            assert use_sparse_masked_lm_head(trainer.model)
        trainer.model.zero_grad(set_to_none=True)
        losses = trainer.model(trainer.dataset_loader.prepare_batch(raw))["losses"]
        sum(loss.mean() for loss in losses.values()).backward()
        grads = {name: p.grad.clone() for name, p in trainer.model.named_parameters() if p.grad is not None}
        runs.append(({name: float(loss) for name, loss in losses.items()}, grads))
    (dense_losses, dense_grads), (sparse_losses, sparse_grads) = runs
    assert len(dense_losses) == {"visual_bert": 1, "vilbert": 2}[model]
    assert sparse_losses == pytest.approx(dense_losses, rel=1e-5)
    assert sparse_grads.keys() == dense_grads.keys()
    for name, grad in dense_grads.items():
        torch.testing.assert_close(sparse_grads[name], grad, rtol=1e-5, atol=1e-7, msg=name)


@pytest.mark.parametrize("fused", [True, False, None])
@pytest.mark.parametrize("model", MODELS)
def test_trainer_binds_the_configured_attention_path(tmp_path, isolated_mmf, model, fused):
    sections = pretrain_sections(model, {"training": {"fused_attention": fused}}, updates=1)
    trainer = build_tiny_trainer(tmp_path, model, "masked_coco", sections)
    expected = DEVICE == "cuda" if fused is None else fused  # default (null): fused on CUDA only
    bound = [m for m in trainer.model.modules() if type(m) in ATTENTION_FORWARDS]
    assert len(bound) == {"visual_bert": 2, "vilbert": 6}[model]  # tiny: 2 layers (+2 visual, 2 co-attention)
    assert all(m.forward.__func__ is ATTENTION_FORWARDS[type(m)][expected] for m in bound)


@pytest.mark.parametrize("head", ["pretraining", "classification"])
@pytest.mark.parametrize("model", MODELS)
def test_find_unused_parameters_exactly_where_a_step_leaves_some(tmp_path, isolated_mmf, model, head):
    if head == "pretraining":
        trainer = build_tiny_trainer(tmp_path, model, "masked_coco", pretrain_sections(model, updates=1))
    else:
        trainer = build_tiny_trainer(tmp_path, model, "vqa2", classification_sections(model))
    trainer.train()
    without_gradient = [name for name, p in trainer.model.named_parameters() if p.requires_grad and p.grad is None]
    assert leaves_parameters_unused(trainer.model) == bool(without_gradient), without_gradient


def test_pinned_batches_by_default_on_cuda_only(tmp_path, isolated_mmf):
    trainer = build_tiny_trainer(tmp_path, "visual_bert", "masked_coco", pretrain_sections("visual_bert", updates=1))
    assert trainer.config.training.pin_memory is (DEVICE == "cuda")
    assert [loader.pin_memory for loader in trainer.train_loader.loaders] == [DEVICE == "cuda"]


def test_float16_features_reach_the_model_as_float32(tmp_path, isolated_mmf):
    extra = {"dataset_config": {"masked_coco": {"features_float16": True}}}
    trainer = build_tiny_trainer(tmp_path, "vilbert", "masked_coco", pretrain_sections("vilbert", extra, updates=1))
    batch = next(iter(trainer.train_loader))
    assert batch.image_feature_0.dtype == torch.float16
    seen = []
    embeddings = trainer.model.model.bert.v_embeddings
    handle = embeddings.register_forward_pre_hook(lambda module, args: seen.append(args[0].dtype))
    trainer.model(trainer.dataset_loader.prepare_batch(batch))
    handle.remove()
    assert seen == [torch.float32]


def test_compile_keeps_state_dict_keys(tmp_path, isolated_mmf):
    sections = pretrain_sections("vilbert", {"training": {"compile": "aot_eager"}}, updates=1)
    trainer = build_tiny_trainer(tmp_path, "vilbert", "masked_coco", sections)
    assert trainer.model.model.bert.encoder._compiled_call_impl is not None
    assert not any("_orig_mod" in key for key in trainer.model.state_dict())


def test_compile_option_values():
    assert compile_backend(False) is None and compile_backend("false") is None and compile_backend(None) is None
    assert compile_backend(True) == "inductor" and compile_backend("True") == "inductor"
    assert compile_backend("aot_eager") == "aot_eager"
    with pytest.raises(ValueError, match="training.compile"):
        compile_backend(3)


def test_fused_vilbert_attention_keeps_capture_and_outputs():
    model = tiny_model("vilbert")
    batch = sample_list(seed=3)
    maps, outputs = {}, {}
    for fused in (False, True):
        set_attention_path(model, fused)
        with AttentionCapture(model) as capture, torch.no_grad():
            outputs[fused] = model(batch)["scores"]
        maps[fused] = capture.streams()
    torch.testing.assert_close(outputs[True], outputs[False], rtol=1e-5, atol=1e-6)
    assert set(maps[True]) == set(maps[False]) == {"layer", "v_layer", "c_layer.text", "c_layer.image"}
    for name in maps[False]:
        for fused_probs, plain_probs in zip(maps[True][name].probs, maps[False][name].probs):
            torch.testing.assert_close(fused_probs, plain_probs)


def test_fused_vilbert_gives_probabilities_when_visualization_asks():
    model = tiny_model("vilbert", visualization=True)
    set_attention_path(model, True)
    seen = {}
    handles = [
        module.register_forward_hook(lambda module, args, output, name=name: seen.__setitem__(name, output[-1]))
        for name, module in model.named_modules()
        if type(module) in ATTENTION_FORWARDS
    ]
    with torch.no_grad():
        model(sample_list(seed=4))
    for handle in handles:
        handle.remove()
    assert len(seen) == TEXT_LAYERS + VISUAL_LAYERS + CO_LAYERS and all(isinstance(data, dict) and data for data in seen.values())


def test_foreach_adam_w_rejects_a_string():
    with pytest.raises(ValueError, match="optimizer.params.foreach='false'"):
        HFAdamW([torch.nn.Parameter(torch.zeros(1))], foreach="false")


def test_foreach_adam_w_state_dict_matches_per_tensor():
    def run(foreach):
        torch.manual_seed(0)
        params = [torch.nn.Parameter(torch.randn(5, 3)), torch.nn.Parameter(torch.randn(4))]
        optimizer = HFAdamW(params, lr=0.1, weight_decay=0.01, foreach=foreach)
        for step in range(3):
            for index, param in enumerate(params):
                param.grad = None if (step, index) == (1, 1) else torch.randn_like(param)
            optimizer.step()
        return params, optimizer.state_dict()

    (params_a, state_a), (params_b, state_b) = run(False), run(True)
    assert all(torch.equal(a, b) for a, b in zip(params_a, params_b))
    assert state_a["param_groups"] == state_b["param_groups"]
    assert [s["step"] for s in state_a["state"].values()] == [s["step"] for s in state_b["state"].values()] == [3, 2]


def masked_token_processor(use_fast):
    from mmf.datasets.processors.bert_processors import MaskedTokenProcessor
    from omegaconf import OmegaConf

    tokenizer = {"type": "bert-base-uncased", "params": {"do_lower_case": True, "use_fast": use_fast}}
    return MaskedTokenProcessor(OmegaConf.create({"max_seq_length": 40, "mask_probability": 0.15, "tokenizer_config": tokenizer}))


def test_fast_tokenizer_opt_in_gives_the_slow_tokenizers_masked_samples():
    import random

    import easy_vqa

    texts = list(easy_vqa.get_train_questions()[0][:300]) + [
        "A man in a hat... riding a horse!", "Héllo wörld, naïve café: 3.5 dollars", "東京 tower\tat night\u00a0",
    ]
    processors = {use_fast: masked_token_processor(use_fast) for use_fast in (False, True)}
    from transformers import BertTokenizerFast

    assert isinstance(processors[True]._tokenizer, BertTokenizerFast)
    for text in texts:
        samples = {}
        for use_fast, processor in processors.items():
            random.seed(7)
            torch.manual_seed(7)
            samples[use_fast] = processor({"text_a": text, "text_b": None, "is_correct": 1})
        assert samples[False]["tokens"] == samples[True]["tokens"], text
        for key in ("input_ids", "input_mask", "segment_ids", "lm_label_ids"):
            assert torch.equal(samples[False][key], samples[True][key]), (text, key)


def test_fast_tokenizer_length_follows_added_tokens():
    tokenizer = masked_token_processor(True)._tokenizer
    assert len(tokenizer) == 30522
    tokenizer.add_tokens(["[REGION]"])
    assert len(tokenizer) == 30523 and tokenizer.convert_tokens_to_ids("[REGION]") == 30522


def test_fast_tokenizer_option_rejects_a_string():
    with pytest.raises(ValueError, match="use_fast='false'"):
        masked_token_processor("false")


def test_second_in_process_trainer_logs_only_into_its_own_run(tmp_path, isolated_mmf):
    """rc10's Logger adds handlers per build; the in-process builder detaches the previous run's."""
    build_tiny_trainer(tmp_path / "first", "visual_bert", "masked_coco", pretrain_sections("visual_bert"))
    first_log = tmp_path / "first" / "save" / "train.log"
    size_after_first_build = first_log.stat().st_size
    second = build_tiny_trainer(tmp_path / "second", "visual_bert", "masked_coco", pretrain_sections("visual_bert"))
    second.writer.write("a line of the second run")
    assert first_log.stat().st_size == size_after_first_build
    second_lines = (tmp_path / "second" / "save" / "train.log").read_text().splitlines()
    assert sum(line.endswith("a line of the second run") for line in second_lines) == 1


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
@pytest.mark.parametrize("native", [True, False])
def test_emulated_precision_is_named_on_a_cpu_without_it(monkeypatch, precision, native):
    check = "_is_mkldnn_bf16_supported" if precision == "bf16" else "_is_mkldnn_fp16_supported"
    monkeypatch.setattr(torch.ops.mkldnn, check, lambda: native)
    note = emulated_precision_note(torch.device("cpu"), precision)
    assert (note is None) is native
    if note:
        assert f"training.precision={precision}" in note and "training.precision=fp32" in note
    assert emulated_precision_note(torch.device("cpu"), "fp32") is None
    assert emulated_precision_note(torch.device("cuda", 0), precision) is None
