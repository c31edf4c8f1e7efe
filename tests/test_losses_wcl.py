"""Tests of benchsuite.losses.wcl (Jang and Wang, CVPR 2023) against explicit loops over anchors and negatives, and
of the loss that WCL trains with (`WCL.views_loss` and its two terms, `WCL.losses`) on given projections."""

from __future__ import annotations

import ast
import inspect
import itertools
import math

import pytest
import torch
from torch import Tensor

from benchsuite.losses import wcl
from benchsuite.losses.contrastive import debiased_contrastive_loss, info_nce
from benchsuite.losses.wcl import (
    debiased_triplet_loss,
    relative_difficulty_weights,
    similarity_weights,
    triplet_loss,
)
from benchsuite.methods.wcl import WCL

SHAPES = [(2, 3), (5, 8), (16, 64)]


def unit(v: Tensor) -> Tensor:
    return v / torch.sqrt((v * v).sum())


def reference_views(z1: Tensor, z2: Tensor) -> list[Tensor]:
    return [unit(v) for v in itertools.chain(z1.double(), z2.double())]


def squared(u: Tensor, v: Tensor) -> float:
    return float(((u - v) ** 2).sum())


def pairs(b: int) -> list[tuple[int, int, list[int]]]:
    """(anchor, positive, negatives in increasing view order) for the 2B views [z1; z2]."""
    result = []
    for a in range(2 * b):
        p = (a + b) % (2 * b)
        result.append((a, p, [j for j in range(2 * b) if j not in (a, p)]))
    return result


def random_views(b: int, d: int, seed: int) -> tuple[Tensor, Tensor]:
    generator = torch.Generator().manual_seed(seed)
    z1, z2 = torch.randn(2, b, d, generator=generator, dtype=torch.float64)
    return z1, z2


def reference_triplet(z1: Tensor, z2: Tensor) -> float:
    views, terms = reference_views(z1, z2), []
    for a, p, negatives in pairs(len(z1)):
        terms += [squared(views[a], views[p]) - squared(views[a], views[j]) for j in negatives]
    return sum(terms) / len(terms)


def reference_debiased_triplet(z1: Tensor, z2: Tensor, tau_plus: float) -> float:
    views, b, terms = reference_views(z1, z2), len(z1), []
    n = 2 * b - 2
    for a, p, negatives in pairs(b):
        pos = squared(views[a], views[p])
        neg = (-tau_plus * n * pos + sum(squared(views[a], views[j]) for j in negatives)) / (1 - tau_plus)
        terms.append(pos - neg)
    return sum(terms) / len(terms)


def reference_relative_difficulty(zd1: Tensor, zd2: Tensor, zb1: Tensor, zb2: Tensor) -> list[list[float]]:
    b = len(zd1)
    distances = {}
    for name, (z1, z2) in {"d": (zd1, zd2), "b": (zb1, zb2)}.items():
        views = reference_views(z1, z2)
        rows = [[math.sqrt(squared(views[a], views[j])) for j in negatives] for a, _, negatives in pairs(b)]
        largest = max(max(row) for row in rows)
        distances[name] = [[value / largest for value in row] for row in rows]
    return [
        [1 + dd / (dd + db) for dd, db in zip(row_d, row_b, strict=True)]
        for row_d, row_b in zip(distances["d"], distances["b"], strict=True)
    ]


def reference_similarity(zd1: Tensor, zd2: Tensor, zb1: Tensor, zb2: Tensor, t: float) -> list[list[float]]:
    b = len(zd1)
    similarities = {}
    for name, (z1, z2) in {"d": (zd1, zd2), "b": (zb1, zb2)}.items():
        views = reference_views(z1, z2)
        rows = []
        for a, _, negatives in pairs(b):
            row = [math.exp(float(views[a] @ views[j]) / t) for j in negatives]
            norm = math.sqrt(sum(value * value for value in row))
            rows.append([value / norm for value in row])
        similarities[name] = rows
    return [
        [1 + sd / (sb + sd + 1e-6) for sd, sb in zip(row_d, row_b, strict=True)]
        for row_d, row_b in zip(similarities["d"], similarities["b"], strict=True)
    ]


