"""Parameter drift on hand-built state dicts whose answers are known."""
import logging
import math

import pytest
import torch

from mmf_domainstudy.analysis.architecture import ATTENTION_WEIGHTS, parse_weight_key
from mmf_domainstudy.analysis.checkpoints import load_weights_and_config
from mmf_domainstudy.analysis.param_drift import parameter_drift, resolve_heads

HIDDEN, HEADS = 8, 2
HEAD_DIM = HIDDEN // HEADS
PREFIX = "model.bert.encoder.layer.{}.attention."
ROLE_KEYS = {
    "query": "self.query.weight",
    "key": "self.key.weight",
    "value": "self.value.weight",
    "output": "output.dense.weight",
}


def bert_state(layers=2, seed=0):
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for layer in range(layers):
        for suffix in ROLE_KEYS.values():
            state[PREFIX.format(layer) + suffix] = torch.randn(HIDDEN, HIDDEN, generator=generator)
        state[PREFIX.format(layer) + "self.query.bias"] = torch.randn(HIDDEN, generator=generator)
        state[PREFIX.format(layer) + "output.LayerNorm.weight"] = torch.ones(HIDDEN)
    state["model.classifier.1.weight"] = torch.randn(3, HIDDEN, generator=generator)
    return state


def pick(records, measure, role, layer=0, head=None, stream="layer"):
    matches = [
        row["value"] for row in records
        if (row["measure"], row["stream"], row["role"], row["layer"], row["head"]) == (measure, stream, role, layer, head)
    ]
    assert len(matches) == 1, (measure, role, layer, head)
    return matches[0]


@pytest.mark.parametrize("prefix", ["model.bert.", "bert.", "module.model.bert.", ""])
@pytest.mark.parametrize("stream, role, suffix, axis", ATTENTION_WEIGHTS)
def test_every_table_entry_parses_under_common_prefixes(prefix, stream, role, suffix, axis):
    key = f"{prefix}encoder.{stream}.7.{suffix}"
    parsed = parse_weight_key(key)
    assert (parsed.stream, parsed.layer, parsed.role, parsed.head_axis) == (stream, 7, role, axis)


@pytest.mark.parametrize("key", [
    "model.bert.encoder.layer.0.attention.self.query.bias",
    "model.bert.encoder.layer.0.attention.output.LayerNorm.weight",
    "model.bert.encoder.layer.0.intermediate.dense.weight",
    "model.bert.encoder.c_layer.0.biOutput.q_dense1.weight",
    "model.bert.encoder.layer.0.attention.self.query.weight_extra",
])
def test_non_attention_weights_are_ignored(key):
    assert parse_weight_key(key) is None


def test_identical_checkpoints_have_zero_drift_everywhere():
    state = bert_state()
    records = parameter_drift(state, {k: v.clone() for k, v in state.items()}, {"layer": HEADS})
    # 2 layers x (4 roles + all) x (1 whole + 2 heads) x 2 measures
    assert len(records) == 2 * 5 * 3 * 2
    assert all(row["value"] == 0.0 for row in records)


def test_known_l1_and_per_head_split_of_query_rows():
    state_a = bert_state(layers=1)
    state_b = {k: v.clone() for k, v in state_a.items()}
    state_b[PREFIX.format(0) + "self.query.weight"][HEAD_DIM:] += 0.5  # head 1's rows only
    records = parameter_drift(state_a, state_b, {"layer": HEADS})
    assert pick(records, "param_l1", "query", head=0) == 0.0
    assert pick(records, "param_l1", "query", head=1) == pytest.approx(0.5)
    assert pick(records, "param_l1", "query") == pytest.approx(0.25)
    assert pick(records, "param_l1", "key") == 0.0
    # 'all' joins 4 equal-size matrices: one quarter of the elements moved by 0.5 on head 1's half
    assert pick(records, "param_l1", "all") == pytest.approx(0.5 * (HIDDEN * HEAD_DIM) / (4 * HIDDEN * HIDDEN))
    assert pick(records, "param_l1", "all", head=0) == 0.0
    assert pick(records, "param_angle_deg", "query", head=0) == 0.0
    assert pick(records, "param_angle_deg", "query", head=1) > 0.0


