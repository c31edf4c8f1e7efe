"""WCL, difficulty-based sampling for debiased contrastive learning (Jang and Wang, CVPR 2023).

Two encoders trained together, each with its own optimizer: the bias-amplifying E_b learns from a triplet
loss without margin, which favours easy (bias-aligned) features; the debiased E_d learns from a contrastive
loss whose negatives are weighted by their relative difficulty, w = 1 + D~_d / (D~_d + D~_b), so that a
negative E_b puts close to the anchor (a bias-aligned hard negative) weighs up to twice. The weights are
detached: E_b learns only from the triplet loss. Statistical debiasing of E_d's loss follows DCL (tau_plus >
0, the authors' default runs) or HCL (beta > 0). Both encoders are evaluated by the linear probe: rows
"WCL (E_d)" and "WCL (E_b)", as in the paper's tables.

The poster's forms are the defaults; the authors' code variants are gin options (ALGORITHMS.md):
`WCL.triplet = @debiased_triplet_loss` and `WCL.weights = @similarity_weights` (whose emphasis runs the other
way: it gives w -> 1 to negatives that E_b puts close to the anchor).
"""

from __future__ import annotations

from collections.abc import Callable

import gin
from torch import Tensor, nn

from benchsuite.datasets.base import Dataset
from benchsuite.losses.contrastive import debiased_contrastive_loss
from benchsuite.losses.wcl import debiased_triplet_loss, relative_difficulty_weights, similarity_weights, triplet_loss
from benchsuite.methods.base import ArtefactWriter, BackboneFactory, TwoViewMethod
from benchsuite.methods.wcl_figure import save_negatives_figure
from benchsuite.models.backbones import projection_head
from benchsuite.registry import METHODS
from benchsuite.training import distributed
from benchsuite.training.trainer import ParameterGroup, RunContext

for _function in (triplet_loss, debiased_triplet_loss, relative_difficulty_weights, similarity_weights):
    gin.external_configurable(_function)

WeightFn = Callable[[Tensor, Tensor, Tensor, Tensor], Tensor]
DEBIASED_ROW, BIASED_ROW = "WCL (E_d)", "WCL (E_b)"


@METHODS.register("WCL")
class WCL(TwoViewMethod):
    """WCL: a triplet-trained bias-amplifying encoder E_b weights the negatives of the debiased encoder E_d.

    Defaults from ALGORITHMS.md (authors' CIFAR settings): t = 0.5, tau_plus = 0.1 (DCL debiasing), beta = 0,
    lr_b = 1e-2 for E_b (E_d uses the trainer's lr, 1e-3 in the paper). `figure_anchors` anchors of the test
    split get the easy/hard negatives figure after training (0: none).
    """

    def __init__(
        self,
        temperature: float = 0.5,
        tau_plus: float = 0.1,
        beta: float = 0.0,
        lr_b: float = 1e-2,
        hidden_dim: int = 512,
        projection_dim: int = 128,
        weights: WeightFn = relative_difficulty_weights,
        triplet: Callable[[Tensor, Tensor], Tensor] = triplet_loss,
        augment: nn.Module | None = None,
        figure_anchors: int = 4,
    ) -> None:
        super().__init__(temperature, hidden_dim, projection_dim, augment)
        self.tau_plus = tau_plus
        self.beta = beta
        self.lr_b = lr_b
        self.weights = weights
        self.triplet = triplet
        self.figure_anchors = figure_anchors

    def setup(self, backbone: BackboneFactory, dataset: Dataset) -> None:
        self.encoder = backbone()
        self.head = projection_head(self.encoder.feature_dim, self.hidden_dim, self.projection_dim)
        self.encoder_b = backbone()
        self.head_b = projection_head(self.encoder_b.feature_dim, self.hidden_dim, self.projection_dim)

    def project(self, views: Tensor) -> tuple[Tensor, Tensor]:
        """Projections (2B, D) of the views under E_d and under E_b."""
        return self.head(self.encoder(views)), self.head_b(self.encoder_b(views))

    def losses(self, z_d: Tensor, z_b: Tensor) -> tuple[Tensor, Tensor]:
        """WCL's two terms (loss_d, loss_b) of the views' projections (2B, D) under E_d and E_b: E_d's contrastive
        loss with the negatives weighted by `weights` (detached) and debiased by tau_plus / beta, and E_b's
        `triplet` loss. The training loss (`views_loss`) is their sum, with one backward pass."""
        # the global batch's negatives under several processes (distributed.py)
        zd1, zd2, zb1, zb2 = (distributed.gather(z) for z in (*z_d.chunk(2), *z_b.chunk(2)))
        w = self.weights(zd1, zd2, zb1, zb2)
        debiased = debiased_contrastive_loss(zd1, zd2, self.temperature, self.tau_plus, self.beta, weights=w)
        return debiased, self.triplet(zb1, zb2)

    def views_loss(self, views: Tensor) -> Tensor:
        loss_d, loss_b = self.losses(*self.project(views))
        return loss_b + loss_d

    def parameter_groups(self) -> list[ParameterGroup]:
        """E_d with the trainer's learning rate, then E_b with lr_b: two optimizers."""
        parameters_b = [*self.encoder_b.parameters(), *self.head_b.parameters()]
        parameters_d = [*self.encoder.parameters(), *self.head.parameters()]
        return [ParameterGroup(parameters_d), ParameterGroup(parameters_b, lr=self.lr_b)]

    def probed_encoders(self) -> dict[str, nn.Module]:
        return {DEBIASED_ROW: self.encoder, BIASED_ROW: self.encoder_b}

    def artefacts(self, dataset: Dataset, context: RunContext) -> dict[str, ArtefactWriter]:
        """negatives.png: the easy and hard negatives figure of `figure_anchors` test anchors (none if 0)."""
        if not self.figure_anchors:
            return {}
        return {"negatives.png": lambda path: save_negatives_figure(self, dataset, context, path)}
