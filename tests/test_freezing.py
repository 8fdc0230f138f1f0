"""Frozen-base finetuning (freeze_base / freeze_layers) on tiny rc10 VisualBERT and ViLBERT.

Models, optimizers and losses come from MMF's own APIs (build_model, build_optimizer,
the models' losses); the base is loaded from a checkpoint written by an rc10 pretraining
model, then a few AdamW steps with weight decay train the classification head.
"""
import copy
import logging
import os

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

import mmf_domainstudy

mmf_domainstudy.activate()  # compat shims, MMF, the plugin's registered components

from mmf.common.registry import registry
from mmf.common.sample import Sample, SampleList
from mmf.utils.build import build_model, build_optimizer
from mmf.utils.configuration import load_yaml
from mmf_domainstudy.models import apply_freezing, build_model_with_freezing, frozen_modules, trainable_parameter_groups

ARCHS = ("visual_bert", "vilbert")
MODEL_CONFIGS = os.path.join(os.path.dirname(mmf_domainstudy.__file__), "configs", "mmf", "models")
FEATURE_DIM, REGIONS, TOKENS, CLASSES, LABELS, BATCH = 8, 5, 7, 11, 3, 4
TINY = {
    "bert_model_name": None,
    "special_visual_initialize": False,
    "hidden_size": 16,
    "num_hidden_layers": 3,
    "num_attention_heads": 2,
    "intermediate_size": 32,
    "vocab_size": 50,
    "max_position_embeddings": 32,
    "visual_embedding_dim": FEATURE_DIM,
    "num_labels": LABELS,
}
# 3 text layers, 2 visual layers; co-attention block 0 feeds text layer 1 and visual
# layer 0, block 1 feeds text layer 2 and visual layer 1.
TINY_VILBERT = {
    "v_feature_size": FEATURE_DIM,
    "v_target_size": CLASSES,
    "v_hidden_size": 16,
    "v_num_hidden_layers": 2,
    "v_num_attention_heads": 2,
    "v_intermediate_size": 32,
    "bi_hidden_size": 16,
    "bi_num_attention_heads": 2,
    "bi_intermediate_size": 32,
    "t_biattention_id": [1, 2],
    "v_biattention_id": [0, 1],
}
# rc10's ViLBERT co-attention output builds q_dense1/q_dense2 but its forward never uses
# them: they get no gradient, frozen or not.
UNUSED_BY_FORWARD = "biOutput.q_dense"
# The specification of freeze_layers, written out per architecture and N.
FROZEN_BY_LAYERS = {
    ("visual_bert", 0): {"embeddings"},
    ("visual_bert", 2): {"embeddings", "encoder.layer.0", "encoder.layer.1"},
    ("visual_bert", 3): {"embeddings", "encoder.layer.0", "encoder.layer.1", "encoder.layer.2"},
    ("vilbert", 0): {"embeddings", "v_embeddings"},
    ("vilbert", 1): {"embeddings", "v_embeddings", "encoder.layer.0", "encoder.v_layer.0"},
    ("vilbert", 2): {
        "embeddings", "v_embeddings", "encoder.layer.0", "encoder.layer.1",
        "encoder.v_layer.0", "encoder.v_layer.1", "encoder.c_layer.0",
    },
    ("vilbert", 3): {
        "embeddings", "v_embeddings", "encoder.layer.0", "encoder.layer.1", "encoder.layer.2",
        "encoder.v_layer.0", "encoder.v_layer.1", "encoder.c_layer.0", "encoder.c_layer.1",
    },
}


def tiny_config(arch, head="classification", **overrides):
    config = load_yaml(os.path.join(MODEL_CONFIGS, arch, f"{head}.yaml")).model_config[arch]
    config = OmegaConf.merge(config, TINY, TINY_VILBERT if arch == "vilbert" else {}, overrides)
    config.model = arch
    return config


def build(arch, head="classification", seed=0, **overrides):
    torch.manual_seed(seed)
    return build_model(tiny_config(arch, head, **overrides))


