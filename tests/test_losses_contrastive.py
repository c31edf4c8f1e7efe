"""Tests of benchsuite.losses.contrastive against an explicit loop over anchors and negatives."""

from __future__ import annotations

import ast
import inspect
import itertools
import math

import pytest
import torch
from torch import Tensor

from benchsuite.losses import contrastive
from benchsuite.losses.contrastive import (
    clamp_floor,
    contrastive_similarities,
    dcl_loss,
    debiased_contrastive_loss,
    hcl_loss,
    info_nce,
    negative_mask,
    positive_index,
)

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


# --- the debiased estimator: DCL (Chuang et al. 2020), HCL (Robinson et al. 2021), WCL's weighted E_d loss ---

SHAPES = [(2, 3), (5, 8), (16, 64)]
TEMPERATURES = [0.1, 0.5, 1.0]
TAUS = [0.0, 0.05, 0.1, 0.3]
BETAS = [0.0, 0.5, 1.0, 2.0]


def reference_debiased_terms(
    z1: Tensor, z2: Tensor, t: float, tau_plus: float, beta: float, weights: Tensor | None = None
) -> list[tuple[float, float, float]]:
    """(pos, raw Ng, floor) per anchor, from the formulas, with loops over anchors and negatives in float64."""
    views, b = reference_views(z1, z2), len(z1)
    n = 2 * b - 2
    floor = n * math.exp(-1 / t)
    terms = []
    for a in range(2 * b):
        p = (a + b) % (2 * b)
        pos = math.exp(float(views[a] @ views[p]) / t)
        negs = [math.exp(float(views[a] @ views[j]) / t) for j in range(2 * b) if j not in (a, p)]
        ws = [1.0] * n if weights is None else [float(w) for w in weights[a]]
        imps = [neg**beta for neg in negs]
        reweighted = sum(w * imp * neg for w, imp, neg in zip(ws, imps, negs, strict=True)) / (sum(imps) / n)
        raw = (-tau_plus * n * pos + reweighted) / (1 - tau_plus)
        terms.append((pos, raw, floor))
    return terms


def reference_debiased(
    z1: Tensor, z2: Tensor, t: float, tau_plus: float, beta: float, weights: Tensor | None = None
) -> float:
    losses = [
        -math.log(pos / (pos + max(raw, floor)))
        for pos, raw, floor in reference_debiased_terms(z1, z2, t, tau_plus, beta, weights)
    ]
    return sum(losses) / len(losses)


def random_weights(b: int, seed: int, low: float = 0.5, high: float = 2.0) -> Tensor:
    generator = torch.Generator().manual_seed(seed)
    return low + (high - low) * torch.rand(2 * b, 2 * b - 2, generator=generator, dtype=torch.float64)


@pytest.mark.parametrize(("b", "d"), SHAPES)
@pytest.mark.parametrize("t", TEMPERATURES)
@pytest.mark.parametrize("tau_plus", TAUS)
@pytest.mark.parametrize("beta", BETAS)
def test_debiased_loss_matches_the_loop_reference(b: int, d: int, t: float, tau_plus: float, beta: float) -> None:
    z1, z2 = random_views(b, d, seed=b * 100 + d)
    expected = reference_debiased(z1, z2, t, tau_plus, beta)
    assert debiased_contrastive_loss(z1, z2, t, tau_plus, beta).item() == pytest.approx(expected, rel=1e-10)
    loose = debiased_contrastive_loss(z1.float(), z2.float(), t, tau_plus, beta).item()
    assert loose == pytest.approx(expected, rel=1e-4, abs=1e-5)


