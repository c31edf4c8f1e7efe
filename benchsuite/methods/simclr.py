"""SimCLR (Chen, Kornblith, Norouzi, Hinton, ICML 2020): InfoNCE between two augmented views of each image.

Evaluated by the linear probe on the features before the projection head.
"""

from __future__ import annotations

from torch import Tensor

from benchsuite.losses.contrastive import info_nce
from benchsuite.methods.base import ContrastiveMethod
from benchsuite.registry import METHODS


@METHODS.register("SimCLR")
class SimCLR(ContrastiveMethod):
    """SimCLR: InfoNCE with temperature t (default 0.5, the DCL/HCL/WCL code's CIFAR setting)."""

    def loss(self, z1: Tensor, z2: Tensor) -> Tensor:
        return info_nce(z1, z2, self.temperature)
