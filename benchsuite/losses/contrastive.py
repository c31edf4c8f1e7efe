"""Contrastive losses on two views per image, and the similarity logits they share.

Notation (shared/ALGORITHMS.md): a batch of B images gives 2B views, z1 (B, D) the first and z2 (B, D) the
second views. Views are ordered [z1; z2], so anchor i's positive is view (i + B) mod 2B, and its N = 2B - 2
negatives are the other views, in increasing view order. Projections are L2-normalised here because every
formula assumes unit vectors. t is the temperature.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def positive_index(batch_size: int, device: torch.device | str | None = None) -> Tensor:
    """(2B,) index of each anchor's positive view among the 2B views."""
    return torch.arange(2 * batch_size, device=device).roll(batch_size)


def negative_mask(batch_size: int, device: torch.device | str | None = None) -> Tensor:
    """(2B, 2B) bool, true at (anchor, negative) pairs: neither the anchor itself nor its positive.

    Every row has N = 2B - 2 true entries, so `matrix[negative_mask(B)].view(2 * B, -1)` gives the (2B, N)
    per-negative values of any pairwise (2B, 2B) matrix (similarities, distances) in a consistent order.
    """
    views = torch.arange(2 * batch_size, device=device)
    not_self = views.unsqueeze(1) != views.unsqueeze(0)
    not_positive = positive_index(batch_size, device).unsqueeze(1) != views.unsqueeze(0)
    return not_self & not_positive


def unit_views(z1: Tensor, z2: Tensor) -> Tensor:
    """(2B, D) L2-normalised views [z1; z2], at least float32 so that half-precision training keeps exact logits."""
    if z1.ndim != 2 or z1.shape != z2.shape:
        raise ValueError(f"z1 and z2 must both be (B, D), got {tuple(z1.shape)} and {tuple(z2.shape)}")
    if len(z1) < 2:
        raise ValueError("a contrastive loss needs at least 2 images per batch: with 1 there are no negatives")
    z = torch.cat([z1, z2])
    if z.dtype in (torch.float16, torch.bfloat16):
        z = z.float()
    return F.normalize(z, dim=1)


def contrastive_similarities(z1: Tensor, z2: Tensor, temperature: float) -> tuple[Tensor, Tensor]:
    """pos_logit (2B,) = z_a . z_p / t and neg_logits (2B, N) = z_a . z_j / t over each anchor's negatives."""
    batch_size = len(z1)
    # autocast would run the matmul in half precision; the (2B, 2B) product is cheap in full precision
    with torch.autocast(device_type=z1.device.type, enabled=False):
        z = unit_views(z1, z2)
        logits = z @ z.T / temperature
    anchors = torch.arange(2 * batch_size, device=z.device)
    pos_logit = logits[anchors, positive_index(batch_size, z.device)]
    neg_logits = logits[negative_mask(batch_size, z.device)].view(2 * batch_size, 2 * batch_size - 2)
    return pos_logit, neg_logits


def info_nce(z1: Tensor, z2: Tensor, temperature: float = 0.5) -> Tensor:
    """SimCLR's loss: mean over the 2B anchors of -log(pos / (pos + sum_j neg_j)), computed in log space."""
    pos_logit, neg_logits = contrastive_similarities(z1, z2, temperature)
    all_logits = torch.cat([pos_logit.unsqueeze(1), neg_logits], dim=1)
    return (torch.logsumexp(all_logits, dim=1) - pos_logit).mean()


def clamp_floor(n: int, temperature: float) -> float:
    """DCL's lower bound N * exp(-1/t) on the negatives' estimate Ng: its theoretical minimum for unit vectors."""
    return n * math.exp(-1.0 / temperature)


