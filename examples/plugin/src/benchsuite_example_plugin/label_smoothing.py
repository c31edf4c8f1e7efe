"""Label smoothing: ERM whose cross-entropy targets put 1 - eps on the label and eps spread over all classes.

Szegedy et al., "Rethinking the Inception Architecture for Computer Vision", CVPR 2016, section 7
("label-smoothing regularization"); eps = 0.1 is their ImageNet value. With eps = 0 it is ERM.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch.nn.functional as F
from torch import Tensor, nn

from benchsuite.datasets.base import Dataset
from benchsuite.datasets.splits import Batch
from benchsuite.errors import ConfigError
from benchsuite.methods.base import RunContext, Stage, SupervisedMethod
from benchsuite.registry import METHODS
from benchsuite.training.augment import SupervisedAugment


@METHODS.register("LabelSmoothing")
class LabelSmoothing(SupervisedMethod):
    """Cross-entropy against label-smoothed targets (smoothing: eps, default 0.1), crop and flip augmentation."""

    def __init__(self, smoothing: float = 0.1, augment: nn.Module | None = None) -> None:
        super().__init__()
        if not 0 <= smoothing < 1:
            raise ConfigError(f"LabelSmoothing.smoothing = {smoothing}: it must lie in [0, 1).")
        self.smoothing = smoothing
        self.augment = augment if augment is not None else SupervisedAugment()

    def stages(self, dataset: Dataset, context: RunContext) -> Iterator[Stage]:
        def step(batch: Batch) -> Tensor:
            x = self.normalized(self.augment(batch["image"]), dataset)
            return F.cross_entropy(self.logits(x), batch["label"], label_smoothing=self.smoothing)

        # one stage over all parameters, with the trainer's optimizer, schedule and epochs, evaluated by the
        # classifier (SupervisedMethod.evaluate)
        yield Stage("train", self, step, dataset.split("train"))

    def record_details(self) -> dict[str, float]:
        return {"smoothing": self.smoothing}
