"""Domain similarity measures against values computed by hand."""
import math

import numpy as np
import pytest
import scipy.linalg

from mmf_domainstudy.analysis.domain_similarity import (
    fit_gaussian,
    frechet_distance,
    jensen_shannon_divergence,
    text_domain_similarity,
    tokenize,
    unigram_counts,
    visual_domain_similarity,
    vocabulary_overlap,
)
from mmf_domainstudy.analysis.statistics import spearman_correlation


def test_tokenize_lowercases_and_splits_on_non_alphanumerics():
    assert tokenize("A man's Dog, 2 cats_and  CAFÉ!") == ["a", "man", "s", "dog", "2", "cats", "and", "café"]


def test_jsd_identical_is_zero_disjoint_is_one():
    counts = unigram_counts(["a dog on a couch", "two dogs"])
    assert jensen_shannon_divergence(counts, counts) == 0.0
    assert jensen_shannon_divergence(unigram_counts(["red blue"]), unigram_counts(["green"])) == 1.0


def test_jsd_known_value():
    # p = (1, 0), q = (1/2, 1/2), m = (3/4, 1/4)
    kl_p = math.log2(1 / 0.75)
    kl_q = 0.5 * math.log2(0.5 / 0.75) + 0.5 * math.log2(0.5 / 0.25)
    value = jensen_shannon_divergence(unigram_counts(["a a"]), unigram_counts(["a b"]))
    assert value == pytest.approx((kl_p + kl_q) / 2)
    assert value == pytest.approx(jensen_shannon_divergence(unigram_counts(["a b"]), unigram_counts(["a"])))


def test_vocabulary_overlap_known_values():
    overlap = vocabulary_overlap(unigram_counts(["a b c"]), unigram_counts(["b c c d"]))
    assert overlap == {"vocab_jaccard": 2 / 4, "target_token_coverage": 3 / 4, "target_type_coverage": 2 / 3}


def test_text_similarity_reads_iterables_and_rejects_empty_corpora():
    result = text_domain_similarity(iter(["A b"]), (line for line in ["a B"]))
    assert result["text_jsd"] == 0.0 and result["vocab_jaccard"] == 1.0
    assert result["source_tokens"] == 2 and result["target_tokens"] == 2
    with pytest.raises(ValueError, match="target corpus has no tokens"):
        text_domain_similarity(["a"], ["!!", ""])


def gaussian_samples(rows, dims, seed, scale=1.0):
    return np.random.default_rng(seed).normal(size=(rows, dims)) * scale


def test_frechet_of_identical_sets_is_zero_and_of_shifted_sets_is_squared_shift():
    x = gaussian_samples(500, 4, seed=0)
    assert visual_domain_similarity(x, x)["visual_frechet"] == pytest.approx(0.0, abs=1e-8)
    shift = np.array([1.0, -2.0, 0.5, 0.0])
    assert visual_domain_similarity(x, x + shift)["visual_frechet"] == pytest.approx(float(shift @ shift), abs=1e-8)


def test_frechet_of_known_gaussians():
    # N(0, I) vs N(0, 4I) in d dims: d * (1 + 4 - 2 * 2) = d
    assert frechet_distance(np.zeros(3), np.eye(3), np.zeros(3), 4 * np.eye(3), ridge=0.0) == pytest.approx(3.0)


def test_frechet_matches_the_sqrtm_formula_on_random_covariances():
    a, b = gaussian_samples(40, 5, seed=1), gaussian_samples(40, 5, seed=2, scale=2.0) + 1.0
    mean_a, cov_a, _ = fit_gaussian(a)
    mean_b, cov_b, _ = fit_gaussian(b)
    root = scipy.linalg.sqrtm(cov_a @ cov_b).real
    expected = float(np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a + cov_b - 2 * root))
    assert frechet_distance(mean_a, cov_a, mean_b, cov_b, ridge=0.0) == pytest.approx(expected, rel=1e-8)


def test_fit_gaussian_streams_batches_like_one_array():
    x = gaussian_samples(60, 3, seed=3) + 100.0
    mean, cov, count = fit_gaussian(iter(np.array_split(x, 5)))
    assert count == 60
    assert np.allclose(mean, x.mean(axis=0)) and np.allclose(cov, np.cov(x, rowvar=False))
    with pytest.raises(ValueError, match="at least 2"):
        fit_gaussian(x[:1])


def test_rank_deficient_features_still_give_a_finite_distance():
    few = gaussian_samples(3, 10, seed=4)
    assert np.isfinite(visual_domain_similarity(few, few + 0.1)["visual_frechet"])


def test_spearman_known_values_and_errors():
    assert spearman_correlation([0.1, 0.5, 0.9], [1.0, 2.0, 5.0])["spearman_rho"] == pytest.approx(1.0)
    assert spearman_correlation([0.1, 0.5, 0.9, 1.2], [4.0, 3.0, 2.0, 1.0])["spearman_rho"] == pytest.approx(-1.0)
    # ranks (1,2,3,4) vs (2,1,4,3): d^2 = 4, rho = 1 - 6*4 / (4 * 15) = 0.6
    assert spearman_correlation([1, 2, 3, 4], [20, 10, 40, 30])["spearman_rho"] == pytest.approx(0.6)
    with pytest.raises(ValueError, match="equal length"):
        spearman_correlation([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="all equal"):
        spearman_correlation([1, 2, 3], [5, 5, 5])
    with pytest.raises(ValueError, match="at least 3"):
        spearman_correlation([1, 2], [1, 2])
