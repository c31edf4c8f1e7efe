"""JTT, Just Train Twice (Liu, Haghgoo, Chen, Raghunathan, Koh, Sagawa, Liang, Finn, ICML 2021).

Stage 1 trains an ERM model for T epochs; the training images it then misclassifies form the error set.
Stage 2 trains a fresh model on the training set with the error set upsampled lambda_up times (the authors'
code upsamples; here the upsampled split is an index view, so it copies no image). Both stages run through
the one Trainer loop. Authors' settings: Waterbirds T = 60, lambda_up = 100; CelebA T = 1, lambda_up = 50.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchsuite.datasets.base import Dataset
from benchsuite.datasets.splits import Batch
from benchsuite.errors import ConfigError
from benchsuite.evaluation import apply_to_split
from benchsuite.methods.base import BackboneFactory, SupervisedMethod
from benchsuite.registry import METHODS
from benchsuite.training.augment import SupervisedAugment
from benchsuite.training.trainer import RunContext, Stage


class EmptyErrorSet(ConfigError):
    """Stage 1 classified every training image correctly: stage 2 would be plain ERM."""


@METHODS.register("JTT")
class JTT(SupervisedMethod):
    """JTT: ERM for T epochs, then a fresh model with the misclassified training images upsampled lambda_up times.

    identification_epochs is T; upweight is lambda_up (an error-set image appears lambda_up times per epoch).
    """

    def __init__(self, identification_epochs: int = 1, upweight: int = 20, augment: nn.Module | None = None) -> None:
        super().__init__()
        if identification_epochs < 1 or upweight < 1:
            raise ConfigError(
                f"JTT.identification_epochs = {identification_epochs} and JTT.upweight = {upweight}: both must "
                "be at least 1."
            )
        self.identification_epochs = identification_epochs
        self.upweight = upweight
        self.augment = augment if augment is not None else SupervisedAugment()
        self.error_set_size: int | None = None

    def setup(self, backbone: BackboneFactory, dataset: Dataset) -> None:
        super().setup(backbone, dataset)  # the final model: encoder + classifier
        identifier_encoder = backbone()
        self.identifier = nn.Sequential(
            identifier_encoder, nn.Linear(identifier_encoder.feature_dim, dataset.num_classes)
        )

    def record_details(self) -> dict[str, Any]:
        return {
            "identification_epochs": self.identification_epochs,
            "upweight": self.upweight,
            "error_set_size": self.error_set_size,
        }

    def _cross_entropy(self, model: nn.Module, dataset: Dataset):
        def step(batch: Batch) -> Tensor:
            x = self.normalized(self.augment(batch["image"]), dataset)
            return F.cross_entropy(model(x), batch["label"])

        return step

    def stages(self, dataset: Dataset, context: RunContext) -> Iterator[Stage]:
        train = dataset.split("train")
        yield Stage(
            "identification", self.identifier, self._cross_entropy(self.identifier, dataset), train,
            epochs=self.identification_epochs, evaluated=False,
        )
        errors = self.error_set(dataset, context)
        self.error_set_size = len(errors)
        if len(errors) == 0:
            raise EmptyErrorSet(
                f"JTT's stage 1 ({self.identification_epochs} epochs of ERM) classified all {len(train)} training "
                "images correctly, so the error set is empty and stage 2 would be plain ERM. Lower "
                "JTT.identification_epochs (the authors use T = 1 on CelebA) or add regularisation (weight "
                "decay, JTT's authors use 0.1-1.0) so that stage 1 underfits the bias-conflicting images."
            )
        upsampled = train.subset(torch.cat([torch.arange(len(train)), errors.repeat(self.upweight - 1)]))
        final = nn.ModuleList([self.encoder, self.classifier])
        yield Stage("train", final, self._cross_entropy(self.logits, dataset), upsampled)

    @torch.no_grad()
    def error_set(self, dataset: Dataset, context: RunContext) -> Tensor:
        """Indices of the training images that stage 1's model misclassifies (no augmentation)."""
        train = dataset.split("train")
        self.identifier.eval()
        logits = apply_to_split(self.identifier, train, dataset, context.device, context.eval_batch_size)
        self.identifier.train()
        return torch.nonzero(logits.argmax(1).cpu() != train.labels).flatten()
