"""ERM: empirical risk minimisation, cross-entropy on the training labels; the baseline of every table."""

from __future__ import annotations

from collections.abc import Iterator

import torch.nn.functional as F
from torch import Tensor, nn

from benchsuite.datasets.base import Dataset
from benchsuite.datasets.splits import Batch
from benchsuite.methods.base import SupervisedMethod
from benchsuite.registry import METHODS
from benchsuite.training.augment import SupervisedAugment
from benchsuite.training.trainer import RunContext, Stage


@METHODS.register("ERM")
class ERM(SupervisedMethod):
    """ERM: cross-entropy on augmented training images (augment: batched, default crop with padding + flip)."""

    def __init__(self, augment: nn.Module | None = None) -> None:
        super().__init__()
        self.augment = augment if augment is not None else SupervisedAugment()

    def stages(self, dataset: Dataset, context: RunContext) -> Iterator[Stage]:
        def step(batch: Batch) -> Tensor:
            x = self.normalized(self.augment(batch["image"]), dataset)
            return F.cross_entropy(self.logits(x), batch["label"])

        yield Stage("train", self, step, dataset.split("train"))
