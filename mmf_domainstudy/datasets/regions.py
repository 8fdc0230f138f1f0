"""Masked region modelling targets (ViLBERT's "MMM"), drawn afresh on every access.

Differs from rc10's masked_coco on purpose: only real regions can be selected
(padding slots past the image's box count never are), features are zeroed only
when masks are asked for (rc10 zeroed them for VisualBERT too, with no loss on
them), and the zeroing works on a copy, so features cached by ``fast_read`` stay
intact.
"""
import torch

REGION_MASK_PROBABILITY = 0.15  # each real region is selected with this probability
REGION_ZERO_PROBABILITY = 0.9  # a selected region's feature is zeroed with this probability


def mask_regions(features, num_regions):
    """Return ``(features with selected regions zeroed, labels)`` for ``features`` [slots, dim].

    ``labels`` [slots]: 1 where a region was selected (its detector class
    distribution is the target), -1 elsewhere (ignored by the loss).
    """
    slots = features.size(0)
    selected = torch.rand(slots) < REGION_MASK_PROBABILITY
    selected[min(int(num_regions), slots):] = False  # padding slots are never selected
    zeroed = selected & (torch.rand(slots) < REGION_ZERO_PROBABILITY)
    masked = features.index_fill(0, zeroed.nonzero().flatten(), 0)  # a copy: cached features stay intact
    labels = torch.where(selected, 1, -1)
    return masked, labels
