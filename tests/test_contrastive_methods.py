"""SimCLR, DCL and HCL as methods: each passes its own hyperparameters to the right loss, and its training step
computes that loss on the projections of the two views. Checked against the float64 loop references of
tests/test_losses_contrastive.py at settings that are not the defaults, so that a swapped or dropped
hyperparameter changes the number."""

from __future__ import annotations

import pytest
import torch

from benchsuite.methods.dcl import DCL
from benchsuite.methods.hcl import HCL
from benchsuite.methods.simclr import SimCLR
from benchsuite.models.backbones import SmallCNN
from tests.test_losses_contrastive import random_views, reference_debiased, reference_info_nce

T, TAU_PLUS, BETA = 0.3, 0.2, 2.0
METHODS = {
    "SimCLR": (lambda: SimCLR(temperature=T), lambda z1, z2: reference_info_nce(z1, z2, T)),
    "DCL": (lambda: DCL(temperature=T, tau_plus=TAU_PLUS), lambda z1, z2: reference_debiased(z1, z2, T, TAU_PLUS, 0.0)),
    "HCL": (lambda: HCL(temperature=T, tau_plus=TAU_PLUS, beta=BETA),
            lambda z1, z2: reference_debiased(z1, z2, T, TAU_PLUS, BETA)),
}


class _Dataset:
    num_classes = 2


@pytest.mark.parametrize("name", METHODS)
def test_loss_is_the_papers_formula_with_the_methods_hyperparameters(name: str) -> None:
    build, reference = METHODS[name]
    z1, z2 = random_views(6, 5, seed=3)
    assert build().loss(z1, z2).item() == pytest.approx(reference(z1, z2), rel=1e-10)


@pytest.mark.parametrize("name", METHODS)
def test_training_step_is_the_loss_of_the_two_views_projections(name: str) -> None:
    build, reference = METHODS[name]
    method = build()
    method.setup(lambda: SmallCNN(width=4), _Dataset())
    method.double().eval()  # batch norm with running statistics: a view's projection does not depend on its batch
    views = torch.randn(8, 3, 16, 16, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    with torch.no_grad():
        z = method.head(method.encoder(views))
        loss = method.views_loss(views)
    assert loss.item() == pytest.approx(reference(z[:4], z[4:]), rel=1e-9)
    assert method.hidden_dim == 512 and method.projection_dim == 128
    assert method.head(method.encoder(views)).shape == (8, 128)
