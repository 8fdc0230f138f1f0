"""Analysis on real (tiny) MMF rc10 VisualBERT and ViLBERT models built by MMF's own APIs.

The capture must give exactly the probabilities each attention module used: checked
against the module's own probabilities where it returns them (ViLBERT's visualization
flag) and, for transformers' SDPA attention (which returns none), by rebuilding the
module's context output from them.
"""
import json
import math
import os

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

import mmf_domainstudy

mmf_domainstudy.activate()  # compat shims, MMF, the plugin's registered components

from mmf.common.registry import registry
from mmf.common.sample import Sample, SampleList
from mmf.utils.build import build_model
from mmf.utils.configuration import load_yaml
from mmf_domainstudy.analysis.capture import AttentionCapture
from mmf_domainstudy.analysis.model_drift import measure_model_drift
from mmf_domainstudy.analysis.param_drift import attention_weights
from mmf_domainstudy.analysis.report import AttentionDriftRequest, attention_drift_report

ARCHS = ("visual_bert", "vilbert")
MODEL_CONFIGS = os.path.join(os.path.dirname(mmf_domainstudy.__file__), "configs", "mmf", "models")
FEATURES, REGIONS, TOKENS, BATCH = 8, 5, 6, 3
TEXT_LAYERS, VISUAL_LAYERS, CO_LAYERS = 3, 2, 2
SIZES = {
    "bert_model_name": None,
    "special_visual_initialize": False,
    "hidden_size": 16,
    "num_hidden_layers": TEXT_LAYERS,
    "num_attention_heads": 2,
    "intermediate_size": 24,
    "vocab_size": 40,
    "max_position_embeddings": 32,
    "visual_embedding_dim": FEATURES,
    "num_labels": 3,
}
VILBERT_SIZES = {
    "v_feature_size": FEATURES,
    "v_target_size": 7,
    "v_hidden_size": 12,
    "v_num_hidden_layers": VISUAL_LAYERS,
    "v_num_attention_heads": 3,
    "v_intermediate_size": 20,
    "bi_hidden_size": 8,
    "bi_num_attention_heads": 2,
    "bi_intermediate_size": 20,
    "t_biattention_id": [1, 2],
    "v_biattention_id": [0, 1],
}
EXPECTED_MAPS = {
    "visual_bert": {"layer": (TEXT_LAYERS, 2)},
    "vilbert": {
        "layer": (TEXT_LAYERS, 2),
        "v_layer": (VISUAL_LAYERS, 3),
        "c_layer.text": (CO_LAYERS, 2),
        "c_layer.image": (CO_LAYERS, 2),
    },
}


@pytest.fixture(scope="module", autouse=True)
def mmf_global_config(tmp_path_factory):
    """The parts of the global config that model building and losses read."""
    config = {"evaluation": {"predict": False}, "env": {"cache_dir": str(tmp_path_factory.mktemp("cache"))}}
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(registry.mapping["state"], "config", OmegaConf.create(config))
        yield


def tiny_model(arch, seed=0, **overrides):
    config = load_yaml(os.path.join(MODEL_CONFIGS, arch, "classification.yaml")).model_config[arch]
    config = OmegaConf.merge(config, SIZES, VILBERT_SIZES if arch == "vilbert" else {}, overrides)
    config.model = arch
    torch.manual_seed(seed)
    return build_model(config).eval()


def sample_list(seed, text_lengths=(TOKENS, 4, 2), region_counts=(REGIONS, 3, 1)):
    """A collated VQA-style batch with padded text and padded regions."""
    rng = np.random.default_rng(seed)
    samples = []
    for text_length, regions in zip(text_lengths, region_counts):
        corners = rng.uniform(0, 100, size=(REGIONS, 2, 2))
        input_mask = torch.zeros(TOKENS, dtype=torch.long)
        input_mask[:text_length] = 1
        samples.append(Sample({
            "input_ids": torch.tensor(rng.integers(1, 40, size=TOKENS)) * input_mask,
            "input_mask": input_mask,
            "segment_ids": torch.zeros(TOKENS, dtype=torch.long),
            "image_feature_0": torch.tensor(rng.random((REGIONS, FEATURES)), dtype=torch.float),
            "image_info_0": {
                "max_features": torch.tensor(regions),
                "bbox": np.concatenate([corners.min(1), corners.max(1)], axis=1).astype(np.float32),
                "image_width": 100,
                "image_height": 100,
                "cls_prob": rng.dirichlet(np.ones(7), size=REGIONS).astype(np.float32),
            },
            "targets": torch.tensor(int(rng.integers(3))),
        }))
    collated = SampleList(samples)
    collated.dataset_name, collated.dataset_type = "vqa2", "val"
    return collated


