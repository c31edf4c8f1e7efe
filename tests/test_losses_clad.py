"""Tests of CLAD's per-anchor InfoNCE against a float64 loop over anchors and their valid negatives."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor

from benchsuite.losses.clad import clad_info_nce


def cosine(u: Tensor, v: Tensor) -> float:
    return float(u @ v) / math.sqrt(float(u @ u) * float(v @ v))


def reference(anchors: Tensor, positives: Tensor, negatives: Tensor, valid: Tensor, t: float) -> list[float]:
    """-log(e^{s+/t} / (e^{s+/t} + sum over valid negatives of e^{s-/t})) per anchor, in float64 scalars."""
    losses = []
    for b in range(len(anchors)):
        a = anchors[b].double()
        pos = math.exp(cosine(a, positives[b].double()) / t)
        neg = sum(math.exp(cosine(a, negatives[b, n].double()) / t) for n in range(negatives.shape[1]) if valid[b, n])
        losses.append(-math.log(pos / (pos + neg)))
    return losses


def random_inputs(b: int, n: int, d: int, seed: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    generator = torch.Generator().manual_seed(seed)
    anchors = torch.randn(b, d, generator=generator, dtype=torch.float64)
    positives = torch.randn(b, d, generator=generator, dtype=torch.float64)
    negatives = torch.randn(b, n, d, generator=generator, dtype=torch.float64)
    valid = torch.rand(b, n, generator=generator) < 0.6
    valid[0] = False  # an anchor with no valid negative: -log(1) = 0
    if b > 1:
        valid[1] = True
    return anchors, positives, negatives, valid


@pytest.mark.parametrize(("b", "n", "d", "t"), [(3, 1, 4, 0.2), (6, 5, 8, 0.5), (16, 32, 64, 0.2), (5, 7, 3, 1.0)])
def test_matches_the_float64_loop(b: int, n: int, d: int, t: float) -> None:
    anchors, positives, negatives, valid = random_inputs(b, n, d, seed=b * 100 + n)
    expected = torch.tensor(reference(anchors, positives, negatives, valid, t), dtype=torch.float64)
    got = clad_info_nce(anchors, positives, negatives, valid, t)
    assert got.dtype == torch.float64
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)
    assert got[0].item() == 0.0
    got32 = clad_info_nce(anchors.float(), positives.float(), negatives.float(), valid, t)
    torch.testing.assert_close(got32.double(), expected, rtol=1e-4, atol=1e-5)


def test_by_hand() -> None:
    # anchor e0, positive e0 (cosine 1), negatives e1 (cosine 0, valid) and e0 (cosine 1, invalid), t = 0.5:
    # -log(e^2 / (e^2 + e^0)) = log(1 + e^-2); the invalid negative must not count
    e = torch.eye(2)
    negatives = torch.stack([e[1], e[0]]).unsqueeze(0)
    loss = clad_info_nce(e[:1], e[:1], negatives, torch.tensor([[True, False]]), 0.5)
    assert loss.item() == pytest.approx(math.log(1 + math.exp(-2)), rel=1e-6)


def test_scale_invariant_and_zero_gradient_without_negatives() -> None:
    anchors, positives, negatives, valid = random_inputs(4, 3, 5, seed=1)
    base = clad_info_nce(anchors, positives, negatives, valid)
    scaled = clad_info_nce(3 * anchors, 0.5 * positives, 2 * negatives, valid)
    torch.testing.assert_close(base, scaled)
    anchors.requires_grad_(True)
    clad_info_nce(anchors, positives, negatives, valid)[0].backward()
    assert torch.isfinite(anchors.grad).all() and anchors.grad.abs().sum() == 0


def test_decreases_under_gradient_steps() -> None:
    anchors, positives, negatives, valid = random_inputs(8, 6, 16, seed=2)
    anchors = anchors.float().requires_grad_(True)
    optimizer = torch.optim.SGD([anchors], lr=0.5)
    first = None
    for _ in range(20):
        loss = clad_info_nce(anchors, positives.float(), negatives.float(), valid).mean()
        first = loss.item() if first is None else first
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < first


def test_rejects_mismatched_shapes() -> None:
    anchors, positives, negatives, valid = random_inputs(4, 3, 5, seed=3)
    for a, p in ((anchors, positives[:3]), (anchors, positives[:, :4]), (anchors[0], positives[0])):
        with pytest.raises(ValueError, match="anchors and positives must both be"):  # either check alone
            clad_info_nce(a, p, negatives, valid)
    with pytest.raises(ValueError, match="negatives"):
        clad_info_nce(anchors, positives, negatives[:, :, :4], valid)
    with pytest.raises(ValueError, match="valid"):
        clad_info_nce(anchors, positives, negatives, valid.float())
