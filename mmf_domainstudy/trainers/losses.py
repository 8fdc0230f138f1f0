"""Empty-mask handling for MMF's pretraining losses.

rc10's masked-LM loss is NaN when a batch has no masked token, and ViLBERT's
masked-region loss divides by a zero count when no region is masked. Such a
batch carries no signal for that term, so the term counts as zero. A NaN with
labels present is a real divergence and is left alone for the trainer to report.
"""
import logging

import torch

logger = logging.getLogger(__name__)

# loss-name suffix -> the batch field holding its labels (-1 = not masked)
MASKED_LOSS_LABELS = {
    "masked_lm_loss": "lm_label_ids",
    "masked_img_loss": "image_labels",
}

_warned = set()


def has_masked_positions(batch, field):
    labels = batch.get(field, None) if hasattr(batch, "get") else getattr(batch, field, None)
    if labels is None:
        return True
    labels = torch.as_tensor(labels)
    return bool((labels != -1).any())


def zero_empty_mask_losses(losses, batch):
    """Return ``losses`` with NaN terms of label-free masked objectives set to 0."""
    cleaned = {}
    for name, value in losses.items():
        field = next((f for suffix, f in MASKED_LOSS_LABELS.items() if name.endswith(suffix)), None)
        if field is not None and torch.isnan(value).any() and not has_masked_positions(batch, field):
            if name not in _warned:
                _warned.add(name)
                logger.warning("%s: a batch had no masked position; it contributes 0 to this loss (logged once)", name)
            value = torch.zeros_like(value)
        cleaned[name] = value
    return cleaned