def expected_masks(batch):
    text = batch.input_mask.bool()
    regions = torch.arange(REGIONS)[None, :] < batch.image_info_0.max_features[:, None]
    return text, regions


@pytest.mark.parametrize("arch", ARCHS)
def test_every_attention_matrix_of_the_real_model_is_recognised(arch):
    model = tiny_model(arch)
    units = attention_weights(model.state_dict())
    per_stream = {}
    for stream, _, role in units:
        per_stream.setdefault(stream, set()).add(role)
    if arch == "visual_bert":
        assert len(units) == TEXT_LAYERS * 4 and set(per_stream) == {"layer"}
    else:
        assert len(units) == TEXT_LAYERS * 4 + VISUAL_LAYERS * 4 + CO_LAYERS * 8
        assert per_stream["c_layer"] == {"query1", "key1", "value1", "query2", "key2", "value2", "dense1", "dense2"}


@pytest.mark.parametrize("arch", ARCHS)
def test_capture_yields_every_stream_with_padding_masks(arch):
    model = tiny_model(arch)
    batch = sample_list(seed=0)
    text_valid, region_valid = expected_masks(batch)
    with AttentionCapture(model, hidden_states=True) as capture, torch.no_grad():
        model(batch)
    streams = capture.streams()
    assert {name: (len(s.probs), s.probs[0].shape[1]) for name, s in streams.items()} == EXPECTED_MAPS[arch]
    queries = {
        "visual_bert": {"layer": (torch.cat([text_valid, region_valid], 1),) * 2},
        "vilbert": {
            "layer": (text_valid, text_valid),
            "v_layer": (region_valid, region_valid),
            "c_layer.text": (text_valid, region_valid),
            "c_layer.image": (region_valid, text_valid),
        },
    }[arch]
    for name, stream in streams.items():
        assert torch.equal(stream.query_mask, queries[name][0]) and torch.equal(stream.key_mask, queries[name][1])
        for probs in stream.probs:
            assert torch.allclose(probs.sum(-1), torch.ones(probs.shape[:-1]), atol=1e-5)
            padded_keys = ~stream.key_mask[:, None, None, :].expand_as(probs)
            assert probs[padded_keys].max() < 1e-6
        assert len(stream.hidden) == len(stream.probs)
        assert stream.hidden[0].shape[:2] == stream.query_mask.shape
    # hooks are gone after the context: a second forward captures nothing new
    capture.clear()
    with torch.no_grad():
        model(batch)
    assert capture.streams() == {}


def module_outputs(model):
    """Hook every attention module to keep (module, output) of the latest forward."""
    seen, handles = {}, []
    for name, module in model.named_modules():
        if name.endswith("attention.self") or name.endswith("biattention"):
            handles.append(module.register_forward_hook(
                lambda module, args, output, name=name: seen.__setitem__(name, (module, args, output))
            ))
    return seen, handles


