"""CLAD's positives, made on the device for a whole batch: the anchor's object with another image's bias cue.

Each anchor gets a donor, another image of the batch with a different label, drawn uniformly among them.
- cue "background": the anchor's foreground (by its mask) on the donor's background alone, the donor's own
  object removed: the dataset's `bias_images` where it stores them (the embedded benchmark's clean
  background), otherwise the donor with its own foreground blacked out by its mask (the Background
  Challenge's No-FG construction; ImageNet-9's training images have masks but no background-alone copy);
- cue "texture": the anchor's shape (its mask) filled with the donor's texture (the poster's "same shape,
  another texture" pairs), the anchor's background kept.
The positive shares the anchor's label and carries the donor's bias label. Donors come from the global
torch generator on the batch's device, so a run's positives are fixed by its seed and restored on resume.
"""

from __future__ import annotations

import torch
from torch import Tensor

CUES = ("background", "texture")


def pick_donors(labels: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """For each image of the batch, a donor of a different label: (donor index (B,), has_donor (B,) bool).

    The argmax of independent uniform scores over the allowed images is uniform among them. An image whose
    batch holds no other label has no donor (has_donor false) and is its own donor.
    """
    b = len(labels)
    scores = torch.rand(b, b, device=labels.device, generator=generator)
    scores = scores.masked_fill(labels.unsqueeze(1) == labels.unsqueeze(0), -1.0)
    best, donor = scores.max(dim=1)
    has_donor = best >= 0
    return torch.where(has_donor, donor, torch.arange(b, device=labels.device)), has_donor


def background_alone(images: Tensor, masks: Tensor) -> Tensor:
    """Each image with its foreground (by its mask) set to 0, for datasets that store no clean background."""
    return images.masked_fill(masks.unsqueeze(1), 0)


def swap_cue(
    images: Tensor, masks: Tensor, bias_images: Tensor | None, donor: Tensor, cue: str = "background"
) -> Tensor:
    """The positives (B, C, H, W), same dtype as `images`: each anchor's object with its donor's bias cue.

    images, bias_images: (B, C, H, W); masks: (B, H, W) bool foreground masks of the anchors; donor: (B,).
    bias_images None (background cue only): the donors' own images with their foregrounds removed.
    """
    if cue not in CUES:
        raise ValueError(f"cue must be one of {', '.join(CUES)}, got {cue!r}")
    if bias_images is None:
        if cue != "background":
            raise ValueError("the texture cue needs bias_images: the texture alone of every image")
        bias_images = background_alone(images, masks)
    foreground = masks.unsqueeze(1)
    if cue == "background":
        return torch.where(foreground, images, bias_images[donor])
    return torch.where(foreground, bias_images[donor], images)
