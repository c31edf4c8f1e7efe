"""CLAD's contrastive term: InfoNCE of an anchor against its positive and its own set of negatives.

CLAD (Wang et al., arXiv 2210.02748, eq. 3): for anchor features x, positive x+ and negatives x-_1..x-_N,

    L_con = -log( e^{s(x, x+)/tau} / (e^{s(x, x+)/tau} + sum_i e^{s(x, x-_i)/tau}) ),

with s the cosine similarity. Unlike SimCLR's InfoNCE the negatives are not the other views of the batch but
entries of the negative sample dictionary, different for every anchor, and some of them are not usable (an
empty slot, an entry of the anchor's own class): `valid` marks the usable ones. An anchor without any valid
negative gets -log(1) = 0 with a zero gradient; the method leaves such anchors out of its mean.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def clad_info_nce(
    anchors: Tensor, positives: Tensor, negatives: Tensor, valid: Tensor, temperature: float = 0.2
) -> Tensor:
    """(B,) InfoNCE loss of each anchor.

    anchors, positives: (B, D); negatives: (B, N, D), anchor b's candidate negatives; valid: (B, N) bool,
    which candidates count. Features need not be normalised. Computed in at least float32.
    """
    if anchors.ndim != 2 or positives.shape != anchors.shape:
        raise ValueError(f"anchors and positives must both be (B, D), got {tuple(anchors.shape)} and "
                         f"{tuple(positives.shape)}")
    if negatives.ndim != 3 or negatives.shape[0] != anchors.shape[0] or negatives.shape[2] != anchors.shape[1]:
        raise ValueError(
            f"negatives must be (B, N, D) for anchors {tuple(anchors.shape)}, got {tuple(negatives.shape)}"
        )
    if valid.shape != negatives.shape[:2] or valid.dtype != torch.bool:
        raise ValueError(f"valid must be bool (B, N) = {tuple(negatives.shape[:2])}, got {valid.dtype} "
                         f"{tuple(valid.shape)}")
    dtype = torch.promote_types(anchors.dtype, torch.float32)
    with torch.autocast(device_type=anchors.device.type, enabled=False):
        a = F.normalize(anchors.to(dtype), dim=1)
        p = F.normalize(positives.to(dtype), dim=1)
        n = F.normalize(negatives.to(dtype), dim=2)
        positive_logit = (a * p).sum(1) / temperature
        negative_logits = torch.einsum("bd,bnd->bn", a, n) / temperature
        negative_logits = negative_logits.masked_fill(~valid, float("-inf"))
        logits = torch.cat([positive_logit.unsqueeze(1), negative_logits], dim=1)
        return torch.logsumexp(logits, dim=1) - positive_logit
