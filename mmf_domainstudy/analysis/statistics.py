"""Statistics over study results: rank correlations and intervals over seeds (numpy and scipy only, no torch)."""
import dataclasses
from typing import Optional

import numpy as np
import scipy.stats


def spearman_correlation(similarity, gains):
    """Spearman rho (and its p-value) between similarity values and transfer gains,
    one entry per (source, task) pair."""
    similarity, gains = np.asarray(similarity, np.float64), np.asarray(gains, np.float64)
    if similarity.shape != gains.shape or similarity.ndim != 1:
        raise ValueError(f"need two 1-d sequences of equal length, got shapes {similarity.shape} and {gains.shape}")
    if similarity.size < 3:
        raise ValueError(f"need at least 3 pairs for a rank correlation, got {similarity.size}")
    for name, values in (("similarity", similarity), ("gains", gains)):
        if np.all(values == values[0]):
            raise ValueError(f"{name} values are all equal; a rank correlation is undefined")
    result = scipy.stats.spearmanr(similarity, gains)
    return {"spearman_rho": float(result.statistic), "p_value": float(result.pvalue), "pairs": int(similarity.size)}


CONFIDENCE = 0.95


@dataclasses.dataclass(frozen=True)
class Interval:
    """A difference of means over seeds with its confidence interval (low and high None: no interval)."""

    estimate: float
    low: Optional[float]
    high: Optional[float]
    n: int  # seeds paired; for Welch the smallest term's seeds
    method: str  # "paired" (Student t on per-seed differences) or "Welch" (Welch-Satterthwaite t)

    @property
    def within_noise(self):
        """Whether the interval contains 0; None without an interval."""
        return None if self.low is None else self.low <= 0.0 <= self.high


def paired_t_interval(differences, confidence=CONFIDENCE):
    """Mean of per-seed differences ± t_{(1+c)/2, n-1} · sd / sqrt(n); no interval for one difference."""
    values = np.asarray(differences, np.float64)
    mean = float(values.mean())
    if values.size < 2:
        return Interval(mean, None, None, int(values.size), "paired")
    half = scipy.stats.t.ppf((1 + confidence) / 2, values.size - 1) * values.std(ddof=1) / np.sqrt(values.size)
    return Interval(mean, mean - float(half), mean + float(half), int(values.size), "paired")


def welch_interval(terms, confidence=CONFIDENCE):
    """Sum of coefficient x sample mean for independent samples, with the Welch-Satterthwaite t interval.

    ``terms``: (coefficient, values) pairs. Its variance is the sum of c^2 s^2 / n, its degrees of freedom
    (sum of those)^2 / sum of (c^2 s^2 / n)^2 / (n - 1); for two terms with coefficients +1 and -1 this is
    Welch's interval for a difference of means. A term with one value leaves no interval.
    """
    samples = [(float(c), np.asarray(v, np.float64)) for c, v in terms]
    estimate = float(sum(c * v.mean() for c, v in samples))
    smallest = min(v.size for _, v in samples)
    if smallest < 2:
        return Interval(estimate, None, None, smallest, "Welch")
    parts = np.array([c * c * v.var(ddof=1) / v.size for c, v in samples])
    variance = float(parts.sum())
    if variance == 0.0:  # every sample constant: no spread to widen the difference by
        return Interval(estimate, estimate, estimate, smallest, "Welch")
    freedom = variance ** 2 / sum(p * p / (v.size - 1) for p, (_, v) in zip(parts, samples))
    half = scipy.stats.t.ppf((1 + confidence) / 2, freedom) * np.sqrt(variance)
    return Interval(estimate, estimate - float(half), estimate + float(half), smallest, "Welch")


def seed_contrast_interval(terms, confidence=CONFIDENCE):
    """A linear combination of per-seed results, with its interval.

    ``terms``: (coefficient, {seed: value}) pairs, e.g. [(1, source), (-1, baseline)] for a delta.
    Where every term has a seed in common, the combination is formed per shared seed and the paired t
    interval taken over those seeds (a seed some term lacks is left out); where they share none, the
    terms are independent samples (Welch).
    """
    shared = sorted(set.intersection(*(set(values) for _, values in terms)))
    if shared:
        return paired_t_interval([sum(c * values[seed] for c, values in terms) for seed in shared], confidence)
    return welch_interval([(c, list(values.values())) for c, values in terms], confidence)
