"""Attention drift, representation similarity and domain similarity for the study.

Pure torch/numpy/scipy: nothing here imports MMF, so reports run on any machine.
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
from .report import attention_drift_report, parameter_drift_report
