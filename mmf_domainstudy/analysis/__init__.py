"""Attention drift, representation similarity and domain similarity for the study.

Models are reached through forward hooks and state-dict key names (see architecture.py),
checkpoints through the zoo's reader, so nothing here needs MMF except mmf_inputs.py
(MMF's config, data loader and models for attention drift on a dataset), which this
package does not import.
"""
from .capture import AttentionCapture
from .checkpoints import load_checkpoint
from .cka import LinearCKAAccumulator, linear_cka
from .domain_similarity import (
    fit_gaussian,
    frechet_distance,
    jensen_shannon_divergence,
    spearman_correlation,
    text_domain_similarity,
    tokenize,
    unigram_counts,
    visual_domain_similarity,
    vocabulary_overlap,
)
from .map_drift import AttentionDriftAccumulator
from .measures import MEASURE_DEFINITIONS
from .model_drift import measure_model_drift
from .param_drift import parameter_drift, resolve_heads
from .report import (
    attention_drift_report,
    parameter_drift_report,
    rank_correlation_report,
    text_similarity_report,
    visual_similarity_report,
)
