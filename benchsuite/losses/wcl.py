"""WCL's losses and negative weights (Jang and Wang, CVPR 2023), on two views per image.

WCL trains two encoders together. The bias-amplifying encoder E_b learns from a triplet loss without margin;
the debiased encoder E_d learns from a contrastive loss whose negatives are weighted by their relative
difficulty w (2B, N), computed from both encoders' projections and detached:

    loss_d = debiased_contrastive_loss(zd1, zd2, t, tau_plus, beta, weights=w)   (benchsuite.losses.contrastive)
    total  = triplet_loss(zb1, zb2) + loss_d                                     (one backward pass)

loss_d is the poster's weighted InfoNCE -log(pos / (pos + sum_j w_j neg_j)) when tau_plus = beta = 0, with DCL's
statistical debiasing when tau_plus > 0 (the authors' code and default runs, beta = 0), and with HCL's when
beta > 0. Since w is detached, no gradient reaches E_b through loss_d: E_b learns only from the triplet loss.
The method (`benchsuite.methods.wcl.WCL.losses`) puts the two terms together from these functions.

Where the authors' code and the poster disagree (shared/ALGORITHMS.md), the poster's form is the default and
the code's is an option:

- triplet: `triplet_loss` (poster, default) is the mean over anchors i and negatives j of
  ||z_i - z_i+||^2 - ||z_i - z_j||^2; `debiased_triplet_loss` (code, `triplet(debias=True)`) uses a DCL-style
  debiased sum over the negatives, which weighs the N negatives N times against the positive.
- weights: `relative_difficulty_weights` (poster, default) is w = 1 + D~_d / (D~_d + D~_b) on Euclidean
  distances, so a negative that E_b puts close to the anchor weighs up to 2; `similarity_weights` (code) is
  built on row-normalised exp-similarities and gives such a negative w -> 1: the opposite emphasis.

Views are ordered [z1; z2] and the (2B, N) layout is that of `contrastive_similarities` / `negative_mask`.
Every formula assumes unit vectors: the views are L2-normalised here.
"""

from __future__ import annotations

import torch
from torch import Tensor

from benchsuite.losses.contrastive import (
    contrastive_similarities,
    negative_mask,
    positive_index,
    unit_views,
)

#: guards relative_difficulty_weights' 0 / 0: a pair that both encoders put on the anchor gets w = 1
DIFFICULTY_EPS = 1e-12
#: the authors' code's guard in similarity_weights' denominator
SIMILARITY_EPS = 1e-6


def _squared_distances(z1: Tensor, z2: Tensor) -> tuple[Tensor, Tensor]:
    """||z_a - z_p||^2 (2B,) to each anchor's positive and ||z_a - z_j||^2 (2B, N) to its negatives."""
    batch_size = len(z1)
    with torch.autocast(device_type=z1.device.type, enabled=False):
        z = unit_views(z1, z2)
        positive = (z - z[positive_index(batch_size, z.device)]).square().sum(dim=1)
        # ||a - b||^2 = |a|^2 + |b|^2 - 2 a.b, with the norms kept (they are 1 up to rounding)
        norms = z.square().sum(dim=1)
        squared = norms.unsqueeze(1) + norms.unsqueeze(0) - 2 * z @ z.T
    negatives = squared[negative_mask(batch_size, z.device)].view(2 * batch_size, 2 * batch_size - 2)
    return positive, negatives


def triplet_loss(z1: Tensor, z2: Tensor) -> Tensor:
    """E_b's triplet loss without margin, the poster's form (default).

    Mean over the 2B anchors i and their N negatives j of ||z_i - z_i+||^2 - ||z_i - z_j||^2, on L2-normalised
    views: an expectation over triplets, in [-4, 4]. It pulls positives together and pushes negatives apart.
    """
    positive, negatives = _squared_distances(z1, z2)
    return positive.mean() - negatives.mean()


