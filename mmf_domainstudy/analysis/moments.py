"""Running first and second moments of row vectors, for streamed CKA and Gaussian fits."""
import torch


class SecondMoments:
    """Count, sum and Gram matrix of rows, accumulated batch by batch.

    Rows are shifted by the first batch's mean before accumulating: the centred scatter
    ``sum (x - mean)(x - mean)^T = Gram - sum sum^T / n`` is exact for any shift, and a
    shift near the mean avoids cancellation when features have a large common offset.
    Batch products run in float32 (or the input's wider type); totals are float64.
    """

    def __init__(self):
        self.count = 0
        self._shift = None
        self._sum = None
        self._gram = None

    def update(self, rows):
        rows = torch.as_tensor(rows)
        if rows.dim() != 2:
            raise ValueError(f"rows must be a [n, features] matrix, got shape {tuple(rows.shape)}")
        if rows.shape[0] == 0:
            return
        dtype = torch.promote_types(rows.dtype, torch.float32)
        if self._shift is None:
            self._shift = rows.to(torch.float64).mean(dim=0)
            self._sum = torch.zeros_like(self._shift)
            self._gram = torch.zeros(rows.shape[1], rows.shape[1], dtype=torch.float64, device=rows.device)
        elif rows.shape[1] != self._shift.shape[0]:
            raise ValueError(f"rows have {rows.shape[1]} features, earlier batches had {self._shift.shape[0]}")
        shifted = rows.to(dtype) - self._shift.to(dtype)
        self._sum += shifted.sum(dim=0).double()
        self._gram += (shifted.T @ shifted).double()
        self.count += rows.shape[0]

    def _require(self, minimum):
        if self.count < minimum:
            raise ValueError(f"need at least {minimum} rows, got {self.count}")

    def mean(self):
        self._require(1)
        return self._shift + self._sum / self.count

    def scatter(self):
        """Centred X^T X over all rows seen."""
        self._require(1)
        return self._gram - torch.outer(self._sum, self._sum) / self.count

    def covariance(self):
        """Unbiased covariance (divides by n - 1)."""
        self._require(2)
        return self.scatter() / (self.count - 1)