def test_output_dense_splits_by_input_columns():
    state_a = bert_state(layers=1)
    state_b = {k: v.clone() for k, v in state_a.items()}
    state_b[PREFIX.format(0) + "output.dense.weight"][:, :HEAD_DIM] *= -1  # head 0's columns flipped
    records = parameter_drift(state_a, state_b, {"layer": HEADS})
    assert pick(records, "param_angle_deg", "output", head=0) == pytest.approx(180.0)
    assert pick(records, "param_angle_deg", "output", head=1) == 0.0


def test_orthogonal_weights_are_90_degrees_and_scaling_is_0_degrees():
    state_a = bert_state(layers=1)
    state_b = {k: v.clone() for k, v in state_a.items()}
    query = torch.zeros(HIDDEN, HIDDEN)
    query[:, 0] = 1.0
    state_a[PREFIX.format(0) + "self.query.weight"] = query
    state_b[PREFIX.format(0) + "self.query.weight"] = query.roll(1, dims=1)
    state_b[PREFIX.format(0) + "self.key.weight"] = 2.0 * state_a[PREFIX.format(0) + "self.key.weight"]
    records = parameter_drift(state_a, state_b, {"layer": HEADS})
    assert pick(records, "param_angle_deg", "query") == pytest.approx(90.0)
    assert pick(records, "param_l1", "query") == pytest.approx(2 * HIDDEN / HIDDEN**2)
    assert pick(records, "param_angle_deg", "key") == pytest.approx(0.0, abs=1e-9)
    key = state_a[PREFIX.format(0) + "self.key.weight"]
    assert pick(records, "param_l1", "key") == pytest.approx(float(key.double().abs().mean()))


def test_permuted_heads_show_only_in_the_permuted_heads():
    state_a = bert_state(layers=1)
    state_b = {k: v.clone() for k, v in state_a.items()}
    swap_rows = torch.cat([torch.arange(HEAD_DIM, HIDDEN), torch.arange(HEAD_DIM)])
    for role in ("query", "key", "value"):
        state_b[PREFIX.format(0) + ROLE_KEYS[role]] = state_a[PREFIX.format(0) + ROLE_KEYS[role]][swap_rows]
    state_b[PREFIX.format(0) + ROLE_KEYS["output"]] = state_a[PREFIX.format(0) + ROLE_KEYS["output"]][:, swap_rows]
    records = parameter_drift(state_a, state_b, {"layer": HEADS})
    query_a = state_a[PREFIX.format(0) + ROLE_KEYS["query"]].double()
    expected = float((query_a[:HEAD_DIM] - query_a[HEAD_DIM:]).abs().mean())
    assert pick(records, "param_l1", "query", head=0) == pytest.approx(expected)
    assert pick(records, "param_l1", "query", head=1) == pytest.approx(expected)
    assert pick(records, "param_angle_deg", "all", head=0) > 1.0


def test_zero_matrix_has_no_direction():
    state_a = bert_state(layers=1)
    state_b = {k: v.clone() for k, v in state_a.items()}
    state_a[PREFIX.format(0) + "self.value.weight"] = torch.zeros(HIDDEN, HIDDEN)
    records = parameter_drift(state_a, state_b, {"layer": HEADS})
    assert math.isnan(pick(records, "param_angle_deg", "value"))


def test_vilbert_streams_get_their_own_head_counts():
    state = {
        "model.bert.encoder.v_layer.0.attention.self.query.weight": torch.randn(12, 12),
        "model.bert.encoder.c_layer.0.biattention.query1.weight": torch.randn(6, 12),
        "model.bert.encoder.c_layer.0.biOutput.dense1.weight": torch.randn(12, 6),
    }
    records = parameter_drift(state, state, {"v_layer": 4, "c_layer": 3})
    heads = {(row["stream"], row["role"]): set() for row in records}
    for row in records:
        heads[(row["stream"], row["role"])].add(row["head"])
    assert heads[("v_layer", "query")] == {None, 0, 1, 2, 3}
    assert heads[("c_layer", "query1")] == {None, 0, 1, 2}
    assert heads[("c_layer", "dense1")] == {None, 0, 1, 2}


