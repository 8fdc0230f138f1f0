"""Linear CKA between two models' layer outputs, one-shot and streamed."""
import torch

from .measures import paired_layers, record
from .moments import SecondMoments


def _cka_from_scatter(scatter_xx, scatter_yy, scatter_xy):
    denominator = torch.linalg.matrix_norm(scatter_xx) * torch.linalg.matrix_norm(scatter_yy)
    return float(torch.linalg.matrix_norm(scatter_xy) ** 2 / denominator)


def linear_cka(x, y):
    """Linear CKA of two [n, features] matrices whose rows are the same n inputs."""
    x, y = torch.as_tensor(x).double(), torch.as_tensor(y).double()
    if x.dim() != 2 or y.dim() != 2 or x.shape[0] != y.shape[0]:
        raise ValueError(f"need two [n, features] matrices with the same n, got {tuple(x.shape)} and {tuple(y.shape)}")
    x, y = x - x.mean(dim=0), y - y.mean(dim=0)
    return _cka_from_scatter(x.T @ x, y.T @ y, x.T @ y)


class LinearCKAAccumulator:
    """Streamed linear CKA per layer over all non-padded positions.

    Per layer it keeps the second moments of the joined rows [x | y], so X^T X, Y^T Y
    and X^T Y are blocks of one Gram matrix, centred once at the end. Memory is
    (features_a + features_b)^2 float64 per layer, independent of the sample count.
    """

    def __init__(self):
        self.samples = 0
        self._moments = None
        self._features_a = None

    def update(self, hidden_a, hidden_b, mask):
        """Add one batch: sequences over layers of [batch, positions, features], and a
        [batch, positions] mask, nonzero = real position."""
        layers_a, layers_b = paired_layers(hidden_a, hidden_b)
        if self._moments is None:
            self._moments = [SecondMoments() for _ in layers_a]
            self._features_a = [a.shape[-1] for a in layers_a]
        if len(layers_a) != len(self._moments):
            raise ValueError(f"got {len(layers_a)} layers, earlier batches had {len(self._moments)}")
        for index, (a, b) in enumerate(zip(layers_a, layers_b)):
            if a.dim() != 3 or a.shape[:2] != b.shape[:2] or tuple(mask.shape) != tuple(a.shape[:2]):
                raise ValueError(
                    f"layer {index}: need [batch, positions, features] states with a [batch, positions] mask, "
                    f"got {tuple(a.shape)}, {tuple(b.shape)} and mask {tuple(mask.shape)}"
                )
            keep = mask.to(a.device).bool()
            self._moments[index].update(torch.cat([a[keep], b[keep].to(a.device)], dim=1))
        self.samples += layers_a[0].shape[0]

    def result(self):
        """CKA per layer, with the number of positions and samples it rests on."""
        if self._moments is None:
            raise ValueError("no batches were added; call update() before result()")
        values = []
        for moments, split in zip(self._moments, self._features_a):
            scatter = moments.scatter()
            values.append(_cka_from_scatter(scatter[:split, :split], scatter[split:, split:], scatter[:split, split:]))
        return {
            "cka": torch.tensor(values, dtype=torch.float64),
            "positions": self._moments[0].count,
            "samples": self.samples,
        }

    def records(self, stream):
        result = self.result()
        return [
            record("cka_linear", stream, "hidden", layer, None, value, result["positions"])
            for layer, value in enumerate(result["cka"])
        ]