# --- E_b's triplet losses ---


@pytest.mark.parametrize(("b", "d"), SHAPES)
def test_triplet_matches_the_loop_reference(b: int, d: int) -> None:
    z1, z2 = random_views(b, d, seed=b * 10 + d)
    expected = reference_triplet(z1, z2)
    assert triplet_loss(z1, z2).item() == pytest.approx(expected, rel=1e-10, abs=1e-12)
    assert triplet_loss(z1.float(), z2.float()).item() == pytest.approx(expected, rel=1e-5, abs=1e-5)


@pytest.mark.parametrize(("b", "d"), SHAPES)
@pytest.mark.parametrize("tau_plus", [0.0, 0.05, 0.1, 0.3])
def test_debiased_triplet_matches_the_loop_reference(b: int, d: int, tau_plus: float) -> None:
    z1, z2 = random_views(b, d, seed=b * 10 + d + 1)
    expected = reference_debiased_triplet(z1, z2, tau_plus)
    assert debiased_triplet_loss(z1, z2, tau_plus).item() == pytest.approx(expected, rel=1e-10, abs=1e-12)
    assert debiased_triplet_loss(z1.float(), z2.float(), tau_plus).item() == pytest.approx(expected, rel=1e-5)


def test_triplet_by_hand() -> None:
    # views e0, e1 | e0, e1: every positive coincides with its anchor (0) and every anchor's two negatives are
    # the orthogonal view, at squared distance 2: loss = 0 - 2; the debiased sum is 0 - (2 + 2) / 1 = -4
    z = torch.eye(2, 3)
    assert triplet_loss(z, z.clone()).item() == pytest.approx(-2.0, abs=1e-12)
    assert debiased_triplet_loss(z, z.clone(), 0.0).item() == pytest.approx(-4.0, abs=1e-12)


def test_triplet_gradient_pushes_negatives_away_and_pulls_positives_together() -> None:
    b = 6
    z1, z2 = (v.requires_grad_() for v in random_views(b, 8, seed=51))
    triplet_loss(z1, z2).backward()
    with torch.no_grad():
        step1, step2 = z1 - 1e-3 * z1.grad, z2 - 1e-3 * z2.grad
    before, after = reference_views(z1.detach(), z2.detach()), reference_views(step1, step2)
    negative_before = [squared(before[a], before[j]) for a, _, negatives in pairs(b) for j in negatives]
    negative_after = [squared(after[a], after[j]) for a, _, negatives in pairs(b) for j in negatives]
    positive_before = [squared(before[a], before[p]) for a, p, _ in pairs(b)]
    positive_after = [squared(after[a], after[p]) for a, p, _ in pairs(b)]
    assert sum(negative_after) > sum(negative_before)
    assert sum(positive_after) < sum(positive_before)

    # one negative alone: the gradient of -||z_a - z_j||^2 (unit views, anchor fixed) moves z_j away from z_a
    anchor = torch.nn.functional.normalize(torch.randn(4, dtype=torch.float64), dim=0)
    negative = torch.randn(4, dtype=torch.float64, requires_grad=True)
    (-(anchor - torch.nn.functional.normalize(negative, dim=0)).square().sum()).backward()
    moved = torch.nn.functional.normalize(negative.detach() - 1e-2 * negative.grad, dim=0)
    assert squared(anchor, moved) > squared(anchor, unit(negative.detach()))


# --- relative difficulty weights (poster, default) and similarity weights (authors' code, option) ---