def optimizer_config(model):
    """The study's finetuning optimizer (AdamW, decay 0.01), lr raised so 3 steps move weights."""
    return OmegaConf.create(
        {
            "model": model.config.model,
            "model_config": {model.config.model: model.config},
            "optimizer": {"type": "adam_w", "params": {"lr": 1e-2, "eps": 1e-8, "weight_decay": 0.01}},
        }
    )


def batch(seed=0):
    """A collated batch shaped like MMF's VQA-style classification datasets produce."""
    rng = np.random.default_rng(seed)
    samples = []
    for _ in range(BATCH):
        corners = rng.uniform(0, 100, size=(REGIONS, 2, 2))
        samples.append(
            Sample(
                {
                    "input_ids": torch.tensor(rng.integers(1, 50, size=TOKENS)),
                    "input_mask": torch.ones(TOKENS, dtype=torch.long),
                    "segment_ids": torch.zeros(TOKENS, dtype=torch.long),
                    "image_feature_0": torch.tensor(rng.random((REGIONS, FEATURE_DIM)), dtype=torch.float),
                    "image_info_0": {
                        "max_features": torch.tensor(REGIONS),
                        "bbox": np.concatenate([corners.min(1), corners.max(1)], axis=1).astype(np.float32),
                        "image_width": 100,
                        "image_height": 100,
                        "cls_prob": rng.dirichlet(np.ones(CLASSES), size=REGIONS).astype(np.float32),
                    },
                    "targets": torch.tensor(int(rng.integers(LABELS))),
                }
            )
        )
    collated = SampleList(samples)
    collated.dataset_name, collated.dataset_type = "vqa2", "train"
    return collated


def train_steps(model, optimizer, steps=3):
    model.train()
    for step in range(steps):
        losses = model(batch(step))["losses"]
        optimizer.zero_grad()
        sum(loss.mean() for loss in losses.values()).backward()
        optimizer.step()


def load_base(model, checkpoint):
    """Carry only the base over, as the study's finetuning does."""
    state = torch.load(checkpoint, weights_only=True)
    missing, unexpected = model.load_state_dict(
        {key: value for key, value in state.items() if key.startswith("model.bert.")}, strict=False
    )
    assert not unexpected and all(key.startswith("model.classifier.") for key in missing)
    return state


@pytest.fixture(scope="module", autouse=True)
def mmf_config(tmp_path_factory):
    """The parts of the global config a trainer registers that model building and losses read."""
    config = {"evaluation": {"predict": False}, "env": {"cache_dir": str(tmp_path_factory.mktemp("cache"))}}
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(registry.mapping["state"], "config", OmegaConf.create(config))
        yield


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory, mmf_config):
    """``<model>_final.pth`` of an rc10 pretraining model (a plain state dict), per arch."""
    paths = {}
    for arch in ARCHS:
        paths[arch] = tmp_path_factory.mktemp(arch) / f"{arch}_final.pth"
        torch.save(build(arch, head="pretrain", seed=1).state_dict(), paths[arch])
    return paths


def finetune(pretrained, arch, steps=3, **overrides):
    """Freeze at build, then load the base: the order of a trainer's build and checkpoint load."""
    model = build(arch, seed=2, **overrides)
    summary = apply_freezing(model)
    pretrained_state = load_base(model, pretrained[arch])
    optimizer = build_optimizer(model, optimizer_config(model))
    initial = {key: value.clone() for key, value in model.state_dict().items()}
    train_steps(model, optimizer, steps)
    return model, optimizer, summary, pretrained_state, initial


def parameters_under(model, prefixes):
    return {name: p for name, p in model.named_parameters() if name.startswith(tuple(prefixes))}


def base_output_twice(model):
    """The base's first output for the same batch in two train-mode forward passes."""
    outputs = []
    handle = model.model.bert.register_forward_hook(lambda module, args, output: outputs.append(output[0]))
    model.train()
    with torch.no_grad():
        model(batch())
        model(batch())
    handle.remove()
    return outputs


