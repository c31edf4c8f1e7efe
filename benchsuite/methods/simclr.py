"""SimCLR (Chen, Kornblith, Norouzi, Hinton, ICML 2020): InfoNCE between two augmented views of each image.

Both views of a batch go through the encoder in one forward pass, so batch-norm statistics cover all 2B
views as in the authors' code. Evaluated by the linear probe on the features before the projection head.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator

import torch
from torch import Tensor, nn

from benchsuite.augment import ContrastiveAugment
from benchsuite.backbones import projection_head
from benchsuite.datasets.base import Batch, Dataset
from benchsuite.losses.contrastive import info_nce
from benchsuite.methods.base import BackboneFactory, RepresentationMethod, train_stage
from benchsuite.registry import METHODS
from benchsuite.trainer import Stage, Trainer


class ContrastiveMethod(RepresentationMethod):
    """An encoder and projection head trained on two views per image; subclasses choose the loss."""

    def __init__(
        self,
        temperature: float = 0.5,
        hidden_dim: int = 512,
        projection_dim: int = 128,
        augment: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.temperature = temperature
        self.hidden_dim = hidden_dim
        self.projection_dim = projection_dim
        self.augment = augment if augment is not None else ContrastiveAugment()

    def setup(self, backbone: BackboneFactory, dataset: Dataset) -> None:
        self.encoder = backbone()
        self.head = projection_head(self.encoder.feature_dim, self.hidden_dim, self.projection_dim)

    def project_views(self, batch: Batch, dataset: Dataset) -> tuple[Tensor, Tensor]:
        """Projections (z1, z2) of two independently augmented views of every image in the batch."""
        images = batch["image"]
        views = torch.cat([self.augment(images), self.augment(images)])
        z = self.head(self.encoder(self.normalized(views, dataset)))
        return z.chunk(2)

    @abc.abstractmethod
    def loss(self, z1: Tensor, z2: Tensor) -> Tensor:
        """The contrastive loss of the two views' projections."""

    def stages(self, dataset: Dataset, trainer: Trainer) -> Iterator[Stage]:
        yield train_stage(self, lambda batch: self.loss(*self.project_views(batch, dataset)), dataset, trainer)


@METHODS.register("SimCLR")
class SimCLR(ContrastiveMethod):
    """InfoNCE with temperature t (default 0.5, the DCL/HCL/WCL code's CIFAR setting)."""

    def loss(self, z1: Tensor, z2: Tensor) -> Tensor:
        return info_nce(z1, z2, self.temperature)
