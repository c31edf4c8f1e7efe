"""Contrastive losses on two views per image, and the similarity logits they share.

Notation (shared/ALGORITHMS.md): a batch of B images gives 2B views, z1 (B, D) the first and z2 (B, D) the
second views. Views are ordered [z1; z2], so anchor i's positive is view (i + B) mod 2B, and its N = 2B - 2
negatives are the other views, in increasing view order. Projections are L2-normalised here because every
formula assumes unit vectors. t is the temperature.
"""

from __future__ import annotations

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