def debiased_contrastive_loss(
    z1: Tensor,
    z2: Tensor,
    temperature: float = 0.5,
    tau_plus: float = 0.0,
    beta: float = 0.0,
    weights: Tensor | None = None,
) -> Tensor:
    """The one estimator behind InfoNCE, DCL, HCL and WCL's E_d loss, averaged over the 2B anchors.

    With pos = exp(z_a . z_p / t) and neg_j = exp(z_a . z_j / t) over the anchor's N = 2B - 2 negatives:

    - importance imp_j = neg_j ** beta (HCL). beta follows the HCL authors' code: it multiplies similarity / t,
      so this beta equals the paper's beta times 1/t. imp is not detached, as in the authors' code; beta = 0
      gives imp_j = 1 (no reweighting), and a negative beta would favour easy negatives.
    - reweighted sum R = sum_j w_j * imp_j * neg_j / mean_j(imp_j), with w_j = 1 when `weights` is None.
      `weights` (2B, N) is aligned with the negatives of `contrastive_similarities` (see `negative_mask`),
      must be >= 0 (not all 0 in a row), and is detached here: the weights are given constants (WCL's
      difficulty weights).
    - Ng = (-tau_plus * N * pos + R) / (1 - tau_plus), clamped below at N * exp(-1/t) (DCL, Chuang et al.).
    - loss = -log(pos / (pos + Ng)).

    Special cases: tau_plus = 0, beta = 0, no weights is SimCLR's InfoNCE (the clamp is then inactive, since
    R >= N * exp(-1/t) for unit vectors); beta = 0 is DCL; beta > 0 is HCL; weights all 1 change nothing.
    Everything is computed in log space (logsumexp, log1p/expm1 for the subtraction, a log-domain clamp), so
    small temperatures whose exp(1/t) would overflow float32 stay finite.
    """
    if not 0.0 <= tau_plus < 1.0:
        raise ValueError(f"tau_plus must lie in [0, 1), got {tau_plus}")
    pos_logit, neg_logits = contrastive_similarities(z1, z2, temperature)
    n = neg_logits.shape[1]

    # log R = logsumexp_j(log w_j + (1 + beta) l_j) - log mean_j exp(beta l_j)
    scores = neg_logits if beta == 0 else (1.0 + beta) * neg_logits
    if weights is not None:
        if weights.shape != neg_logits.shape:
            raise ValueError(f"weights must be (2B, N) = {tuple(neg_logits.shape)}, got {tuple(weights.shape)}")
        scores = scores + weights.detach().to(neg_logits.dtype).log()
    log_r = torch.logsumexp(scores, dim=1)
    if beta != 0:
        log_r = log_r - (torch.logsumexp(beta * neg_logits, dim=1) - math.log(n))

    if tau_plus == 0:
        log_raw = log_r
    else:
        # R - tau N pos = R * (1 - exp(x)) with x = log(tau N pos / R); the raw estimate is positive iff x < 0.
        # Where it is not (or is below R * 1e-30, far under the floor for any t > 0.03, and within R's rounding
        # error anyway) it is set to -inf, which the clamp replaces by the floor; x is kept away from 0 there
        # so that the branch torch.where discards has finite gradients (0 * inf would give NaN).
        x = pos_logit + math.log(tau_plus * n) - log_r
        positive = x < -1e-30
        x_safe = torch.where(positive, x, torch.full_like(x, -1.0))
        log_raw = log_r + torch.log(-torch.expm1(x_safe)) - math.log1p(-tau_plus)
        log_raw = torch.where(positive, log_raw, torch.full_like(log_raw, -math.inf))
    log_floor = math.log(n) - 1.0 / temperature
    log_ng = log_raw.clamp(min=log_floor)
    # -log(pos / (pos + Ng)) = log(1 + Ng / pos): softplus keeps the relative precision of small losses, and its
    # linear branch above 50 is exact to e^-50
    return F.softplus(log_ng - pos_logit, threshold=50.0).mean()


def dcl_loss(z1: Tensor, z2: Tensor, temperature: float = 0.5, tau_plus: float = 0.1) -> Tensor:
    """DCL, debiased contrastive learning (Chuang et al., NeurIPS 2020; not lightly's Decoupled "DCLLoss").

    Ng = (-tau_plus * N * pos + sum_j neg_j) / (1 - tau_plus), clamped below at N * exp(-1/t);
    loss = -log(pos / (pos + Ng)). Authors' defaults t = 0.5, tau_plus = 0.1. tau_plus = 0 gives InfoNCE.
    """
    return debiased_contrastive_loss(z1, z2, temperature, tau_plus, beta=0.0)


def hcl_loss(z1: Tensor, z2: Tensor, temperature: float = 0.5, tau_plus: float = 0.1, beta: float = 1.0) -> Tensor:
    """HCL, hard negative samples (Robinson et al., ICLR 2021): DCL with neg_j reweighted by imp_j = neg_j ** beta.

    R = sum_j imp_j * neg_j / mean_j(imp_j) replaces DCL's sum_j neg_j; same clamp. imp is not detached (as the
    authors). beta is the authors' code's: it acts on similarity / t, i.e. it is the paper's beta times 1/t.
    Authors' defaults t = 0.5, tau_plus = 0.1, beta = 1. beta = 0 gives DCL.
    """
    return debiased_contrastive_loss(z1, z2, temperature, tau_plus, beta)