@pytest.mark.parametrize(("b", "d"), SHAPES)
@pytest.mark.parametrize("t", TEMPERATURES)
@pytest.mark.parametrize(("tau_plus", "beta"), [(0.0, 0.0), (0.1, 0.0), (0.05, 1.0), (0.3, 2.0)])
def test_weighted_loss_matches_the_loop_reference(b: int, d: int, t: float, tau_plus: float, beta: float) -> None:
    z1, z2 = random_views(b, d, seed=b + d)
    weights = random_weights(b, seed=d)
    expected = reference_debiased(z1, z2, t, tau_plus, beta, weights)
    assert debiased_contrastive_loss(z1, z2, t, tau_plus, beta, weights).item() == pytest.approx(expected, rel=1e-10)
    loose = debiased_contrastive_loss(z1.float(), z2.float(), t, tau_plus, beta, weights.float()).item()
    assert loose == pytest.approx(expected, rel=1e-4, abs=1e-5)


@pytest.mark.parametrize(("b", "d"), SHAPES)
@pytest.mark.parametrize("t", TEMPERATURES)
def test_no_debiasing_is_info_nce(b: int, d: int, t: float) -> None:
    z1, z2 = random_views(b, d, seed=b * 7 + d)
    # the clamp is inactive: sum_j neg_j >= N exp(-1/t) for unit vectors
    assert all(raw > floor for _, raw, floor in reference_debiased_terms(z1, z2, t, 0.0, 0.0))
    expected = info_nce(z1, z2, t).item()
    assert debiased_contrastive_loss(z1, z2, t).item() == pytest.approx(expected, rel=1e-12)
    assert dcl_loss(z1, z2, t, tau_plus=0.0).item() == pytest.approx(expected, rel=1e-12)
    assert hcl_loss(z1, z2, t, tau_plus=0.0, beta=0.0).item() == pytest.approx(expected, rel=1e-12)
    assert debiased_contrastive_loss(z1.float(), z2.float(), t).item() == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize(("b", "d"), SHAPES)
@pytest.mark.parametrize("tau_plus", TAUS)
def test_beta_zero_is_dcl(b: int, d: int, tau_plus: float) -> None:
    z1, z2 = random_views(b, d, seed=b * 3 + d)
    expected = dcl_loss(z1, z2, 0.5, tau_plus).item()
    assert hcl_loss(z1, z2, 0.5, tau_plus, beta=0.0).item() == pytest.approx(expected, rel=1e-12)
    assert debiased_contrastive_loss(z1, z2, 0.5, tau_plus, 0.0).item() == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(reference_debiased(z1, z2, 0.5, tau_plus, 0.0), rel=1e-10)


@pytest.mark.parametrize(("b", "d"), SHAPES)
@pytest.mark.parametrize(("tau_plus", "beta"), [(0.0, 0.0), (0.1, 0.0), (0.1, 1.0), (0.3, 2.0)])
def test_unit_weights_change_nothing(b: int, d: int, tau_plus: float, beta: float) -> None:
    """Weights all 1 give the unweighted loss: InfoNCE, DCL, HCL."""
    z1, z2 = random_views(b, d, seed=b * 11 + d)
    ones = torch.ones(2 * b, 2 * b - 2, dtype=torch.float64)
    unweighted = debiased_contrastive_loss(z1, z2, 0.5, tau_plus, beta).item()
    assert debiased_contrastive_loss(z1, z2, 0.5, tau_plus, beta, ones).item() == pytest.approx(unweighted, rel=1e-12)
    named = {(0.0, 0.0): info_nce(z1, z2, 0.5), (0.1, 0.0): dcl_loss(z1, z2), (0.1, 1.0): hcl_loss(z1, z2)}
    if (tau_plus, beta) in named:
        assert named[tau_plus, beta].item() == pytest.approx(unweighted, rel=1e-12)


def test_named_wrappers_use_the_authors_defaults() -> None:
    z1, z2 = random_views(5, 8, seed=5)
    assert dcl_loss(z1, z2).item() == pytest.approx(reference_debiased(z1, z2, 0.5, 0.1, 0.0), rel=1e-10)
    assert hcl_loss(z1, z2).item() == pytest.approx(reference_debiased(z1, z2, 0.5, 0.1, 1.0), rel=1e-10)
    assert clamp_floor(8, 0.5) == pytest.approx(8 * math.exp(-2), rel=1e-15)


