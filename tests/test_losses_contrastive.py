"""Tests of benchsuite.losses.contrastive against an explicit loop over anchors and negatives."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import Tensor

from benchsuite.losses.contrastive import contrastive_similarities, info_nce, negative_mask, positive_index

COMBOS = list(itertools.product([2, 5, 16], [3, 8, 128], [0.1, 0.5, 1.0]))


def unit(v: Tensor) -> Tensor:
    return v / torch.sqrt((v * v).sum())


def reference_views(z1: Tensor, z2: Tensor) -> list[Tensor]:
    """The 2B unit views in the documented order: first views, then second views."""
    return [unit(v) for v in itertools.chain(z1.double(), z2.double())]


def reference_info_nce(z1: Tensor, z2: Tensor, t: float) -> float:
    """-log(pos / (pos + sum_j neg_j)) averaged over the 2B anchors, written out with loops in float64."""
    views, b = reference_views(z1, z2), len(z1)
    losses = []
    for a in range(2 * b):
        p = (a + b) % (2 * b)
        pos = math.exp(float(views[a] @ views[p]) / t)
        neg_sum = sum(math.exp(float(views[a] @ views[j]) / t) for j in range(2 * b) if j not in (a, p))
        losses.append(-math.log(pos / (pos + neg_sum)))
    return sum(losses) / len(losses)


def random_views(b: int, d: int, seed: int) -> tuple[Tensor, Tensor]:
    generator = torch.Generator().manual_seed(seed)
    z1, z2 = torch.randn(2, b, d, generator=generator, dtype=torch.float64)
    return z1, z2


@pytest.mark.parametrize(("b", "d", "t"), COMBOS)
def test_info_nce_matches_the_loop_reference(b: int, d: int, t: float) -> None:
    z1, z2 = random_views(b, d, seed=b * 1000 + d)
    expected = reference_info_nce(z1, z2, t)
    assert info_nce(z1, z2, t).item() == pytest.approx(expected, rel=1e-10, abs=1e-12)
    assert info_nce(z1.float(), z2.float(), t).item() == pytest.approx(expected, rel=1e-5, abs=1e-5)


def test_info_nce_by_hand() -> None:
    # views e0, e1 | e0, e1 with t = 0.5: each anchor's positive is itself (logit 1 / 0.5 = 2) and its two
    # negatives are orthogonal (logit 0), so every anchor's loss is -log(e^2 / (e^2 + 2)) = log(1 + 2 e^-2)
    z = torch.eye(2, 4)
    assert info_nce(z, z.clone(), 0.5).item() == pytest.approx(math.log(1 + 2 * math.exp(-2)), rel=1e-6)


@pytest.mark.parametrize("b", [2, 5])
def test_similarities_shapes_and_values_in_the_documented_order(b: int) -> None:
    z1, z2 = random_views(b, 6, seed=b)
    t = 0.3
    pos_logit, neg_logits = contrastive_similarities(z1, z2, t)
    assert pos_logit.shape == (2 * b,) and neg_logits.shape == (2 * b, 2 * b - 2)
    views = reference_views(z1, z2)
    for a in range(2 * b):
        p = (a + b) % (2 * b)
        assert pos_logit[a].item() == pytest.approx(float(views[a] @ views[p]) / t, rel=1e-12)
        expected = [float(views[a] @ views[j]) / t for j in range(2 * b) if j not in (a, p)]
        assert neg_logits[a].tolist() == pytest.approx(expected, rel=1e-12)


def test_negative_mask_selects_the_same_pairs_from_any_pairwise_matrix() -> None:
    b = 4
    z1, z2 = random_views(b, 5, seed=7)
    _, neg_logits = contrastive_similarities(z1, z2, 1.0)
    z = torch.nn.functional.normalize(torch.cat([z1, z2]), dim=1)
    # for unit vectors ||a - b||^2 = 2 - 2 a.b: the masked distances line up with the negative logits
    squared_distances = torch.cdist(z, z)[negative_mask(b)].view(2 * b, -1) ** 2
    assert torch.allclose(squared_distances, 2 - 2 * neg_logits, atol=1e-10)
    assert negative_mask(b).sum(dim=1).tolist() == [2 * b - 2] * (2 * b)
    assert positive_index(b).tolist() == [4, 5, 6, 7, 0, 1, 2, 3]


def test_unnormalised_inputs_give_the_normalised_loss() -> None:
    z1, z2 = random_views(6, 8, seed=1)
    scales = torch.linspace(0.1, 30.0, 6, dtype=torch.float64).unsqueeze(1)
    unit1, unit2 = torch.nn.functional.normalize(z1, dim=1), torch.nn.functional.normalize(z2, dim=1)
    assert info_nce(z1 * scales, z2 * scales.flip(0), 0.5).item() == pytest.approx(
        info_nce(unit1, unit2, 0.5).item(), rel=1e-12
    )


def test_swapping_the_views_gives_the_same_loss() -> None:
    z1, z2 = random_views(5, 8, seed=2)
    assert info_nce(z2, z1, 0.2).item() == pytest.approx(info_nce(z1, z2, 0.2).item(), rel=1e-12)


def test_gradients_flow_and_gradient_descent_lowers_the_loss() -> None:
    z1, z2 = (v.float().requires_grad_() for v in random_views(8, 16, seed=3))
    optimizer = torch.optim.SGD([z1, z2], lr=1.0)
    losses = []
    for _ in range(10):
        optimizer.zero_grad()
        loss = info_nce(z1, z2, 0.5)
        loss.backward()
        assert torch.isfinite(z1.grad).all() and torch.isfinite(z2.grad).all()
        assert z1.grad.abs().sum() > 0 and z2.grad.abs().sum() > 0
        losses.append(loss.item())
        optimizer.step()
    assert losses[-1] < losses[0] - 0.1
    assert all(later < earlier for earlier, later in itertools.pairwise(losses))


def test_half_precision_and_autocast_keep_full_precision_logits() -> None:
    z1, z2 = (v.float() for v in random_views(16, 128, seed=4))
    full = info_nce(z1, z2, 0.1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        autocast = info_nce(z1, z2, 0.1)
    assert autocast.dtype == torch.float32
    assert autocast.item() == pytest.approx(full.item(), rel=1e-6)

    halves = info_nce(z1.bfloat16(), z2.bfloat16(), 0.1)
    assert halves.dtype == torch.float32
    assert halves.item() == pytest.approx(reference_info_nce(z1.bfloat16(), z2.bfloat16(), 0.1), rel=1e-5)


def test_invalid_inputs_are_rejected() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        info_nce(torch.randn(1, 4), torch.randn(1, 4))
    with pytest.raises(ValueError, match=r"\(B, D\)"):
        info_nce(torch.randn(3, 4), torch.randn(3, 5))
