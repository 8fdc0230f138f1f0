"""Statistics over study results: rank correlations (numpy and scipy only, no torch)."""
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