@pytest.mark.parametrize(("b", "d"), SHAPES)
def test_relative_difficulty_weights_match_the_loop_reference(b: int, d: int) -> None:
    zd1, zd2, zb1, zb2 = torch.randn(4, b, d, generator=torch.Generator().manual_seed(b + d), dtype=torch.float64)
    expected = reference_relative_difficulty(zd1, zd2, zb1, zb2)
    w = relative_difficulty_weights(zd1, zd2, zb1, zb2)
    assert w.shape == (2 * b, 2 * b - 2)
    assert torch.allclose(w, torch.tensor(expected, dtype=torch.float64), rtol=1e-10, atol=0)
    loose = relative_difficulty_weights(zd1.float(), zd2.float(), zb1.float(), zb2.float())
    assert loose.dtype == torch.float32
    assert torch.allclose(loose.double(), torch.tensor(expected, dtype=torch.float64), rtol=1e-5, atol=1e-5)
    assert (w >= 1).all() and (w <= 2).all()


@pytest.mark.parametrize(("b", "d"), SHAPES)
@pytest.mark.parametrize("t", [0.1, 0.5, 1.0])
def test_similarity_weights_match_the_loop_reference(b: int, d: int, t: float) -> None:
    zd1, zd2, zb1, zb2 = torch.randn(4, b, d, generator=torch.Generator().manual_seed(b * d), dtype=torch.float64)
    expected = torch.tensor(reference_similarity(zd1, zd2, zb1, zb2, t), dtype=torch.float64)
    w = similarity_weights(zd1, zd2, zb1, zb2, t)
    assert w.shape == (2 * b, 2 * b - 2)
    assert torch.allclose(w, expected, rtol=1e-10, atol=0)
    loose = similarity_weights(zd1.float(), zd2.float(), zb1.float(), zb2.float(), t)
    assert torch.allclose(loose.double(), expected, rtol=1e-5, atol=1e-5)
    assert (w >= 1).all() and (w < 2).all()


def constructed_encoders() -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """B = 3. Anchor view 0 (image 0, first view) has the negatives views 1, 2, 4, 5, in columns 0, 1, 2, 3.

    View 1 coincides with the anchor under E_b (a bias-aligned hard negative: D~_b = 0) and is opposite to it
    under E_d (D~_d = 1). View 2 is opposite to the anchor under E_b (distance 2, the batch's maximum) and
    close to it under E_d.
    """
    generator = torch.Generator().manual_seed(61)
    zd1, zd2, zb1, zb2 = torch.randn(4, 3, 5, generator=generator, dtype=torch.float64)
    zd1[1] = -zd1[0]
    zd1[2] = zd1[0] + 0.01 * torch.randn(5, generator=generator, dtype=torch.float64)
    zb1[1] = zb1[0]
    zb1[2] = -zb1[0]
    return zd1, zd2, zb1, zb2


def test_relative_difficulty_weights_emphasise_negatives_that_e_b_puts_close() -> None:
    encoders = constructed_encoders()
    for dtype in (torch.float64, torch.float32):
        w = relative_difficulty_weights(*(z.to(dtype) for z in encoders))
        assert w[0, 0].item() == 2.0  # on the anchor under E_b: w = 2 exactly
        assert 1.0 <= w[0, 1].item() < 1.01  # at E_b's largest distance and close under E_d: w near 1
        assert (w >= 1).all() and (w <= 2).all()
        # the same pairs seen from the other side: view 1 as anchor, view 0 is its negative in column 0
        assert w[1, 0].item() == 2.0


def test_similarity_weights_give_the_opposite_emphasis() -> None:
    """The authors' code's similarity weights, on the same construction: w -> 1 (not 2) for the negative that
    E_b puts on the anchor, and w -> 2 for the one E_b puts far away and E_d close: the poster's emphasis
    reversed. This is why they are an option and relative_difficulty_weights the default."""
    encoders = constructed_encoders()
    w = similarity_weights(*encoders, temperature=0.5)
    assert w[0, 0].item() < 1.05
    assert w[0, 1].item() > 1.5
    poster = relative_difficulty_weights(*encoders)
    assert (w[0, 0] - w[0, 1]) * (poster[0, 0] - poster[0, 1]) < 0


