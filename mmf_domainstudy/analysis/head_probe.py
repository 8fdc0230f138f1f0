"""How much of the answer can any linear classifier read from what a task head sees?

A frozen cell at the majority answer has two possible causes: the head did not train
(optimization), or the frozen base's output carries no answer (representation). A
linear probe on the head's own input, fitted to convergence on standardized features,
separates them: a probe near majority means no linear head can do better whatever its
recipe (MMF's one-hidden-layer head seldom does much more); a probe well above it with
the trained head at majority means the recipe is what fails.

Standardizing matters: transformer outputs are anisotropic (two directions hold 85-97 % of
the pooled output's variance in the demo's MLM-pretrained VisualBERT bases, the answer sits
in the small ones), which stalls a head trained on raw features for far longer than a
finetuning budget. ``top2_variance_share`` reports that. Works on tensors only.
"""
import dataclasses

import torch

PROBE_STEPS = 300
PROBE_LEARNING_RATE = 1e-2
_MIN_STD = 1e-6  # a feature constant over the training samples is divided by this, not by 0


@dataclasses.dataclass(frozen=True)
class HeadProbe:
    """A linear probe's accuracies on one head input, beside what a head must beat."""

    train_samples: int
    val_samples: int
    dim: int
    classes: int
    majority_accuracy: float  # val accuracy of always answering the most frequent training answer
    probe_accuracy: float  # val top-answer accuracy of the linear probe
    probe_train_accuracy: float
    top2_variance_share: float  # share of the features' variance in their two largest principal directions

    def summary(self):
        lift = self.probe_accuracy - self.majority_accuracy
        return (f"linear probe on the head's input: val accuracy {self.probe_accuracy:.3f} "
                f"(train {self.probe_train_accuracy:.3f}) vs majority {self.majority_accuracy:.3f} "
                f"({lift:+.3f}); {self.dim}-d, top-2 directions hold {self.top2_variance_share:.0%} of the variance; "
                f"{self.train_samples} train / {self.val_samples} val samples, {self.classes} answers")


def top2_variance_share(features):
    """Share of the total variance that the two largest principal directions hold."""
    centred = features.double() - features.double().mean(0)
    eigenvalues = torch.linalg.eigvalsh(centred.T @ centred / max(len(features) - 1, 1))
    total = eigenvalues.sum()
    return float(eigenvalues[-2:].sum() / total) if total > 0 else 0.0


def majority_accuracy(train_labels, val_labels):
    most_frequent = torch.bincount(train_labels).argmax()
    return float((val_labels == most_frequent).double().mean())


def fit_linear_probe(features, labels, classes, steps=PROBE_STEPS, learning_rate=PROBE_LEARNING_RATE, seed=0):
    """A standardized multinomial logistic regression, full batch: returns ``predict(features) -> labels``."""
    features = features.double()
    mean, std = features.mean(0), features.std(0).clamp_min(_MIN_STD)
    generator = torch.Generator().manual_seed(seed)
    weight = (torch.randn(features.shape[1], classes, generator=generator, dtype=torch.double) * 0.01).requires_grad_()
    bias = torch.zeros(classes, dtype=torch.double, requires_grad=True)
    optimizer = torch.optim.Adam([weight, bias], lr=learning_rate)
    standardized = (features - mean) / std
    for _ in range(steps):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(standardized @ weight + bias, labels).backward()
        optimizer.step()

    def predict(other):
        with torch.no_grad():
            return (((other.double() - mean) / std) @ weight + bias).argmax(-1)

    return predict


def probe_head_inputs(train_features, train_labels, val_features, val_labels, steps=PROBE_STEPS, seed=0):
    """Fit on the training samples, score on the validation ones."""
    if len(train_features) < 2 or len(val_features) < 1:
        raise ValueError(f"a probe needs at least 2 training and 1 validation samples "
                         f"(got {len(train_features)} and {len(val_features)}); raise the sample counts")
    classes = int(max(train_labels.max(), val_labels.max())) + 1
    predict = fit_linear_probe(train_features, train_labels, classes, steps=steps, seed=seed)
    return HeadProbe(
        train_samples=len(train_features),
        val_samples=len(val_features),
        dim=train_features.shape[1],
        classes=classes,
        majority_accuracy=majority_accuracy(train_labels, val_labels),
        probe_accuracy=float((predict(val_features) == val_labels).double().mean()),
        probe_train_accuracy=float((predict(train_features) == train_labels).double().mean()),
        top2_variance_share=top2_variance_share(train_features),
    )