def clamped_views(b: int, d: int, seed: int) -> tuple[Tensor, Tensor]:
    """Near-identical views: pos = exp(~1/t), so a large tau_plus drives Ng's raw value below the floor."""
    z1, _ = random_views(b, d, seed)
    generator = torch.Generator().manual_seed(seed + 1)
    return z1, z1 + 1e-3 * torch.randn(b, d, generator=generator, dtype=torch.float64)


@pytest.mark.parametrize(("b", "d"), SHAPES)
@pytest.mark.parametrize("t", TEMPERATURES)
@pytest.mark.parametrize("beta", [0.0, 1.0])
def test_active_clamp_gives_the_floor(b: int, d: int, t: float, beta: float) -> None:
    z1, z2 = clamped_views(b, d, seed=b + d)
    tau_plus, n = 0.5, 2 * b - 2
    terms = reference_debiased_terms(z1, z2, t, tau_plus, beta)
    assert all(raw < floor for _, raw, floor in terms), "the construction must activate the clamp for every anchor"
    views = reference_views(z1, z2)
    pos_logits = [float(views[a] @ views[(a + b) % (2 * b)]) / t for a in range(2 * b)]
    floor = n * math.exp(-1 / t)
    assert clamp_floor(n, t) == pytest.approx(floor, rel=1e-15)
    expected = sum(-math.log(math.exp(s) / (math.exp(s) + floor)) for s in pos_logits) / (2 * b)
    loss = debiased_contrastive_loss(z1, z2, t, tau_plus, beta)
    assert loss.item() == pytest.approx(expected, rel=1e-12)
    z1f, z2f = z1.float().requires_grad_(), z2.float().requires_grad_()
    loose = debiased_contrastive_loss(z1f, z2f, t, tau_plus, beta)
    assert loose.item() == pytest.approx(expected, rel=1e-5)
    loose.backward()
    assert torch.isfinite(z1f.grad).all() and torch.isfinite(z2f.grad).all()


def test_partly_active_clamp_matches_the_reference() -> None:
    b, d, t = 6, 8, 0.5
    z1, z2 = random_views(b, d, seed=12)
    z2[:3] = z1[:3] + 1e-3  # three images have near-identical views, the others do not
    terms = reference_debiased_terms(z1, z2, t, 0.3, 0.0)
    clamped = [raw < floor for _, raw, floor in terms]
    assert any(clamped) and not all(clamped)
    assert dcl_loss(z1, z2, t, 0.3).item() == pytest.approx(reference_debiased(z1, z2, t, 0.3, 0.0), rel=1e-12)


@pytest.mark.parametrize(("tau_plus", "beta"), [(0.0, 0.0), (0.1, 0.0), (0.1, 1.0), (0.05, 2.0)])
def test_gradients_are_the_exact_derivatives(tau_plus: float, beta: float) -> None:
    """gradcheck: imp = neg ** beta is differentiated through (not detached), as in the HCL authors' code."""
    z1, z2 = (v.requires_grad_() for v in random_views(3, 4, seed=21))
    weights = random_weights(3, seed=22, low=1.0)
    assert torch.autograd.gradcheck(
        lambda a, c: debiased_contrastive_loss(a, c, 0.5, tau_plus, beta, weights), (z1, z2)
    )


def test_weights_are_constants() -> None:
    z1, z2 = random_views(4, 8, seed=31)
    weights = random_weights(4, seed=32).requires_grad_()
    debiased_contrastive_loss(z1.requires_grad_(), z2, 0.5, 0.1, 1.0, weights).backward()
    assert weights.grad is None and z1.grad is not None