def test_coinciding_pairs_under_both_encoders_are_guarded() -> None:
    """0 / 0 (a negative on the anchor under both encoders) gives w = 1, not NaN; a collapsed batch gives w = 1."""
    zd1, zd2, zb1, zb2 = constructed_encoders()
    zd1[1] = zd1[0]
    w = relative_difficulty_weights(zd1, zd2, zb1, zb2)
    assert w[0, 0].item() == 1.0 and torch.isfinite(w).all()
    collapsed = torch.ones(3, 4)
    assert (relative_difficulty_weights(collapsed, collapsed, collapsed, collapsed) == 1).all()


@pytest.mark.parametrize("weights_fn", [relative_difficulty_weights, similarity_weights])
def test_weights_are_detached_and_no_gradient_reaches_e_b(weights_fn) -> None:
    zd1, zd2, zb1, zb2 = (z.float().requires_grad_() for z in torch.randn(4, 6, 8, dtype=torch.float64))
    w = weights_fn(zd1, zd2, zb1, zb2)
    assert not w.requires_grad
    debiased_contrastive_loss(zd1, zd2, 0.5, 0.1, 0.0, weights=w).backward()
    for z in (zb1, zb2):
        assert z.grad is None or (z.grad == 0).all()
    for z in (zd1, zd2):
        assert z.grad is not None and z.grad.abs().sum() > 0


class FixedProjections(WCL):
    """WCL (the method, with its own loss code) whose projections of any views are the given ones: E_d's
    [zd1; zd2] and E_b's [zb1; zb2], read when `project` is called (so that an optimizer may update them)."""

    def __init__(self, zd1: Tensor, zd2: Tensor, zb1: Tensor, zb2: Tensor, **settings) -> None:
        super().__init__(**settings)
        self.given = (zd1, zd2, zb1, zb2)

    def project(self, views: Tensor | None) -> tuple[Tensor, Tensor]:
        zd1, zd2, zb1, zb2 = self.given
        return torch.cat([zd1, zd2]), torch.cat([zb1, zb2])


def wcl_terms(zd1: Tensor, zd2: Tensor, zb1: Tensor, zb2: Tensor, **settings) -> tuple[Tensor, Tensor]:
    """(loss_d, loss_b) as WCL computes them in training from these projections, with WCL(**settings); the
    training loss, `views_loss`, is checked to be their sum."""
    method = FixedProjections(zd1, zd2, zb1, zb2, **settings)
    loss_d, loss_b = method.losses(*method.project(None))
    assert torch.equal(method.views_loss(None), loss_b + loss_d)
    return loss_d, loss_b


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"tau_plus": 0.0},
        {"temperature": 0.3, "tau_plus": 0.1, "beta": 1.0},
        {"weights": similarity_weights, "triplet": debiased_triplet_loss},
    ],
    ids=["defaults", "tau_plus=0", "hcl", "code-options"],
)
def test_wcl_views_loss_is_the_triplet_plus_the_weighted_e_d_loss_by_the_loop_references(settings) -> None:
    """The loss WCL trains with, from given projections, against the float64 loop references: E_b's triplet
    (the poster's, or the code's debiased one) plus E_d's loss with the poster's (or the code's) weights. Swapped
    encoders in the weights, a missing or reweighted term, or another temperature would all fail here."""
    zd1, zd2, zb1, zb2 = torch.randn(4, 6, 8, generator=torch.Generator().manual_seed(79), dtype=torch.float64)
    loss = FixedProjections(zd1, zd2, zb1, zb2, **settings).views_loss(None)
    t, tau_plus, beta = settings.get("temperature", 0.5), settings.get("tau_plus", 0.1), settings.get("beta", 0.0)
    code = settings.get("weights") is similarity_weights
    weights = reference_similarity(zd1, zd2, zb1, zb2, t) if code else None
    triplet = reference_debiased_triplet(zb1, zb2, 0.1) if code else reference_triplet(zb1, zb2)
    expected = triplet + reference_weighted_loss(zd1, zd2, zb1, zb2, t, tau_plus, beta, weights=weights)
    assert loss.item() == pytest.approx(expected, rel=1e-10)