def test_mismatched_checkpoints_are_refused_with_the_keys():
    state_a, state_b = bert_state(layers=2), bert_state(layers=1)
    with pytest.raises(ValueError, match=r"only in a: \[\('layer', 1"):
        parameter_drift(state_a, state_b, {"layer": HEADS})
    state_b = bert_state(layers=2)
    state_b[PREFIX.format(1) + "self.key.weight"] = torch.zeros(HIDDEN, HIDDEN + 1)
    with pytest.raises(ValueError, match="shape"):
        parameter_drift(state_a, state_b, {"layer": HEADS})


def test_head_count_that_does_not_divide_is_refused():
    state = bert_state(layers=1)
    with pytest.raises(ValueError, match="--heads"):
        parameter_drift(state, state, {"layer": 3})


def test_state_without_attention_is_refused():
    with pytest.raises(ValueError, match="no self-attention weights"):
        parameter_drift({"fc.weight": torch.ones(2, 2)}, {"fc.weight": torch.ones(2, 2)}, {"layer": 1})


def test_duplicate_names_for_one_matrix_are_refused():
    state = bert_state(layers=1)
    state["bert.encoder.layer.0.attention.self.query.weight"] = torch.ones(HIDDEN, HIDDEN)
    with pytest.raises(ValueError, match="both name"):
        parameter_drift(state, state, {"layer": HEADS})


def mmf_config(model, **heads):
    return {"model": model, "model_config": {model: heads}}


def test_heads_come_from_overrides_then_saved_config_then_defaults():
    config = mmf_config("vilbert", num_attention_heads=4, v_num_attention_heads=2, bi_num_attention_heads=2)
    assert resolve_heads(config, config) == {"layer": 4, "v_layer": 2, "c_layer": 2}
    assert resolve_heads(config, None, {"layer": 6}) == {"layer": 6, "v_layer": 2, "c_layer": 2}
    assert resolve_heads(None, None) == {"layer": 12, "v_layer": 8, "c_layer": 8}
    with pytest.raises(ValueError, match="disagree"):
        resolve_heads(config, mmf_config("vilbert", num_attention_heads=6))


def test_load_checkpoint_accepts_mmf_bare_and_ddp_forms(tmp_path):
    state = bert_state(layers=1)
    config = mmf_config("visual_bert", num_attention_heads=2)
    torch.save({"model": state, "config": config, "optimizer": {}}, tmp_path / "mmf.ckpt")
    torch.save({"module." + k: v for k, v in state.items()}, tmp_path / "ddp.pth")
    loaded, loaded_config = load_weights_and_config(tmp_path / "mmf.ckpt")
    assert loaded_config == config and set(loaded) == set(state)
    loaded, loaded_config = load_weights_and_config(tmp_path / "ddp.pth")
    assert loaded_config is None and set(loaded) == set(state)
    assert all(torch.equal(loaded[k], state[k]) for k in state)


class NotWeights:
    pass


def test_load_checkpoint_errors_name_the_file(tmp_path):
    with pytest.raises(ValueError, match="missing.ckpt"):
        load_weights_and_config(tmp_path / "missing.ckpt")
    torch.save({"model": NotWeights()}, tmp_path / "pickled.ckpt")
    with pytest.raises(ValueError, match="pickled.ckpt.*arbitrary unpickling"):
        load_weights_and_config(tmp_path / "pickled.ckpt")
    torch.save([torch.ones(1)], tmp_path / "list.ckpt")
    with pytest.raises(ValueError, match="list.ckpt.*neither a state_dict"):
        load_weights_and_config(tmp_path / "list.ckpt")


def test_only_the_checkpoints_streams_are_reported_as_defaulted(caplog):
    with caplog.at_level(logging.INFO, logger="mmf_domainstudy.analysis.param_drift"):
        assert resolve_heads(None, None, streams={"layer"})["layer"] == 12
    assert "['layer']" in caplog.text and "v_layer" not in caplog.text
