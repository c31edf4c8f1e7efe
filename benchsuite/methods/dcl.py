"""DCL, debiased contrastive learning (Chuang, Robinson, Lin, Torralba, Jegelka, NeurIPS 2020).

Corrects InfoNCE's negatives for false negatives (same-class images) under a class prior tau_plus:
Ng = (-tau_plus * N * pos + sum_j neg_j) / (1 - tau_plus), clamped below at N * exp(-1/t). Not lightly's
"DCLLoss", which is the unrelated Decoupled Contrastive Learning.
"""

from __future__ import annotations

from torch import Tensor, nn

from benchsuite.losses.contrastive import dcl_loss
from benchsuite.methods.base import ContrastiveMethod
from benchsuite.registry import METHODS


@METHODS.register("DCL")
class DCL(ContrastiveMethod):
    """DCL: InfoNCE with debiased negatives (authors' defaults t = 0.5, tau_plus = 0.1)."""

    def __init__(
        self,
        temperature: float = 0.5,
        tau_plus: float = 0.1,
        hidden_dim: int = 512,
        projection_dim: int = 128,
        augment: nn.Module | None = None,
    ) -> None:
        super().__init__(temperature, hidden_dim, projection_dim, augment)
        self.tau_plus = tau_plus

    def loss(self, z1: Tensor, z2: Tensor) -> Tensor:
        return dcl_loss(z1, z2, self.temperature, self.tau_plus)
