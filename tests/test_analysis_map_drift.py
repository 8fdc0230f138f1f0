"""Attention-map drift on small fixed tensors with hand-computed answers."""
import math

import pytest
import torch

from mmf_domainstudy.analysis.map_drift import AttentionDriftAccumulator


def random_probs(batch, heads, queries, keys, seed):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, heads, queries, keys, generator=generator).softmax(dim=-1)


def full_mask(batch, length):
    return torch.ones(batch, length, dtype=torch.long)


def one_hot_rows(batch, heads, length, shift):
    """Row i puts all its mass on key (i + shift) mod length."""
    eye = torch.eye(length).roll(shift, dims=1)
    return eye.expand(batch, heads, length, length).clone()


def test_identical_maps_have_zero_drift():
    probs = random_probs(3, 2, 5, 5, seed=0)
    accumulator = AttentionDriftAccumulator()
    accumulator.update([probs, probs], [probs.clone(), probs.clone()], full_mask(3, 5))
    result = accumulator.result()
    assert torch.equal(result["l1"], torch.zeros(2, 2, dtype=torch.float64))
    assert torch.allclose(result["angle_deg"], torch.zeros(2, 2, dtype=torch.float64), atol=1e-4)
    assert result["rows"].tolist() == [15, 15] and result["samples"] == 3


def test_disjoint_one_hot_rows_are_orthogonal_with_l1_two():
    accumulator = AttentionDriftAccumulator()
    accumulator.update([one_hot_rows(2, 3, 4, 0)], [one_hot_rows(2, 3, 4, 1)], full_mask(2, 4))
    result = accumulator.result()
    assert torch.allclose(result["angle_deg"], torch.full((1, 3), 90.0, dtype=torch.float64))
    assert torch.allclose(result["l1"], torch.full((1, 3), 2.0, dtype=torch.float64))


def test_known_l1_and_angle_of_half_overlapping_rows():
    # [0.5, 0.5, 0] vs [1, 0, 0]: L1 = 0.5 + 0.5 = 1; cos = 0.5 / (sqrt(0.5) * 1) -> 45 degrees
    row_a = torch.tensor([0.5, 0.5, 0.0]).expand(1, 1, 3, 3)
    row_b = torch.tensor([1.0, 0.0, 0.0]).expand(1, 1, 3, 3)
    accumulator = AttentionDriftAccumulator()
    accumulator.update([row_a], [row_b], full_mask(1, 3))
    result = accumulator.result()
    assert result["l1"].item() == pytest.approx(1.0)
    assert result["angle_deg"].item() == pytest.approx(45.0, abs=1e-4)


def test_swapped_heads_show_in_those_heads_only():
    probs = random_probs(2, 4, 6, 6, seed=1)
    swapped = probs[:, [1, 0, 2, 3]]
    accumulator = AttentionDriftAccumulator()
    accumulator.update([probs], [swapped], full_mask(2, 6))
    l1 = accumulator.result()["l1"][0]
    expected = (probs[:, 0] - probs[:, 1]).abs().sum(-1).mean().item()
    assert l1[0].item() == pytest.approx(expected, rel=1e-5)
    assert l1[1].item() == pytest.approx(expected, rel=1e-5)
    assert l1[2].item() == 0.0 and l1[3].item() == 0.0


def test_padded_queries_and_keys_do_not_count():
    probs_a = random_probs(2, 1, 4, 4, seed=2)
    probs_b = probs_a.clone()
    mask = full_mask(2, 4)
    mask[0, 3] = 0  # sample 0: position 3 is padding
    probs_b[0, :, 3, :] = torch.tensor([0.0, 0.0, 0.0, 1.0])  # a padded query row differs
    probs_b[0, :, :, 3] += 0.25  # every row differs at the padded key
    accumulator = AttentionDriftAccumulator()
    accumulator.update([probs_a], [probs_b], mask)
    result = accumulator.result()
    assert result["l1"].item() == pytest.approx(0.0, abs=1e-7)
    assert result["angle_deg"].item() == pytest.approx(0.0, abs=1e-3)
    assert result["rows"].tolist() == [3 + 4]


