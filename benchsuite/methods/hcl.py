"""HCL, contrastive learning with hard negative samples (Robinson, Chuang, Sra, Jegelka, ICLR 2021).

DCL's estimator with each negative reweighted by imp_j = neg_j ** beta, normalised by its mean over the
anchor's negatives. beta follows the authors' code: it acts on similarity / t, so it equals the paper's
beta times 1/t.
"""

from __future__ import annotations

from torch import Tensor, nn

from benchsuite.losses.contrastive import hcl_loss
from benchsuite.methods.base import ContrastiveMethod
from benchsuite.registry import METHODS


@METHODS.register("HCL")
class HCL(ContrastiveMethod):
    """HCL: DCL with hardness-reweighted negatives (authors' defaults t = 0.5, tau_plus = 0.1, beta = 1)."""

    def __init__(
        self,
        temperature: float = 0.5,
        tau_plus: float = 0.1,
        beta: float = 1.0,
        hidden_dim: int = 512,
        projection_dim: int = 128,
        augment: nn.Module | None = None,
    ) -> None:
        super().__init__(temperature, hidden_dim, projection_dim, augment)
        self.tau_plus = tau_plus
        self.beta = beta

    def loss(self, z1: Tensor, z2: Tensor) -> Tensor:
        return hcl_loss(z1, z2, self.temperature, self.tau_plus, self.beta)