def test_e_b_learns_from_the_triplet_loss_alone() -> None:
    zd1, zd2, zb1, zb2 = (z.requires_grad_() for z in torch.randn(4, 5, 8, dtype=torch.float64))
    FixedProjections(zd1, zd2, zb1, zb2).views_loss(None).backward()
    total_grad = (zb1.grad.clone(), zb2.grad.clone())
    zb1.grad = zb2.grad = None
    triplet_loss(zb1, zb2).backward()
    assert torch.equal(total_grad[0], zb1.grad) and torch.equal(total_grad[1], zb2.grad)


def test_wcl_defaults_are_the_authors_runs_against_the_loop_references() -> None:
    """WCL's loss with the method's defaults is t = 0.5, tau_plus = 0.1, beta = 0 with the poster's weights and the
    poster's triplet, by the loop references (not by the functions WCL calls)."""
    zd1, zd2, zb1, zb2 = torch.randn(4, 5, 8, generator=torch.Generator().manual_seed(73), dtype=torch.float64)
    loss_d, loss_b = wcl_terms(zd1, zd2, zb1, zb2)
    assert loss_d.item() == pytest.approx(reference_weighted_loss(zd1, zd2, zb1, zb2, 0.5, 0.1, 0.0), rel=1e-10)
    assert loss_b.item() == pytest.approx(reference_triplet(zb1, zb2), rel=1e-10, abs=1e-12)
    # the options (the authors' code's weights at their default t = 0.5, its debiased triplet) reach the terms
    options_d, options_b = wcl_terms(zd1, zd2, zb1, zb2, weights=similarity_weights, triplet=debiased_triplet_loss)
    code_weights = reference_similarity(zd1, zd2, zb1, zb2, 0.5)
    assert options_d.item() == pytest.approx(
        reference_weighted_loss(zd1, zd2, zb1, zb2, 0.5, 0.1, 0.0, weights=code_weights), rel=1e-10
    )
    assert options_b.item() == pytest.approx(reference_debiased_triplet(zb1, zb2, 0.1), rel=1e-10)


def reference_weighted_loss(zd1, zd2, zb1, zb2, t: float, tau_plus: float, beta: float,
                            weights: list[list[float]] | None = None) -> float:
    """E_d's loss with the poster's weights (or the given (2B, N) `weights`), by loops: -log(pos / (pos + Ng)), Ng
    from sum_j w_j imp_j neg_j / mean(imp), clamped below at N exp(-1/t)."""
    b = len(zd1)
    w = reference_relative_difficulty(zd1, zd2, zb1, zb2) if weights is None else weights
    views, n, losses = reference_views(zd1, zd2), 2 * b - 2, []
    for a, p, negatives in pairs(b):
        pos = math.exp(float(views[a] @ views[p]) / t)
        negs = [math.exp(float(views[a] @ views[j]) / t) for j in negatives]
        imps = [neg**beta for neg in negs]
        reweighted = sum(wj * imp * neg for wj, imp, neg in zip(w[a], imps, negs, strict=True)) / (sum(imps) / n)
        ng = max((-tau_plus * n * pos + reweighted) / (1 - tau_plus), n * math.exp(-1 / t))
        losses.append(-math.log(pos / (pos + ng)))
    return sum(losses) / len(losses)


