"""Running models on the evaluation splits: classifier predictions and the linear probe.

Supervised methods are evaluated by their own classifier. Self-supervised encoders are evaluated by the
authors' linear protocol: frozen features before the projection head, computed once per evaluation
without augmentation (cached for every probe epoch), and one linear layer trained with cross-entropy on the
training split. The probe trains through the suite's one loop (`train_loop`).
"""

from __future__ import annotations

from collections.abc import Callable

import gin
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchsuite.augment import normalize, to_unit_float
from benchsuite.datasets.base import Batch, Dataset, Split
from benchsuite.metrics import split_metrics
from benchsuite.trainer import Stage, autocast_for, train_loop

Predictions = dict[str, tuple[Tensor, Tensor, Tensor]]


def preprocess(images: Tensor, dataset: Dataset) -> Tensor:
    """uint8 images on the device -> normalised float, the input every backbone sees at evaluation."""
    return normalize(to_unit_float(images), dataset.mean, dataset.std)


@torch.no_grad()
def apply_to_split(
    fn: Callable[[Tensor], Tensor], split: Split, dataset: Dataset, device: torch.device, batch_size: int
) -> Tensor:
    """fn(preprocessed images) over a whole split, in order, as one float32 tensor on `device`."""
    outputs = []
    for batch in split.batches(batch_size):
        images = batch["image"].to(device, non_blocking=True)
        with autocast_for(device):
            outputs.append(fn(preprocess(images, dataset)).float())
    return torch.cat(outputs)


def evaluate_classifier(
    model: Callable[[Tensor], Tensor], dataset: Dataset, device: torch.device, batch_size: int
) -> dict[str, float]:
    """Metrics of a classifier (preprocessed images -> logits) on every evaluation split."""
    predictions: Predictions = {}
    for name in dataset.eval_splits:
        split = dataset.split(name)
        logits = apply_to_split(model, split, dataset, device, batch_size)
        predictions[name] = (logits.cpu(), split.labels, split.groups)
    return split_metrics(predictions, dataset)


class _FeatureSplit(Split):
    """A split of cached feature vectors, which the probe trains on like images."""

    def __post_init__(self) -> None:  # features are float (N, D), not uint8 images
        pass


@gin.configurable
class LinearProbe:
    """Linear evaluation of a frozen encoder.

    Defaults are the WCL, DCL and HCL code's CIFAR protocol: Adam, lr 1e-3, weight decay 1e-6, 100 epochs.
    The binary datasets' protocol in the WCL code is SGD with momentum 0.9 and weight decay 1e-4 (gin files
    of those datasets bind it). `batch_size` 512 keeps the 100 epochs to seconds on cached features.
    """

    def __init__(
        self,
        epochs: int = 100,
        lr: float = 1e-3,
        weight_decay: float = 1e-6,
        optimizer: Callable[..., torch.optim.Optimizer] = torch.optim.Adam,
        batch_size: int = 512,
        seed: int = 0,
    ) -> None:
        self.epochs = epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.optimizer = optimizer
        self.batch_size = batch_size
        self.seed = seed

    def __call__(
        self, encoder: nn.Module, dataset: Dataset, device: torch.device, eval_batch_size: int = 512
    ) -> dict[str, float]:
        was_training = encoder.training
        encoder.eval()
        train = dataset.split("train")
        features = {
            name: apply_to_split(encoder, dataset.split(name), dataset, device, eval_batch_size)
            for name in ("train", *dataset.eval_splits)
        }
        encoder.train(was_training)

        # The probe's own generator keeps its initialisation and shuffling independent of the encoder's
        # training RNG, so evaluating more or less often does not change the encoder's training.
        generator = torch.Generator().manual_seed(self.seed)
        linear = nn.Linear(features["train"].shape[1], dataset.num_classes).to(device)
        with torch.no_grad():
            bound = 1 / features["train"].shape[1] ** 0.5
            weight = torch.empty(linear.weight.shape).uniform_(-bound, bound, generator=generator)
            linear.weight.copy_(weight)
            linear.bias.zero_()

        def step(batch: Batch) -> Tensor:
            return F.cross_entropy(linear(batch["image"]), batch["label"])

        data = _FeatureSplit(features["train"], train.labels.to(device), train.groups.to(device))
        optimizer = self.optimizer(linear.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        stage = Stage("linear probe", linear, step, data, self.epochs, self.batch_size, [optimizer], drop_last=False)
        train_loop(stage, device, generator)

        linear.eval()
        predictions: Predictions = {}
        with torch.no_grad():
            for name in dataset.eval_splits:
                split = dataset.split(name)
                predictions[name] = (linear(features[name]).cpu(), split.labels, split.groups)
        return split_metrics(predictions, dataset)
