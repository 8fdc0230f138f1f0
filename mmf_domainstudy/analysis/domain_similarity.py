"""How alike two domains are, from data alone (the study's first question as numbers)."""
import re
from collections import Counter

import numpy as np
import scipy.linalg
import torch

from .moments import SecondMoments

WORD = re.compile(r"[^\W_]+")


def tokenize(text):
    """Lowercased maximal runs of Unicode letters or digits; all else separates.

    Deliberately simpler than a WordPiece tokenizer: domain vocabulary should be
    compared in words, not in subword pieces of one model's vocabulary.
    """
    return WORD.findall(text.lower())


def unigram_counts(texts):
    """Token counts over an iterable of strings."""
    counts = Counter()
    for text in texts:
        counts.update(tokenize(text))
    return counts


def _require_tokens(counts, name):
    if not sum(counts.values()):
        raise ValueError(f"{name} corpus has no tokens; pass non-empty texts")


def jensen_shannon_divergence(counts_p, counts_q):
    """JSD in bits (0 = same unigram distribution, 1 = no word in common)."""
    _require_tokens(counts_p, "first")
    _require_tokens(counts_q, "second")
    vocabulary = sorted(set(counts_p) | set(counts_q))
    p = np.array([counts_p.get(word, 0) for word in vocabulary], dtype=np.float64)
    q = np.array([counts_q.get(word, 0) for word in vocabulary], dtype=np.float64)
    p, q = p / p.sum(), q / q.sum()
    middle = (p + q) / 2

    def kl_to_middle(dist):
        support = dist > 0
        return float(np.sum(dist[support] * np.log2(dist[support] / middle[support])))

    return min(1.0, max(0.0, (kl_to_middle(p) + kl_to_middle(q)) / 2))


def vocabulary_overlap(source_counts, target_counts):
    """Jaccard of word types, and how much of the target the source vocabulary covers."""
    _require_tokens(source_counts, "source")
    _require_tokens(target_counts, "target")
    source, target = set(source_counts), set(target_counts)
    shared = source & target
    covered_tokens = sum(count for word, count in target_counts.items() if word in source)
    return {
        "vocab_jaccard": len(shared) / len(source | target),
        "target_token_coverage": covered_tokens / sum(target_counts.values()),
        "target_type_coverage": len(shared) / len(target),
    }


def text_domain_similarity(source_texts, target_texts):
    """All textual measures for a (pretraining source, downstream target) pair."""
    source, target = unigram_counts(source_texts), unigram_counts(target_texts)
    _require_tokens(source, "source")
    _require_tokens(target, "target")
    return {
        "text_jsd": jensen_shannon_divergence(source, target),
        **vocabulary_overlap(source, target),
        "source_tokens": sum(source.values()),
        "target_tokens": sum(target.values()),
    }


def fit_gaussian(features):
    """Mean, covariance and count of feature vectors: one [n, d] array or an iterable
    of such arrays (e.g. per-image region features), streamed."""
    batches = [features] if isinstance(features, (np.ndarray, torch.Tensor)) else features
    moments = SecondMoments()
    for batch in batches:
        moments.update(torch.as_tensor(np.asarray(batch, dtype=np.float64)))
    if moments.count < 2:
        raise ValueError(f"need at least 2 feature vectors for a covariance, got {moments.count}")
    return moments.mean().numpy(), moments.covariance().numpy(), moments.count


def frechet_distance(mean_a, cov_a, mean_b, cov_b, ridge=1e-6):
    """Frechet distance between N(mean_a, cov_a) and N(mean_b, cov_b).

    The trace of sqrt(C_a C_b) is taken as that of the symmetric sqrt(C_a^1/2 C_b C_a^1/2)
    (same eigenvalues), computed with eigh: always real, no imaginary residue to drop.
    ``ridge`` is added to both diagonals because region features are often rank
    deficient (fewer vectors than dimensions).
    """
    mean_a, mean_b = np.asarray(mean_a, np.float64), np.asarray(mean_b, np.float64)
    if mean_a.shape != mean_b.shape:
        raise ValueError(f"feature dimensions differ: {mean_a.shape} vs {mean_b.shape}")
    eye = np.eye(mean_a.shape[0])
    cov_a = np.asarray(cov_a, np.float64) + ridge * eye
    cov_b = np.asarray(cov_b, np.float64) + ridge * eye
    root_a = _psd_sqrt(cov_a)
    middle = root_a @ cov_b @ root_a
    trace_root = np.sqrt(np.clip(scipy.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    diff = mean_a - mean_b
    distance = float(diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_root)
    return max(0.0, distance)  # identical sets can round a hair below zero


def _psd_sqrt(matrix):
    values, vectors = scipy.linalg.eigh(matrix)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def _fit_side(features, side):
    try:
        return fit_gaussian(features)
    except ValueError as error:
        raise ValueError(f"{side} features: {error}") from error


def visual_domain_similarity(source_features, target_features, ridge=1e-6):
    """Frechet distance between Gaussian fits of two sets of region features."""
    mean_s, cov_s, n_s = _fit_side(source_features, "source")
    mean_t, cov_t, n_t = _fit_side(target_features, "target")
    return {
        "visual_frechet": frechet_distance(mean_s, cov_s, mean_t, cov_t, ridge),
        "source_vectors": n_s,
        "target_vectors": n_t,
    }
