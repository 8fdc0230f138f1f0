"""The head-input probe: it must find an answer hidden in low-variance directions (the frozen
demo bases' case) and must not find one that is not there."""
import pytest
import torch

from mmf_domainstudy.analysis.head_probe import majority_accuracy, probe_head_inputs, top2_variance_share
from mmf_domainstudy.analysis.mmf_inputs import answer_labels

CLASSES, DIM = 4, 32


def anisotropic_features(labels, seed):
    """Two large nuisance directions (std 10) over a small one per class (0.05 apart)."""
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(len(labels), DIM, generator=generator) * 0.01 + 3.0  # a common offset, as transformers have
    features[:, :2] += torch.randn(len(labels), 2, generator=generator) * 10.0
    features[torch.arange(len(labels)), 2 + labels] += 0.05
    return features


def split_labels(seed, train=600, val=300):
    generator = torch.Generator().manual_seed(seed)
    # class 0 is the most frequent, so majority is well below what the probe must reach
    weights = torch.tensor([0.4, 0.2, 0.2, 0.2])
    return (torch.multinomial(weights, train, replacement=True, generator=generator),
            torch.multinomial(weights, val, replacement=True, generator=generator))


def test_probe_reads_an_answer_hidden_under_dominant_directions():
    train_labels, val_labels = split_labels(0)
    probe = probe_head_inputs(anisotropic_features(train_labels, 1), train_labels,
                              anisotropic_features(val_labels, 2), val_labels)
    assert probe.probe_accuracy > 0.95
    assert probe.majority_accuracy == pytest.approx(float((val_labels == 0).double().mean()))
    assert probe.majority_accuracy < 0.5
    assert probe.top2_variance_share > 0.99
    assert (probe.train_samples, probe.val_samples, probe.dim, probe.classes) == (600, 300, DIM, CLASSES)
    assert "vs majority" in probe.summary() and f"{probe.probe_accuracy:.3f}" in probe.summary()


def test_probe_finds_nothing_where_labels_are_independent_of_the_features():
    train_labels, val_labels = split_labels(0)
    shuffled = split_labels(7)  # labels drawn independently of the features' own
    probe = probe_head_inputs(anisotropic_features(train_labels, 1), shuffled[0],
                              anisotropic_features(val_labels, 2), shuffled[1])
    assert probe.probe_accuracy < probe.majority_accuracy + 0.08


def test_variance_share_and_majority_on_known_values():
    isotropic = torch.cat([torch.eye(8), -torch.eye(8)])  # mean 0, every direction the same variance
    assert top2_variance_share(isotropic) == pytest.approx(2 / 8)
    assert top2_variance_share(torch.ones(5, 3)) == 0.0
    assert majority_accuracy(torch.tensor([2, 2, 1]), torch.tensor([2, 0, 2, 1])) == 0.5


def test_probe_refuses_too_few_samples():
    with pytest.raises(ValueError, match="at least 2 training and 1 validation samples"):
        probe_head_inputs(torch.zeros(1, 3), torch.zeros(1, dtype=torch.long), torch.zeros(1, 3),
                          torch.zeros(1, dtype=torch.long))


def test_answer_labels_from_soft_scores_and_class_ids():
    scores = torch.tensor([[0.0, 0.3, 1.0], [0.6, 0.0, 0.0]])
    assert answer_labels(scores, "vqa2").tolist() == [2, 0]
    assert answer_labels(torch.tensor([1, 0, 2]), "visual_entailment").tolist() == [1, 0, 2]
    with pytest.raises(ValueError, match="dataset x: targets of shape \\(3,\\)"):
        answer_labels(torch.tensor([0.5, 1.0, 0.0]), "x")