def test_small_temperatures_stay_finite_in_float32() -> None:
    """t = 0.01: exp(1/t) = e^100 and imp * neg up to e^300 overflow float32 outside log space."""
    b, d, t = 8, 16, 0.01
    z1, z2 = random_views(b, d, seed=41)
    weights = random_weights(b, seed=42)
    for tau_plus, beta in [(0.0, 0.0), (0.1, 0.0), (0.1, 2.0)]:
        expected = reference_debiased(z1, z2, t, tau_plus, beta, weights)
        z1f, z2f = z1.float().requires_grad_(), z2.float().requires_grad_()
        loss = debiased_contrastive_loss(z1f, z2f, t, tau_plus, beta, weights.float())
        assert loss.item() == pytest.approx(expected, rel=1e-4)
        loss.backward()
        assert torch.isfinite(z1f.grad).all() and torch.isfinite(z2f.grad).all()


@pytest.mark.parametrize(
    ("name", "loss_fn"),
    [
        ("dcl", lambda a, c: dcl_loss(a, c)),
        ("hcl", lambda a, c: hcl_loss(a, c)),
        ("hcl_beta2", lambda a, c: hcl_loss(a, c, 0.5, 0.05, 2.0)),
        ("weighted", lambda a, c: debiased_contrastive_loss(a, c, 0.5, 0.1, 0.0, random_weights(8, seed=5).float())),
    ],
)
def test_debiased_losses_decrease_under_gradient_descent(name: str, loss_fn) -> None:
    z1, z2 = (v.float().requires_grad_() for v in random_views(8, 16, seed=3))
    optimizer = torch.optim.SGD([z1, z2], lr=1.0)
    losses = []
    for _ in range(8):
        optimizer.zero_grad()
        loss = loss_fn(z1, z2)
        loss.backward()
        assert torch.isfinite(z1.grad).all() and torch.isfinite(z2.grad).all()
        losses.append(loss.item())
        optimizer.step()
    assert losses[-1] < losses[0] - 0.05, name


def test_half_precision_and_autocast_give_float32() -> None:
    z1, z2 = (v.float() for v in random_views(16, 64, seed=4))
    full = hcl_loss(z1, z2, 0.1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        autocast = hcl_loss(z1, z2, 0.1)
    assert autocast.dtype == torch.float32 and autocast.item() == pytest.approx(full.item(), rel=1e-6)
    weights = random_weights(16, seed=1).bfloat16()
    assert debiased_contrastive_loss(z1.bfloat16(), z2.bfloat16(), 0.5, 0.1, 1.0, weights).dtype == torch.float32


def test_debiased_invalid_inputs_are_rejected() -> None:
    z1, z2 = random_views(3, 4, seed=0)
    with pytest.raises(ValueError, match="tau_plus"):
        dcl_loss(z1, z2, 0.5, tau_plus=1.0)
    with pytest.raises(ValueError, match="tau_plus"):
        dcl_loss(z1, z2, 0.5, tau_plus=-0.1)
    with pytest.raises(ValueError, match="weights"):
        debiased_contrastive_loss(z1, z2, weights=torch.ones(6, 6))
    with pytest.raises(ValueError, match="at least 2"):
        dcl_loss(z1[:1], z2[:1])


def test_large_batches_are_batched() -> None:
    """No Python loop over the batch: the loss functions contain no for/while, and B = 256 is fast and finite."""
    for function in (debiased_contrastive_loss, dcl_loss, hcl_loss, info_nce, contrastive_similarities):
        tree = ast.parse(inspect.getsource(function))
        assert not any(isinstance(node, ast.For | ast.While | ast.comprehension) for node in ast.walk(tree))
    z1, z2 = (v.requires_grad_() for v in torch.randn(2, 256, 128))
    loss = hcl_loss(z1, z2, 0.5, 0.1, 1.0)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(z1.grad).all()
    assert contrastive.negative_mask(256).sum() == 512 * 510