@pytest.mark.parametrize("arch", ARCHS)
def test_freeze_base_keeps_pretrained_base_bit_identical_and_trains_head(pretrained, arch):
    model, _, summary, pretrained_state, initial = finetune(pretrained, arch, freeze_base=True)
    state = model.state_dict()
    base_keys = [key for key in state if key.startswith("model.bert.")]
    assert base_keys and all(torch.equal(state[key], pretrained_state[key]) for key in base_keys)
    head = parameters_under(model, ["model.classifier."])
    assert head and all(not torch.equal(p, initial[name]) for name, p in head.items())
    assert summary.frozen_modules == ("model.bert",)
    assert summary.frozen == sum(p.numel() for p in model.model.bert.parameters())
    assert summary.trainable == sum(p.numel() for p in head.values())


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("settings", [{"freeze_base": True}, {"freeze_layers": 1}], ids=["base", "layers1"])
def test_optimizer_holds_exactly_the_trainable_tensors(pretrained, arch, settings):
    model, optimizer, _, _, _ = finetune(pretrained, arch, **settings)
    in_groups = [id(p) for group in optimizer.param_groups for p in group["params"]]
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    assert len(in_groups) == len(set(in_groups)) and set(in_groups) == trainable
    assert all(group["params"] for group in optimizer.param_groups)
    assert optimizer.state and all(p.requires_grad for p in optimizer.state)
    # bias/LayerNorm groups keep MMF's zero decay; the others keep 0.01
    assert {group["weight_decay"] for group in optimizer.param_groups} == {0.0, 0.01}
    # a resumed run rebuilds the same groups, so the saved optimizer state loads back
    twin = build_model_with_freezing(tiny_config(arch, **settings))
    build_optimizer(twin, optimizer_config(twin)).load_state_dict(optimizer.state_dict())


@pytest.mark.parametrize("arch,num_layers", sorted(FROZEN_BY_LAYERS))
def test_freeze_layers_freezes_embeddings_and_lowest_layers_only(pretrained, arch, num_layers):
    model, _, summary, pretrained_state, initial = finetune(pretrained, arch, freeze_layers=num_layers)
    expected = {f"model.bert.{name}" for name in FROZEN_BY_LAYERS[arch, num_layers]}
    assert set(summary.frozen_modules) == expected
    frozen = parameters_under(model, [name + "." for name in expected])
    assert frozen and all(not p.requires_grad and torch.equal(p, pretrained_state[n]) for n, p in frozen.items())
    trainable = {name: p for name, p in model.named_parameters() if name not in frozen}
    assert all(p.requires_grad for p in trainable.values())
    used = {name: p for name, p in trainable.items() if UNUSED_BY_FORWARD not in name}
    assert all(not torch.equal(p, initial[name]) for name, p in used.items())
    assert summary.frozen == sum(p.numel() for p in frozen.values())


@pytest.mark.parametrize("arch", ARCHS)
def test_frozen_base_is_free_of_dropout_in_train_mode(arch):
    model = build(arch, freeze_base=True)
    apply_freezing(model)
    model.eval()
    model.train()  # what the trainer does around each evaluation
    assert not any(module.training for module in model.model.bert.modules())
    assert model.model.classifier.training and model.model.dropout.training
    first, second = base_output_twice(model)
    assert torch.equal(first, second)


@pytest.mark.parametrize("arch", ARCHS)
def test_rc10_freeze_base_alone_keeps_dropout_and_frozen_tensors_in_optimizer(arch):
    """What apply_freezing fixes: rc10's build() only turns requires_grad off."""
    model = build(arch, freeze_base=True)
    assert not any(p.requires_grad for p in model.model.bert.parameters())
    optimizer = build_optimizer(model, optimizer_config(model))
    in_groups = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert {id(p) for p in model.model.bert.parameters()} <= in_groups
    first, second = base_output_twice(model)
    assert not torch.equal(first, second)


@pytest.mark.parametrize("arch", ARCHS)
def test_freeze_layers_silences_dropout_below_n_only(arch):
    model = build(arch, freeze_layers=2)
    apply_freezing(model)
    layers = model.model.bert.encoder.layer
    outputs = {"frozen": [], "trainable": []}
    layers[1].register_forward_hook(lambda module, args, out: outputs["frozen"].append(out[0]))
    layers[2].register_forward_hook(lambda module, args, out: outputs["trainable"].append(out[0]))
    base_output_twice(model)
    assert torch.equal(*outputs["frozen"])
    assert not torch.equal(*outputs["trainable"])


