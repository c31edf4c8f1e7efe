"""WCL's training step as the trainer runs it (`WCL.views_loss`, and the optimizers the trainer builds from
`WCL.parameter_groups`), against the formulas."""

from __future__ import annotations

import pytest
import torch

from benchsuite.losses.wcl import triplet_loss
from benchsuite.methods.wcl import WCL
from benchsuite.models.backbones import SmallCNN
from benchsuite.training.trainer import Stage, Trainer
from tests.test_losses_wcl import reference_triplet, reference_weighted_loss


class _TwoClasses:
    num_classes = 2


def _wcl(tau_plus: float = 0.1, beta: float = 0.0) -> WCL:
    torch.manual_seed(0)
    wcl = WCL(temperature=0.5, tau_plus=tau_plus, beta=beta, hidden_dim=16, projection_dim=8, lr_b=0.05)
    wcl.setup(lambda: SmallCNN(width=4), _TwoClasses())
    return wcl.double()


@pytest.mark.parametrize(("tau_plus", "beta"), [(0.1, 0.0), (0.1, 1.0)])
def test_views_loss_is_e_bs_triplet_plus_e_ds_weighted_loss(tau_plus: float, beta: float) -> None:
    wcl = _wcl(tau_plus, beta)
    views = torch.randn(2 * 6, 3, 8, 8, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    loss = wcl.views_loss(views)
    with torch.no_grad():  # the same forward pass (train-mode batch norm over the same 2B views)
        z_d, z_b = wcl.project(views)
    zd1, zd2, zb1, zb2 = (*z_d.chunk(2), *z_b.chunk(2))
    expected = reference_triplet(zb1, zb2) + reference_weighted_loss(zd1, zd2, zb1, zb2, 0.5, tau_plus, beta)
    assert loss.item() == pytest.approx(expected, rel=1e-9)


def test_e_b_gets_gradient_from_its_triplet_alone_and_e_d_none_from_it() -> None:
    wcl = _wcl()
    views = torch.randn(2 * 6, 3, 8, 8, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    wcl.views_loss(views).backward()
    e_b = ("encoder_b", "head_b")
    through_step = {name: p.grad.clone() for name, p in wcl.named_parameters() if name.startswith(e_b)}
    wcl.zero_grad()
    _, z_b = wcl.project(views)
    triplet_loss(*z_b.chunk(2)).backward()
    for name, p in wcl.named_parameters():
        if name.startswith(e_b):
            assert torch.allclose(through_step[name], p.grad, rtol=1e-10, atol=1e-14), name
        else:  # E_d's modules: the triplet term does not reach them
            assert p.grad is None or not p.grad.any(), name


def _learning_rates(wcl: WCL, optimizers) -> dict[str, float]:
    """'E_d' / 'E_b' -> the learning rate of the optimizer that holds exactly that encoder's and head's parameters
    (a KeyError if no optimizer holds exactly one of them)."""
    held = {frozenset(id(p) for group in o.param_groups for p in group["params"]): o.param_groups[0]["lr"]
            for o in optimizers}
    encoders = {"E_d": (wcl.encoder, wcl.head), "E_b": (wcl.encoder_b, wcl.head_b)}
    return {name: held[frozenset(id(p) for module in modules for p in module.parameters())]
            for name, modules in encoders.items()}


def test_two_optimizers_one_per_encoder_with_their_learning_rates() -> None:
    wcl = _wcl()
    declared = Stage("train", wcl, wcl.views_loss, None, parameter_groups=wcl.parameter_groups())
    optimizers = Trainer(lr=0.001, device="cpu", progress=False).optimizers(declared)
    assert len(optimizers) == 2 and _learning_rates(wcl, optimizers) == {"E_d": 0.001, "E_b": 0.05}


def test_the_training_stage_steps_those_two_optimizers():
    from benchsuite.datasets.splits import TensorSplit

    class _Data(_TwoClasses):  # not a Dataset: only what the stage reads
        def split(self, name: str) -> TensorSplit:
            labels = torch.zeros(4, dtype=torch.long)
            return TensorSplit(torch.zeros(4, 3, 8, 8, dtype=torch.uint8), labels, labels)

    wcl = _wcl()
    trainer = Trainer(lr=0.001, device="cpu", progress=False)
    stage = trainer.loop(next(wcl.stages(_Data(), trainer.context)))  # what train_loop steps
    assert len(stage.optimizers) == 2 and _learning_rates(wcl, stage.optimizers) == {"E_d": 0.001, "E_b": 0.05}