def context(probs, values, heads):
    """probs @ V merged back to [batch, positions, heads * head_dim], as the modules do."""
    batch, positions, width = values.shape
    per_head = values.view(batch, positions, heads, width // heads).transpose(1, 2)
    return (probs @ per_head).transpose(1, 2).reshape(batch, -1, width)


def test_visual_bert_sdpa_probabilities_reproduce_the_module_context():
    model = tiny_model("visual_bert")
    batch = sample_list(seed=1)
    seen, handles = module_outputs(model)
    with AttentionCapture(model) as capture, torch.no_grad():
        model(batch)
    for handle in handles:
        handle.remove()
    probs = capture.streams()["layer"].probs
    for layer in range(TEXT_LAYERS):
        module, args, output = seen[f"model.bert.encoder.layer.{layer}.attention.self"]
        assert type(module).__name__ == "BertSdpaSelfAttention" and output[1] is None  # upstream gives no probs
        rebuilt = context(probs[layer], module.value(args[0]), module.num_attention_heads)
        assert torch.allclose(rebuilt, output[0], atol=1e-5)


def test_vilbert_probabilities_equal_the_modules_own():
    model = tiny_model("vilbert", visualization=True)
    batch = sample_list(seed=2)
    seen, handles = module_outputs(model)
    with AttentionCapture(model) as capture, torch.no_grad():
        model(batch)
    for handle in handles:
        handle.remove()
    streams = capture.streams()
    for stream, layers in (("layer", TEXT_LAYERS), ("v_layer", VISUAL_LAYERS)):
        for layer in range(layers):
            own = seen[f"model.bert.encoder.{stream}.{layer}.attention.self"][2][1]["attn"]
            assert torch.allclose(streams[stream].probs[layer], own, atol=1e-6)
    for layer in range(CO_LAYERS):
        own = seen[f"model.bert.encoder.c_layer.{layer}.biattention"][2][2]
        assert torch.allclose(streams["c_layer.text"].probs[layer], own["attn1"], atol=1e-6)
        assert torch.allclose(streams["c_layer.image"].probs[layer], own["attn2"], atol=1e-6)


def test_capture_refuses_models_without_attention():
    with pytest.raises(ValueError, match="no attention modules"):
        with AttentionCapture(torch.nn.Linear(2, 2)):
            pass


def save_model(path, model):
    torch.save({"model": model.state_dict(), "config": {"model": model.config.model}}, path)
    return str(path)


def perturbed(model, seed):
    """Noise on every encoder weight matrix, as a stand-in for finetuning."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if ".encoder." in name and parameter.dim() == 2:
                parameter.add_(0.5 * torch.randn(parameter.shape, generator=generator))
    return model


def builder(arch):
    def build(checkpoint):
        model = tiny_model(arch)
        model.load_state_dict(torch.load(checkpoint, weights_only=True)["model"])
        return model
    return build


def pick(records, measure, stream):
    return [row for row in records if row["measure"] == measure and row["stream"] == stream]


@pytest.mark.parametrize("arch", ARCHS)
def test_model_drift_is_zero_for_the_same_weights_and_positive_after_a_change(arch, tmp_path):
    same_a = save_model(tmp_path / "a.ckpt", tiny_model(arch, seed=3))
    same_b = save_model(tmp_path / "b.ckpt", tiny_model(arch, seed=3))
    changed = save_model(tmp_path / "c.ckpt", perturbed(tiny_model(arch, seed=3), seed=4))
    batches = [sample_list(seed) for seed in range(2)]
    records, samples = measure_model_drift(batches, builder(arch), same_a, same_b)
    assert samples == 2 * BATCH
    assert {row["stream"] for row in records} == set(EXPECTED_MAPS[arch])
    assert all(row["value"] == pytest.approx(0.0, abs=1e-4) for row in records if row["measure"].startswith("attn_"))
    assert all(row["value"] == pytest.approx(1.0, abs=1e-6) for row in records if row["measure"] == "cka_linear")
    records, _ = measure_model_drift(batches, builder(arch), same_a, changed)
    assert min(row["value"] for row in pick(records, "attn_l1", "layer")) > 1e-3
    assert all(0.0 < row["value"] <= 2.0 for row in records if row["measure"] == "attn_l1")
    assert max(row["value"] for row in records if row["measure"] == "cka_linear") < 0.99


def test_model_drift_stops_at_exactly_max_samples_and_counts_real_rows(tmp_path):
    checkpoint_a = save_model(tmp_path / "a.ckpt", tiny_model("visual_bert", seed=3))
    checkpoint_b = save_model(tmp_path / "b.ckpt", perturbed(tiny_model("visual_bert", seed=3), seed=5))
    batches = [sample_list(seed) for seed in range(3)]
    records, samples = measure_model_drift(iter(batches), builder("visual_bert"), checkpoint_a, checkpoint_b, max_samples=4)
    assert samples == 4
    # first batch: text 6+4+2, regions 5+3+1 -> 21 rows; the second contributes its first sample: 6+5
    assert {row["count"] for row in pick(records, "attn_l1", "layer")} == {21 + 11}
    assert {row["count"] for row in pick(records, "cka_linear", "layer")} == {21 + 11}


def test_attention_drift_report_writes_the_measures_with_meta(tmp_path):
    checkpoint_a = save_model(tmp_path / "a.ckpt", tiny_model("vilbert", seed=3))
    checkpoint_b = save_model(tmp_path / "b.ckpt", perturbed(tiny_model("vilbert", seed=3), seed=6))
    paths = attention_drift_report(AttentionDriftRequest(
        batches=[sample_list(0)], build_model=builder("vilbert"), checkpoint_a=checkpoint_a,
        checkpoint_b=checkpoint_b, out_dir=tmp_path / "out", data="vqa2 val", heatmaps=False))
    with open(paths["json"]) as handle:
        document = json.load(handle)
    assert document["meta"]["samples"] == BATCH and document["meta"]["data"] == "vqa2 val"
    assert set(document["definitions"]) == {"attn_l1", "attn_angle_deg", "cka_linear"}
    angles = [row["value"] for row in document["records"] if row["measure"] == "attn_angle_deg"]
    assert all(0.0 <= value <= 90.0 and not math.isnan(value) for value in angles)
