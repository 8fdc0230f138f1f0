"""Linear CKA: invariances, a hand-computed value, and streaming = one-shot."""
import pytest
import torch

from mmf_domainstudy.analysis.cka import LinearCKAAccumulator, linear_cka
from mmf_domainstudy.analysis.moments import SecondMoments


def features(rows, dims, seed):
    return torch.randn(rows, dims, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_cka_of_x_with_itself_is_one():
    x = features(50, 6, seed=0)
    assert linear_cka(x, x) == pytest.approx(1.0, abs=1e-12)


def test_cka_is_invariant_to_orthogonal_transform_isotropic_scale_and_shift():
    x = features(50, 6, seed=0)
    rotation, _ = torch.linalg.qr(features(6, 6, seed=1))
    assert linear_cka(x, x @ rotation) == pytest.approx(1.0, abs=1e-12)
    assert linear_cka(x, 7.5 * x) == pytest.approx(1.0, abs=1e-12)
    y = features(50, 4, seed=2)
    assert linear_cka(3.0 * x @ rotation + 2.0, y) == pytest.approx(linear_cka(x, y), abs=1e-12)


def test_cka_of_one_dimensional_features_is_squared_pearson():
    # deviations (-1.5, -.5, .5, 1.5) and (-1.5, .5, -.5, 1.5): r = 4 / 5 = 0.8
    x = torch.tensor([[1.0], [2.0], [3.0], [4.0]])
    y = torch.tensor([[1.0], [3.0], [2.0], [4.0]])
    assert linear_cka(x, y) == pytest.approx(0.64)


def test_unrelated_features_have_low_cka_and_anisotropic_scaling_changes_it():
    x, y = features(2000, 5, seed=3), features(2000, 5, seed=4)
    assert linear_cka(x, y) < 0.05
    stretched = x * torch.tensor([10.0, 1.0, 1.0, 1.0, 1.0], dtype=torch.float64)
    assert linear_cka(x, stretched) < 0.99


def test_streamed_cka_with_masks_equals_one_shot_on_kept_positions():
    generator = torch.Generator().manual_seed(5)
    hidden_a = [torch.randn(9, 7, 6, generator=generator, dtype=torch.float64) for _ in range(2)]
    def noise(*shape):
        return torch.randn(*shape, generator=generator, dtype=torch.float64)

    hidden_b = [a @ noise(6, 4) + 0.3 * noise(9, 7, 4) for a in hidden_a]
    mask = torch.rand(9, 7, generator=generator) > 0.35
    hidden_b[0][~mask] = 1e3  # garbage at padded positions must not matter
    accumulator = LinearCKAAccumulator()
    for start, stop in ((0, 4), (4, 5), (5, 9)):
        accumulator.update([h[start:stop] for h in hidden_a], [h[start:stop] for h in hidden_b], mask[start:stop])
    result = accumulator.result()
    for layer in range(2):
        expected = linear_cka(hidden_a[layer][mask], hidden_b[layer][mask])
        assert result["cka"][layer].item() == pytest.approx(expected, abs=1e-10)
    assert result["positions"] == int(mask.sum()) and result["samples"] == 9
    assert 0.3 < result["cka"][0].item() < 0.999


def test_streaming_survives_a_large_common_offset_in_float32():
    x, y = features(400, 3, seed=6), features(400, 3, seed=7)
    y = y + x
    expected = linear_cka(x, y)
    accumulator = LinearCKAAccumulator()
    offset = 1e4
    for start in range(0, 400, 100):
        rows = slice(start, start + 100)
        accumulator.update([(x[rows] + offset).float()[None]], [(y[rows] - offset).float()[None]], torch.ones(1, 100))
    assert accumulator.result()["cka"][0].item() == pytest.approx(expected, abs=1e-4)


def test_second_moments_match_numpy_style_covariance():
    x = features(30, 4, seed=8)
    moments = SecondMoments()
    for chunk in x.split(7):
        moments.update(chunk)
    assert torch.allclose(moments.mean(), x.mean(dim=0), atol=1e-12)
    assert torch.allclose(moments.covariance(), torch.cov(x.T), atol=1e-12)
    with pytest.raises(ValueError, match="features"):
        moments.update(features(3, 5, seed=9))


def test_cka_bad_inputs_are_explained():
    with pytest.raises(ValueError, match="same n"):
        linear_cka(features(5, 2, 0), features(6, 2, 0))
    accumulator = LinearCKAAccumulator()
    with pytest.raises(ValueError, match="no batches"):
        accumulator.result()
    with pytest.raises(ValueError, match=r"\[batch, positions\] mask"):
        accumulator.update([torch.ones(2, 3, 4)], [torch.ones(2, 3, 4)], torch.ones(2, 4))
