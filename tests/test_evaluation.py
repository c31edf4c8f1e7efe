"""Evaluation: a classifier's metrics on every split; the converged logistic probe, the authors' epoch probe and the
kNN on frozen features; what a run record says about its evaluation."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from benchsuite.datasets.base import Dataset
from benchsuite.datasets.splits import TensorSplit
from benchsuite.evaluation import (
    FrozenEncoderEvaluation,
    KNNEvaluation,
    LinearProbe,
    LogisticProbe,
    ProbeNotConverged,
    evaluate_classifier,
    frozen_features,
)
from benchsuite.evaluation.knn import knn_scores


class _Bright(Dataset):
    """Label 1 when the first pixel is bright; the second pixel is noise. Group = label."""

    num_classes = 2
    num_groups = 2
    eval_splits = ("val", "test")
    mean = (0.0,)
    std = (1.0,)

    @property
    def _splits(self) -> dict[str, TensorSplit]:
        return {name: self._make(name) for name in self.split_names}

    def _make(self, name: str) -> TensorSplit:
        generator = torch.Generator().manual_seed({"train": 0, "val": 1, "test": 2}[name])
        labels = torch.randint(0, 2, (400,), generator=generator)
        images = torch.randint(0, 100, (400, 1, 1, 2), generator=generator, dtype=torch.uint8)
        images[:, 0, 0, 0] += (labels * 150).to(torch.uint8)
        return TensorSplit(images, labels, labels.clone())


class _Features(Dataset):
    """A dataset that exists only through given features: labels and groups per split, images unused."""

    eval_splits = ("val", "test")

    def __init__(self, labels: dict[str, torch.Tensor], num_classes: int, eval_splits=("val", "test")) -> None:
        self.labels = labels
        self.num_classes = num_classes
        self.num_groups = num_classes
        self.eval_splits = eval_splits

    @property
    def _splits(self) -> dict[str, TensorSplit]:
        return {
            name: TensorSplit(torch.zeros(len(labels), 1, 1, 1, dtype=torch.uint8), labels, labels.clone())
            for name, labels in self.labels.items()
        }


def _identity_encoder() -> nn.Module:
    encoder = nn.Sequential(nn.Flatten(), nn.Linear(2, 2))
    with torch.no_grad():
        encoder[1].weight.copy_(torch.eye(2))
        encoder[1].bias.zero_()
    return encoder


def test_evaluate_classifier_reports_every_split():
    def threshold(x):  # a perfect classifier on the normalised first pixel
        first = x[:, 0, 0, 0]
        return torch.stack([0.5 - first, first - 0.5], dim=1)

    metrics = evaluate_classifier(threshold, _Bright(), torch.device("cpu"), batch_size=64)
    assert metrics["val/top1"] == metrics["test/top1"] == 1.0
    assert metrics["test/worst_group"] == 1.0 and "test/top5" not in metrics


def test_frozen_features_leave_the_encoder_frozen_and_in_its_mode():
    encoder = _identity_encoder()
    features = frozen_features(encoder, _Bright(), torch.device("cpu"), batch_size=64)
    assert set(features) == {"train", "val", "test"} and features["test"].shape == (400, 2)
    assert all(p.grad is None for p in encoder.parameters())
    assert torch.equal(encoder[1].weight, torch.eye(2)) and encoder.training


def test_logistic_probe_reaches_100_percent_on_linearly_separable_features():
    generator = torch.Generator().manual_seed(0)
    labels = {name: torch.randint(0, 3, (300,), generator=generator) for name in ("train", "val", "test")}
    # three classes on three well-separated directions, plus two noise dimensions
    centres = torch.tensor([[4.0, 0, 0], [0, 4.0, 0], [0, 0, 4.0]])
    features = {
        name: torch.cat([centres[y] + 0.3 * torch.randn(len(y), 3, generator=generator),
                         torch.randn(len(y), 2, generator=generator)], dim=1)
        for name, y in labels.items()
    }
    metrics = LogisticProbe()(features, _Features(labels, 3))
    assert metrics["test/top1"] == 1.0 and metrics["val/top1"] == 1.0 and metrics["test/worst_group"] == 1.0


def _reference_logistic_regression(x: torch.Tensor, y: torch.Tensor, num_classes: int, c: float) -> torch.Tensor:
    """Independent float64 solution of min_W,b  C * sum_i CE(W x_i + b, y_i) + ||W||^2 / 2 (scikit-learn's
    objective: the bias is not penalised), by full-batch L-BFGS in torch; returns (W, b) stacked as (D+1, K)."""
    x = x.double()
    params = torch.zeros(x.shape[1] + 1, num_classes, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([params], lr=1, max_iter=5000, tolerance_grad=1e-12, tolerance_change=1e-14,
                                  history_size=50, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        logits = x @ params[:-1] + params[-1]
        loss = c * torch.nn.functional.cross_entropy(logits, y, reduction="sum") + 0.5 * (params[:-1] ** 2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return params.detach()


def test_logistic_probe_agrees_with_an_independent_regularised_logistic_regression():
    generator = torch.Generator().manual_seed(1)
    labels = {name: torch.randint(0, 4, (400,), generator=generator) for name in ("train", "val", "test")}
    direction = torch.randn(4, 12, generator=generator)
    features = {  # random features, weakly informative: accuracy far from 0 and from 1
        name: 0.4 * direction[y] + torch.randn(len(y), 12, generator=generator) * 2 + 5
        for name, y in labels.items()
    }
    c = 0.05
    metrics = LogisticProbe(c_grid=(c,))(features, _Features(labels, 4))
    mean, std = features["train"].double().mean(0), features["train"].double().std(0, unbiased=False)
    params = _reference_logistic_regression((features["train"].double() - mean) / std, labels["train"], 4, c)
    test = (features["test"].double() - mean) / std
    reference = ((test @ params[:-1] + params[-1]).argmax(1) == labels["test"]).double().mean().item()
    assert 0.3 < reference < 0.95  # the case is informative
    assert abs(metrics["test/top1"] - reference) <= 0.005
    assert metrics["probe/C"] == c
    # and scikit-learn's own solver on the same standardised features, called directly
    from sklearn.linear_model import LogisticRegression

    fitted = LogisticRegression(C=c, max_iter=10000, tol=1e-10).fit(
        ((features["train"].double() - mean) / std).numpy(), labels["train"].numpy()
    )
    sklearn_top1 = float((fitted.predict(test.numpy()) == labels["test"].numpy()).mean())
    assert abs(metrics["test/top1"] - sklearn_top1) <= 0.005


def test_logistic_probe_chooses_its_strength_on_the_validation_split():
    generator = torch.Generator().manual_seed(2)
    labels = {name: torch.randint(0, 2, (200,), generator=generator) for name in ("train", "val", "test")}
    # feature 0 carries the label in every split; on val, feature 1 is flipped noise that a weakly regularised
    # fit over-uses, so strong regularisation wins there
    features = {name: torch.stack([y.double() + 0.8 * torch.randn(len(y), generator=generator).double(),
                                   y.double() + 0.05 * torch.randn(len(y), generator=generator).double()], 1)
                for name, y in labels.items()}
    features["val"][:, 1] = 1 - features["val"][:, 1]
    metrics = LogisticProbe(c_grid=(0.0001, 100.0))(features, _Features(labels, 2))
    assert metrics["probe/C"] == 0.0001


def test_logistic_probe_without_a_validation_split_holds_out_part_of_the_training_features():
    generator = torch.Generator().manual_seed(3)
    labels = {name: torch.randint(0, 2, (200,), generator=generator) for name in ("train", "test")}
    features = {name: torch.stack([y.double() * 3, torch.randn(len(y), generator=generator).double()], 1)
                for name, y in labels.items()}
    metrics = LogisticProbe()(features, _Features(labels, 2, eval_splits=("test",)))
    assert metrics["test/top1"] == 1.0 and "val/top1" not in metrics


def test_an_unconverged_probe_raises_instead_of_reporting():
    generator = torch.Generator().manual_seed(4)
    labels = {name: torch.randint(0, 5, (300,), generator=generator) for name in ("train", "val", "test")}
    features = {name: torch.randn(len(y), 20, generator=generator) for name, y in labels.items()}
    with pytest.raises(ProbeNotConverged, match=r"LogisticProbe\.max_iter = 2"):
        LogisticProbe(max_iter=2)(features, _Features(labels, 5))


def test_epoch_probe_learns_a_separable_feature():
    features = frozen_features(_identity_encoder(), _Bright(), torch.device("cpu"), batch_size=64)
    metrics = LinearProbe(epochs=60, lr=0.05, batch_size=64)(features, _Bright())
    assert metrics["test/top1"] > 0.95 and metrics["test/worst_group"] > 0.9


def test_epoch_probe_reports_its_budget_not_the_features():
    # why the converged probe is the default: the same separable features, read after 1 epoch at a tiny
    # learning rate, give a far worse number than the converged probe
    features = frozen_features(_identity_encoder(), _Bright(), torch.device("cpu"), batch_size=64)
    short = LinearProbe(epochs=1, lr=1e-4, batch_size=512)(features, _Bright())
    converged = LogisticProbe()(features, _Bright())
    assert converged["test/top1"] > 0.95 and short["test/top1"] < converged["test/top1"] - 0.2


def test_knn_votes_are_similarity_weighted_over_the_k_nearest():
    # query q = (1, 0). Train: class 0 at 0 and 60 degrees, class 1 at 30 and 35 degrees, class 2 at 180.
    angles = torch.tensor([0.0, 60.0, 30.0, 35.0, 180.0]) * math.pi / 180
    train = torch.stack([angles.cos(), angles.sin()], 1) * torch.tensor([[1.0], [3.0], [2.0], [0.5], [1.0]])
    labels = torch.tensor([0, 0, 1, 1, 2])
    scores = knn_scores(train, labels, torch.tensor([[2.0, 0.0]]), num_classes=3, k=3, temperature=0.5)
    # the 3 nearest by cosine: 0 deg (cos 1), 30 deg and 35 deg; 60 deg and 180 deg are not among them
    expected = torch.tensor([[math.exp(1 / 0.5), math.exp(math.cos(math.radians(30)) / 0.5)
                              + math.exp(math.cos(math.radians(35)) / 0.5), 0.0]])
    assert torch.allclose(scores, expected, rtol=1e-5)
    assert scores.argmax().item() == 1  # two close neighbours outvote one exact match


def test_knn_evaluation_reports_its_own_metrics():
    labels = {"train": torch.tensor([0, 0, 1, 1]), "val": torch.tensor([0, 1]), "test": torch.tensor([1, 0])}
    features = {"train": torch.tensor([[1.0, 0.1], [1.0, -0.1], [0.1, 1.0], [-0.1, 1.0]]),
                "val": torch.tensor([[1.0, 0.0], [0.0, 1.0]]), "test": torch.tensor([[1.0, 0.0], [0.0, 1.0]])}
    metrics = KNNEvaluation(k=2)(features, _Features(labels, 2))
    assert metrics["knn/val/top1"] == 1.0 and metrics["knn/test/top1"] == 0.0
    assert not any(key.startswith(("val/", "test/")) for key in metrics)


def test_frozen_encoder_evaluation_combines_probe_and_knn_and_describes_them():
    evaluation = FrozenEncoderEvaluation()
    metrics = evaluation(_identity_encoder(), _Bright(), torch.device("cpu"))
    assert metrics["test/top1"] > 0.95 and metrics["knn/test/top1"] > 0.8
    assert set(evaluation.describe()) == {"probe", "knn"} and "LogisticProbe" in evaluation.describe()["probe"]
    assert FrozenEncoderEvaluation(probe=LinearProbe(), knn=False).describe() == {"probe": LinearProbe().describe()}


class _Noise(Dataset):
    """Random 8 px images with labels drawn independently of them: nothing the encoder sees predicts a label."""

    num_classes = 2
    num_groups = 2
    eval_splits = ("val", "test")

    def __init__(self, size: int) -> None:
        self.size = size

    @property
    def _splits(self) -> dict[str, TensorSplit]:
        return {name: self._make(name) for name in self.split_names}

    def _make(self, name: str) -> TensorSplit:
        generator = torch.Generator().manual_seed({"train": 10, "val": 11, "test": 12}[name])
        images = torch.randint(0, 256, (self.size, 3, 8, 8), generator=generator, dtype=torch.uint8)
        labels = torch.randint(0, 2, (self.size,), generator=generator)
        return TensorSplit(images, labels, labels.clone())


@pytest.mark.parametrize("probe", [LogisticProbe(), LinearProbe(epochs=20, lr=0.2, batch_size=64)],
                         ids=["logistic", "epochs"])
def test_a_random_encoder_on_label_independent_images_is_at_chance_within_a_binomial_bound(probe):
    """The test labels are fair coins drawn independently of everything the probe and the kNN see, so the
    number of correct test predictions is Binomial(n, 1/2) whatever they predict: top-1 lies within 4 standard
    deviations of 1/2, 0.5 +- 4 sqrt(0.25 / n) = 0.5 +- 0.089 for n = 500 (outside with probability 6e-5).
    Measured here: 0.474 (logistic), 0.516 (epochs), kNN 0.488 on test; with the test labels leaking, a logistic
    probe refit on the test split gives 0.824, the epoch probe trained on it 0.674, a kNN that searches the
    queried split itself (each query its own neighbour) 0.684. (The probe's val/top1 is not binomial: C is
    chosen to maximise it.)"""
    from benchsuite.models.backbones import SmallCNN

    torch.manual_seed(0)
    encoder = SmallCNN(width=64)  # random weights: 256 features
    n = 500
    metrics = FrozenEncoderEvaluation(probe=probe)(encoder, _Noise(n), torch.device("cpu"))
    half_width = 4 * math.sqrt(0.25 / n)
    for key in ("test/top1", "knn/test/top1", "knn/val/top1"):
        assert abs(metrics[key] - 0.5) <= half_width, (key, metrics[key])