@pytest.mark.parametrize(("tau_plus", "beta"), [(0.0, 0.0), (0.1, 0.0), (0.1, 1.0)])
def test_weighted_e_d_loss_matches_a_loop_reference(tau_plus: float, beta: float) -> None:
    b, t = 5, 0.5
    zd1, zd2, zb1, zb2 = torch.randn(4, b, 8, generator=torch.Generator().manual_seed(71), dtype=torch.float64)
    loss_d, _ = wcl_terms(zd1, zd2, zb1, zb2, temperature=t, tau_plus=tau_plus, beta=beta)
    assert loss_d.item() == pytest.approx(reference_weighted_loss(zd1, zd2, zb1, zb2, t, tau_plus, beta), rel=1e-10)
    if tau_plus == 0 and beta == 0:  # the weights raise every negative's share: above plain InfoNCE
        assert loss_d.item() > info_nce(zd1, zd2, t).item()


@pytest.mark.parametrize(
    "loss_fn",
    [
        triplet_loss,
        debiased_triplet_loss,
        lambda a, c: debiased_triplet_loss(a, c, 0.3),
    ],
)
def test_triplet_losses_decrease_under_gradient_descent(loss_fn) -> None:
    z1, z2 = (v.float().requires_grad_() for v in random_views(8, 16, seed=81))
    optimizer = torch.optim.SGD([z1, z2], lr=0.5)
    losses = []
    for _ in range(8):
        optimizer.zero_grad()
        loss = loss_fn(z1, z2)
        loss.backward()
        assert torch.isfinite(z1.grad).all() and torch.isfinite(z2.grad).all()
        losses.append(loss.item())
        optimizer.step()
    assert losses[-1] < losses[0] - 0.01


@pytest.mark.parametrize("weights_fn", [relative_difficulty_weights, similarity_weights])
def test_wcl_decreases_under_gradient_descent(weights_fn) -> None:
    zd1, zd2, zb1, zb2 = (z.float().requires_grad_() for z in torch.randn(4, 8, 16, dtype=torch.float64))
    optimizer = torch.optim.SGD([zd1, zd2, zb1, zb2], lr=1.0)
    method = FixedProjections(zd1, zd2, zb1, zb2, weights=weights_fn)
    losses_d, losses_b = [], []
    for _ in range(8):
        optimizer.zero_grad()
        loss_d, loss_b = method.losses(*method.project(None))
        (loss_d + loss_b).backward()
        losses_d.append(loss_d.item())
        losses_b.append(loss_b.item())
        optimizer.step()
    assert losses_d[-1] < losses_d[0] - 0.05
    assert losses_b[-1] < losses_b[0] - 0.01


def test_invalid_inputs_are_rejected() -> None:
    z = torch.randn(4, 8)
    with pytest.raises(ValueError, match="same batch"):
        relative_difficulty_weights(z, z, z[:3], z[:3])
    with pytest.raises(ValueError, match="same batch"):
        similarity_weights(z, z, z[:3], z[:3])
    with pytest.raises(ValueError, match="tau_plus"):
        debiased_triplet_loss(z, z, 1.0)
    with pytest.raises(ValueError, match="at least 2"):
        triplet_loss(z[:1], z[:1])


def test_batched_and_different_encoder_widths() -> None:
    """No Python loop over the batch in the module; B = 256 with E_d 128-d and E_b 64-d runs."""
    tree = ast.parse(inspect.getsource(wcl))
    assert not any(isinstance(node, ast.For | ast.While | ast.comprehension) for node in ast.walk(tree))
    zd1, zd2 = torch.randn(2, 256, 128)
    zb1, zb2 = torch.randn(2, 256, 64)
    for weights_fn in (relative_difficulty_weights, similarity_weights):
        w = weights_fn(zd1, zd2, zb1, zb2)
        assert w.shape == (512, 510) and (w >= 1).all() and (w <= 2).all()
    assert torch.isfinite(triplet_loss(zb1, zb2)) and torch.isfinite(debiased_triplet_loss(zb1, zb2))