@pytest.mark.parametrize("arch", ARCHS)
def test_no_freeze_keys_leave_mmf_behaviour_untouched(arch):
    config = tiny_config(arch)
    assert config.freeze_base is False and config.freeze_layers is None  # defaults from the bundled yaml
    model = build(arch)
    summary = apply_freezing(model)
    assert summary.frozen == 0 and summary.frozen_modules == ()
    assert "get_optimizer_parameters" not in vars(model)
    model.train()
    assert all(module.training for module in model.modules())


def test_pinned_eval_survives_deepcopy():
    model = build("visual_bert", freeze_base=True)
    apply_freezing(model)
    twin = copy.deepcopy(model)
    twin.train()
    assert not any(module.training for module in twin.model.bert.modules())
    assert twin.model.classifier.training


@pytest.mark.parametrize(
    "arch,settings,message",
    [
        ("visual_bert", {"freeze_layers": 4}, "model_config.visual_bert.freeze_layers=4: set an integer from 0 to 3"),
        ("vilbert", {"freeze_layers": -1}, "model_config.vilbert.freeze_layers=-1: set an integer from 0 to 3"),
        ("visual_bert", {"freeze_layers": "2"}, "model_config.visual_bert.freeze_layers='2'"),
        ("visual_bert", {"freeze_base": "yes"}, "model_config.visual_bert.freeze_base='yes': set true or false"),
        ("vilbert", {"freeze_base": True, "freeze_layers": 1}, "not both"),
    ],
)
def test_bad_settings_name_the_key_and_the_fix(arch, settings, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("[", r"\[")):
        frozen_modules(build(arch, **settings))


def test_freeze_base_as_rc10s_command_line_spells_it():
    # `model_config.visual_bert.freeze_base=true` reaches the model as the string "true"
    frozen = frozen_modules(build("visual_bert", freeze_base="true"))
    assert frozen and set(frozen) == set(frozen_modules(build("visual_bert", freeze_base=True)))
    assert frozen_modules(build("visual_bert", freeze_base="false")) == {}


def test_freezing_other_models_is_refused():
    model = torch.nn.Linear(2, 2)
    model.config = OmegaConf.create({"model": "linear", "freeze_base": True})
    with pytest.raises(ValueError, match="knows only visual_bert and vilbert"):
        apply_freezing(model)


def test_counts_go_to_mmf_writer_when_a_trainer_registered_one(monkeypatch):
    written = []
    writer = type("Writer", (), {"write": lambda self, message: written.append(message)})()
    monkeypatch.setitem(registry.mapping["state"], "writer", writer)
    model = build("vilbert", freeze_layers=1)
    summary = apply_freezing(model)
    assert written == [str(summary)]
    assert f"{summary.trainable:,} train, {summary.frozen:,} frozen" in written[0]
    assert summary.trainable + summary.frozen == sum(p.numel() for p in model.parameters())


def test_counts_go_to_logging_without_a_writer(monkeypatch, caplog):
    monkeypatch.delitem(registry.mapping["state"], "writer", raising=False)
    with caplog.at_level(logging.INFO, logger="mmf_domainstudy.models.freezing"):
        summary = apply_freezing(build("visual_bert", freeze_base=True))
    assert str(summary) in caplog.text and "frozen: model.bert" in caplog.text


def test_trainable_parameter_groups_filters_tensors_and_groups():
    frozen, trainable = torch.nn.Parameter(torch.ones(1), requires_grad=False), torch.nn.Parameter(torch.ones(1))
    assert trainable_parameter_groups([frozen, trainable]) == [trainable]
    groups = trainable_parameter_groups(
        [{"params": [frozen], "lr": 1.0}, {"params": trainable, "weight_decay": 0.1}, {"params": [frozen, trainable]}]
    )
    assert groups == [{"params": [trainable], "weight_decay": 0.1}, {"params": [trainable]}]
