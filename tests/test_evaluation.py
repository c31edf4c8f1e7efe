"""Evaluation: a classifier's metrics on every evaluation split, and the linear probe on frozen features."""

from __future__ import annotations

import torch
from torch import nn

from benchsuite.datasets.base import Dataset, Split
from benchsuite.evaluation import LinearProbe, evaluate_classifier


class _Bright(Dataset):
    """Label 1 when the first pixel is bright; the second pixel is noise. Group = label."""

    num_classes = 2
    num_groups = 2
    eval_splits = ("val", "test")
    mean = (0.0,)
    std = (1.0,)

    def split(self, name: str) -> Split:
        generator = torch.Generator().manual_seed({"train": 0, "val": 1, "test": 2}[name])
        labels = torch.randint(0, 2, (400,), generator=generator)
        images = torch.randint(0, 100, (400, 1, 1, 2), generator=generator, dtype=torch.uint8)
        images[:, 0, 0, 0] += (labels * 150).to(torch.uint8)
        return Split(images, labels, labels.clone())


def test_evaluate_classifier_reports_every_split():
    def threshold(x):  # a perfect classifier on the normalised first pixel
        first = x[:, 0, 0, 0]
        return torch.stack([0.5 - first, first - 0.5], dim=1)

    metrics = evaluate_classifier(threshold, _Bright(), torch.device("cpu"), batch_size=64)
    assert metrics["val/top1"] == metrics["test/top1"] == 1.0
    assert metrics["test/worst_group"] == 1.0 and "test/top5" not in metrics


def test_linear_probe_learns_a_separable_feature_and_leaves_the_encoder_frozen():
    encoder = nn.Sequential(nn.Flatten(), nn.Linear(2, 2))
    with torch.no_grad():
        encoder[1].weight.copy_(torch.eye(2))
        encoder[1].bias.zero_()
    metrics = LinearProbe(epochs=60, lr=0.05, batch_size=64)(encoder, _Bright(), torch.device("cpu"))
    assert metrics["test/top1"] > 0.95 and metrics["test/worst_group"] > 0.9
    assert all(p.grad is None for p in encoder.parameters())
    assert torch.equal(encoder[1].weight, torch.eye(2)) and encoder.training


def test_probe_with_no_training_is_chance():
    encoder = nn.Sequential(nn.Flatten(), nn.Linear(2, 2))
    metrics = LinearProbe(epochs=0)(encoder, _Bright(), torch.device("cpu"))
    assert metrics["test/top1"] < 0.8
