"""The distance primitives and, in one table, the definition written beside every number."""
import torch

MEASURE_DEFINITIONS = {
    "param_l1": (
        "Parameter drift, L1: mean over elements of |W_a - W_b| for one attention weight matrix "
        "(head: the head's rows of query/key/value, or its input columns of the output dense; "
        "role 'all': query, key, value and output of the layer together). Weights only, no biases."
    ),
    "param_angle_deg": (
        "Parameter drift, angular: angle in degrees between W_a and W_b flattened to vectors "
        "(same slices as param_l1); 0 = same direction, 90 = orthogonal. NaN if either is all zero."
    ),
    "attn_l1": (
        "Attention-map drift, L1: sum over key positions of |p_a - p_b| for one query row of one "
        "head, averaged over the valid query rows of all samples; 0..2. Padded queries are skipped "
        "and padded keys dropped (rows are not renormalised)."
    ),
    "attn_angle_deg": (
        "Attention-map drift, angular: angle in degrees between the two attention rows (same rows "
        "and key positions as attn_l1), averaged over valid query rows."
    ),
    "cka_linear": (
        "Linear CKA between layer outputs of model a and model b over all non-padded positions: "
        "||Xc^T Yc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F), Xc, Yc centred over positions; "
        "1 = same representation up to rotation and isotropic scale."
    ),
    "text_jsd": (
        "Jensen-Shannon divergence, base 2 (0 = same, 1 = disjoint), between the unigram "
        "distributions of two corpora. Tokens: lowercased text split into maximal runs of Unicode "
        "letters or digits."
    ),
    "vocab_jaccard": "Jaccard index |V_s & V_t| / |V_s | V_t| of the two corpora's word types.",
    "target_token_coverage": (
        "Fraction of target-corpus tokens (counted with repeats) whose type occurs in the source corpus."
    ),
    "target_type_coverage": "Fraction of target-corpus word types that occur in the source corpus.",
    "visual_frechet": (
        "Frechet distance between Gaussian fits (mean, covariance) of two sets of region feature "
        "vectors: ||mu_s - mu_t||^2 + Tr(C_s + C_t - 2 (C_s^1/2 C_t C_s^1/2)^1/2), with a ridge "
        "added to each covariance's diagonal."
    ),
    "spearman_rho": "Spearman rank correlation between a domain-similarity vector and transfer gains.",
    "p_value": "Two-sided p-value of spearman_rho (scipy.stats.spearmanr; small samples make it rough).",
    "pairs": "Number of (similarity, gain) pairs correlated.",
    "source_tokens": "Tokens in the source corpus (with repeats), as tokenised for text_jsd.",
    "target_tokens": "Tokens in the target corpus (with repeats), as tokenised for text_jsd.",
    "source_vectors": "Region feature vectors in the source fit.",
    "target_vectors": "Region feature vectors in the target fit.",
}


def angular_distance_deg(a, b, dim=-1):
    """Angle between vectors along ``dim``, in degrees.

    Uses 2*atan2(|u - v|, |u + v|) on unit vectors instead of acos of a cosine, which
    loses all precision for nearly parallel vectors (the common case after finetuning).
    A zero vector gives NaN: it has no direction.
    """
    unit_a = a / a.norm(dim=dim, keepdim=True)
    unit_b = b / b.norm(dim=dim, keepdim=True)
    half_angle = torch.atan2((unit_a - unit_b).norm(dim=dim), (unit_a + unit_b).norm(dim=dim))
    return torch.rad2deg(2.0 * half_angle)


def vector_angle_deg(a, b):
    """Angle in degrees between two tensors flattened to vectors, as a Python float."""
    return float(angular_distance_deg(a.reshape(-1), b.reshape(-1), dim=0))


def paired_layers(layers_a, layers_b):
    """Two per-layer sequences as lists, refused unless they pair up one to one."""
    layers_a, layers_b = list(layers_a), list(layers_b)
    if len(layers_a) != len(layers_b) or not layers_a:
        raise ValueError(
            f"need the same nonzero number of layers from both models, got {len(layers_a)} and {len(layers_b)}"
        )
    return layers_a, layers_b


def record(measure, stream, role, layer, head, value, count):
    """One number in the flat form every writer takes; head None means all heads."""
    return {
        "measure": measure,
        "stream": stream,
        "role": role,
        "layer": layer,
        "head": head,
        "value": float(value),
        "count": int(count),
    }