def test_rows_without_any_valid_key_are_skipped():
    text_to_image_a = random_probs(2, 1, 3, 2, seed=3)
    text_to_image_b = random_probs(2, 1, 3, 2, seed=4)
    query_mask = full_mask(2, 3)
    key_mask = torch.tensor([[1, 1], [0, 0]])  # sample 1 has no regions
    accumulator = AttentionDriftAccumulator()
    accumulator.update([text_to_image_a], [text_to_image_b], query_mask, key_mask)
    result = accumulator.result()
    expected = (text_to_image_a[0] - text_to_image_b[0]).abs().sum(-1).mean().item()
    assert result["rows"].tolist() == [3]
    assert result["l1"].item() == pytest.approx(expected, rel=1e-5)
    assert not math.isnan(result["angle_deg"].item())


def test_streaming_over_batches_equals_one_shot():
    probs_a = [random_probs(7, 3, 5, 5, seed=10 + layer) for layer in range(2)]
    probs_b = [random_probs(7, 3, 5, 5, seed=20 + layer) for layer in range(2)]
    mask = (torch.rand(7, 5, generator=torch.Generator().manual_seed(5)) > 0.3).long()
    mask[:, 0] = 1
    one_shot = AttentionDriftAccumulator()
    one_shot.update(probs_a, probs_b, mask)
    streamed = AttentionDriftAccumulator()
    for start, stop in ((0, 2), (2, 3), (3, 7)):
        streamed.update([p[start:stop] for p in probs_a], [p[start:stop] for p in probs_b], mask[start:stop])
    expected, got = one_shot.result(), streamed.result()
    assert torch.allclose(got["l1"], expected["l1"], atol=1e-12)
    assert torch.allclose(got["angle_deg"], expected["angle_deg"], atol=1e-9)
    assert torch.equal(got["rows"], expected["rows"]) and got["samples"] == 7


def test_state_does_not_grow_with_samples():
    accumulator = AttentionDriftAccumulator()
    for seed in range(20):
        probs = random_probs(4, 2, 3, 3, seed=seed)
        accumulator.update([probs], [probs.flip(-1)], full_mask(4, 3))
    tensors = [value for value in vars(accumulator).values() if isinstance(value, torch.Tensor)]
    assert sorted(tuple(t.shape) for t in tensors) == [(1,), (1, 2), (1, 2)]
    assert accumulator.samples == 80


def test_records_name_stream_layer_and_head():
    accumulator = AttentionDriftAccumulator()
    accumulator.update([one_hot_rows(1, 2, 3, 0)] * 2, [one_hot_rows(1, 2, 3, 1)] * 2, full_mask(1, 3))
    records = accumulator.records("v_layer")
    assert len(records) == 2 * 2 * 2
    assert {(row["layer"], row["head"]) for row in records} == {(0, 0), (0, 1), (1, 0), (1, 1)}
    assert {row["measure"] for row in records} == {"attn_l1", "attn_angle_deg"}
    assert all(row["stream"] == "v_layer" and row["count"] == 3 for row in records)


def test_bad_inputs_are_explained():
    accumulator = AttentionDriftAccumulator()
    with pytest.raises(ValueError, match="no batches"):
        accumulator.result()
    probs = random_probs(2, 1, 3, 3, seed=0)
    with pytest.raises(ValueError, match="same nonzero number of layers"):
        accumulator.update([probs], [probs, probs], full_mask(2, 3))
    with pytest.raises(ValueError, match="one shape"):
        accumulator.update([probs], [probs[:, :, :2]], full_mask(2, 3))
    with pytest.raises(ValueError, match=r"mask must have shape \[batch, length\]"):
        accumulator.update([probs], [probs], full_mask(2, 4))
    with pytest.raises(ValueError, match="pass key_mask"):
        accumulator.update([probs[..., :2]], [probs[..., :2]], full_mask(2, 3))
