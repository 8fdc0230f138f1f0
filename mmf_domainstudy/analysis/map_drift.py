"""Attention-map drift between two models on the same inputs, streamed over batches."""
import torch

from .measures import angular_distance_deg, paired_layers, record


def _as_bool_mask(mask, batch, length, what):
    if mask.dim() != 2 or tuple(mask.shape) != (batch, length):
        raise ValueError(f"{what} must have shape [batch, length] = {(batch, length)}, got {tuple(mask.shape)}")
    return mask.bool()


class AttentionDriftAccumulator:
    """Running per layer x head means of row-wise L1 and angular distance.

    Holds only sums of shape [layers, heads], so memory does not grow with the number of
    samples. A row counts when its query position is valid and it has at least one valid
    key; padded key positions are dropped from both rows (not renormalised: softmax
    already gives them ~0 mass, and renormalising would change what is compared).
    """

    def __init__(self):
        self.samples = 0
        self._l1_sum = None
        self._angle_sum = None
        self._rows = None

    def update(self, attn_a, attn_b, mask, key_mask=None):
        """Add one batch.

        ``attn_a``/``attn_b``: sequences over layers of [batch, heads, queries, keys]
        probabilities. ``mask``: [batch, queries], nonzero = real position; it masks the
        keys too unless ``key_mask`` [batch, keys] is given (cross-attention).
        """
        layers_a, layers_b = paired_layers(attn_a, attn_b)
        if self._l1_sum is not None and len(layers_a) != self._l1_sum.shape[0]:
            raise ValueError(f"got {len(layers_a)} layers, earlier batches had {self._l1_sum.shape[0]}")
        sums = [
            self._layer_sums(a, b, mask, key_mask, index) for index, (a, b) in enumerate(zip(layers_a, layers_b))
        ]
        l1, angle, rows = (torch.stack(values) for values in zip(*sums))
        if self._l1_sum is None:
            self._l1_sum, self._angle_sum, self._rows = l1, angle, rows
        else:
            if l1.shape != self._l1_sum.shape:
                raise ValueError(f"layers x heads changed from {tuple(self._l1_sum.shape)} to {tuple(l1.shape)}")
            self._l1_sum += l1
            self._angle_sum += angle
            self._rows += rows
        self.samples += layers_a[0].shape[0]

    @staticmethod
    def _layer_sums(attn_a, attn_b, mask, key_mask, index):
        if attn_a.dim() != 4 or attn_a.shape != attn_b.shape:
            raise ValueError(
                f"layer {index}: attention must be two [batch, heads, queries, keys] tensors of one shape, "
                f"got {tuple(attn_a.shape)} and {tuple(attn_b.shape)}"
            )
        batch, _, queries, keys = attn_a.shape
        if key_mask is None and queries != keys:
            raise ValueError(f"layer {index}: {queries} queries but {keys} keys; pass key_mask for cross-attention")
        query_valid = _as_bool_mask(mask, batch, queries, "mask").to(attn_a.device)
        key_valid = query_valid
        if key_mask is not None:
            key_valid = _as_bool_mask(key_mask, batch, keys, "key_mask").to(attn_a.device)
        keep = key_valid[:, None, None, :]
        dtype = torch.promote_types(attn_a.dtype, torch.float32)
        rows_a = attn_a.to(dtype) * keep
        rows_b = attn_b.to(dtype) * keep
        row_valid = (query_valid & key_valid.any(dim=1, keepdim=True))[:, None, :]
        l1 = torch.where(row_valid, (rows_a - rows_b).abs().sum(dim=-1), 0.0)
        angle = torch.where(row_valid, angular_distance_deg(rows_a, rows_b), 0.0)
        return (
            l1.sum(dim=(0, 2)).double().cpu(),
            angle.sum(dim=(0, 2)).double().cpu(),
            row_valid.sum().cpu(),
        )

    def result(self):
        """Means per [layer, head] plus how many rows and samples they rest on."""
        if self._l1_sum is None:
            raise ValueError("no batches were added; call update() before result()")
        rows = self._rows.double().clamp(min=1)[:, None]
        no_rows = (self._rows == 0)[:, None]
        return {
            "l1": torch.where(no_rows, torch.nan, self._l1_sum / rows),
            "angle_deg": torch.where(no_rows, torch.nan, self._angle_sum / rows),
            "rows": self._rows.clone(),
            "samples": self.samples,
        }

    def records(self, stream):
        """The result as flat records (role ``probs``) for the writers."""
        result = self.result()
        records = []
        for layer, (l1_row, angle_row) in enumerate(zip(result["l1"], result["angle_deg"])):
            rows = int(result["rows"][layer])
            for head, (l1, angle) in enumerate(zip(l1_row, angle_row)):
                records.append(record("attn_l1", stream, "probs", layer, head, l1, rows))
                records.append(record("attn_angle_deg", stream, "probs", layer, head, angle, rows))
        return records
