"""Model-side training modes for MMF's VisualBERT and ViLBERT: frozen-base finetuning."""
from mmf_domainstudy.models.freezing import (
    FreezeSummary,
    apply_freezing,
    build_model_with_freezing,
    frozen_modules,
    trainable_parameter_groups,
)

__all__ = [
    "FreezeSummary",
    "apply_freezing",
    "build_model_with_freezing",
    "frozen_modules",
    "trainable_parameter_groups",
]