def debiased_triplet_loss(z1: Tensor, z2: Tensor, tau_plus: float = 0.1) -> Tensor:
    """E_b's triplet loss as in the authors' code (`triplet(debias=True)`), an option.

    pos_i = ||z_i - z_i+||^2, neg_i = (-tau_plus * N * pos_i + sum_j ||z_i - z_j||^2) / (1 - tau_plus),
    loss = mean_i(pos_i - neg_i). Unlike the poster's `triplet_loss` it sums over the negatives, so the N
    negatives weigh N times against the positive. No clamp (as the authors' code).
    """
    if not 0.0 <= tau_plus < 1.0:
        raise ValueError(f"tau_plus must lie in [0, 1), got {tau_plus}")
    positive, negatives = _squared_distances(z1, z2)
    n = negatives.shape[1]
    negative = (negatives.sum(dim=1) - tau_plus * n * positive) / (1.0 - tau_plus)
    return (positive - negative).mean()


def _check_encoders(zd1: Tensor, zb1: Tensor) -> None:
    if len(zd1) != len(zb1):
        raise ValueError(f"both encoders must see the same batch, got {len(zd1)} and {len(zb1)} images")


@torch.no_grad()
def relative_difficulty_weights(zd1: Tensor, zd2: Tensor, zb1: Tensor, zb2: Tensor) -> Tensor:
    """The poster's relative difficulty weights (default): (2B, N), detached, in [1, 2].

    zd* are E_d's (debiased) projections of the two views, zb* E_b's (bias-amplifying); the two encoders may
    have different output dimensions. For each (anchor, negative) pair D is the Euclidean distance between
    their unit projections under an encoder, D~ = D / (its maximum over the batch's (anchor, negative) pairs),
    per encoder, and w = 1 + D~_d / (D~_d + D~_b). A negative that E_b puts on the anchor (D~_b = 0, a
    bias-aligned hard negative) gets w = 2; one that E_b puts at the batch's largest distance while E_d puts
    it close gets w near 1. The 0 / 0 of a pair that both encoders put on the anchor is guarded by clamping the
    denominator at DIFFICULTY_EPS = 1e-12 (and the maxima likewise), which gives it w = 1.
    The layout is that of `contrastive_similarities`' negatives (see `negative_mask`).
    """
    _check_encoders(zd1, zb1)
    batch_size = len(zd1)

    def normalised_distances(z1: Tensor, z2: Tensor) -> Tensor:
        with torch.autocast(device_type=z1.device.type, enabled=False):
            z = unit_views(z1, z2)
            # the direct form, not the matmul one, so that coinciding views are at distance exactly 0
            distances = torch.cdist(z, z, compute_mode="donot_use_mm_for_euclid_dist")
        distances = distances[negative_mask(batch_size, z.device)].view(2 * batch_size, 2 * batch_size - 2)
        return distances / distances.max().clamp(min=DIFFICULTY_EPS)

    d_d, d_b = normalised_distances(zd1, zd2), normalised_distances(zb1, zb2)
    d_b = d_b.to(d_d.dtype)
    return 1.0 + d_d / (d_d + d_b).clamp(min=DIFFICULTY_EPS)


@torch.no_grad()
def similarity_weights(zd1: Tensor, zd2: Tensor, zb1: Tensor, zb2: Tensor, temperature: float = 0.5) -> Tensor:
    """The authors' code's weights: an option, not the default. (2B, N), detached, in [1, 2).

    s = exp(z_a . z_j / t) over each anchor's N negatives, L2-normalised along the anchor's row, for both
    encoders; w = 1 + s_d / (s_b + s_d + 1e-6). Built on similarities instead of distances, it gives w -> 1, not
    2, to the negatives that E_b puts close to the anchor (the bias-aligned ones): the opposite emphasis to the
    poster's `relative_difficulty_weights`, which is the default. The row maximum is subtracted from the logits
    before exp, which leaves the row-normalised s unchanged and keeps small temperatures finite.
    """
    _check_encoders(zd1, zb1)

    def normalised_similarities(z1: Tensor, z2: Tensor) -> Tensor:
        _, neg_logits = contrastive_similarities(z1, z2, temperature)
        s = torch.exp(neg_logits - neg_logits.amax(dim=1, keepdim=True))
        return s / torch.linalg.vector_norm(s, dim=1, keepdim=True)

    s_d, s_b = normalised_similarities(zd1, zd2), normalised_similarities(zb1, zb2)
    s_b = s_b.to(s_d.dtype)
    return 1.0 + s_d / (s_b + s_d + SIMILARITY_EPS)

