"""CLAD and CLAD+, contrastive learning for background debiasing (Wang, Machiraju, Choung, Herzog, Frossard,
arXiv 2210.02748).

L_CLAD = CE(x) + lambda * InfoNCE(x, x+, x-) on the backbone's pooled features (no projection head), cosine
similarity, temperature tau; L_CLAD+ adds CE(x+). Per batch, on the device:
1. positives x+: each anchor's object with the bias cue of a donor of another label (cue_swap.py);
2. both batches are augmented independently and encoded in one pass;
3. the positives' detached features enter the negative sample dictionary under their donor's bias label
   (clad_dictionary.py), before the loss;
4. each anchor's negatives: the entries of its own bias label's queue of other classes. An anchor with no
   usable entry (the queues start empty) or no donor gets the cross-entropy term alone; the counts are
   logged with every evaluation as `ce_only_anchors` out of `trained_anchors` (cumulative).
Authors' settings (ALGORITHMS.md): tau = 0.2, lambda = 1, 32 entries per key. With cue = "texture" the same
recipe keeps the shape and changes the texture (the poster's texture debiasing).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchsuite.datasets.base import Dataset
from benchsuite.datasets.splits import Batch
from benchsuite.errors import ConfigError
from benchsuite.losses.clad import clad_info_nce
from benchsuite.methods.base import BackboneFactory, SupervisedMethod
from benchsuite.methods.clad_dictionary import NegativeDictionary
from benchsuite.methods.clad_positives import CUES, pick_donors, swap_cue
from benchsuite.registry import METHODS
from benchsuite.training import distributed
from benchsuite.training.augment import SupervisedAugment
from benchsuite.training.trainer import Evaluation, RunContext, Stage


class _CLADFamily(SupervisedMethod):
    """CLAD's training step; the registered classes differ in whether the positives get a cross-entropy term.

    temperature: tau; contrastive_weight: lambda; queue_size: entries per bias label in the dictionary;
    cue: "background" (the object on another image's background) or "texture" (the shape filled with
    another image's texture); augment: applied to anchors and positives independently.
    """

    positive_cross_entropy: ClassVar[bool]

    def __init__(
        self,
        temperature: float = 0.2,
        contrastive_weight: float = 1.0,
        queue_size: int = 32,
        cue: str = "background",
        augment: nn.Module | None = None,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        if temperature <= 0:
            raise ConfigError(f"{name}.temperature = {temperature}: the temperature must be positive (authors: 0.2).")
        if contrastive_weight < 0:
            raise ConfigError(f"{name}.contrastive_weight = {contrastive_weight}: lambda must be at least 0.")
        if queue_size < 1:
            raise ConfigError(f"{name}.queue_size = {queue_size}: each key needs at least one entry (authors: 32).")
        if cue not in CUES:
            raise ConfigError(f"{name}.cue = {cue!r}: choose one of {', '.join(repr(c) for c in CUES)}.")
        self.temperature = temperature
        self.contrastive_weight = contrastive_weight
        self.queue_size = queue_size
        self.cue = cue
        self.augment = augment if augment is not None else SupervisedAugment()
        self.register_buffer("ce_only_anchors", torch.zeros((), dtype=torch.long))
        self.register_buffer("trained_anchors", torch.zeros((), dtype=torch.long))

    def check_dataset(self, dataset: Dataset) -> None:
        train = dataset.split("train")
        needs = [
            ("foreground masks (Split.masks)", train.has_masks),
            ("background labels (Split.backgrounds)", train.backgrounds is not None),
        ]
        if self.cue == "texture":  # the background cue falls back to the donor with its foreground removed
            needs.append(("bias-cue images (Split.bias_images: the texture alone)", train.has_bias_images))
        missing = [what for what, present in needs if not present]
        if missing:
            raise ConfigError(
                f"{type(self).__name__} needs, in the training split of its dataset, {', '.join(missing)}, and "
                f"{dataset.registered_name}'s training split has none. It builds each positive from the anchor's "
                "foreground mask and another image's bias cue, and keys its negatives by the background label. "
                "Bind run.dataset to a dataset that provides them (SyntheticBackgrounds, SyntheticTexture, "
                "SyntheticWaterbirds) or add them to the dataset's splits."
            )

    def setup(self, backbone: BackboneFactory, dataset: Dataset) -> None:
        super().setup(backbone, dataset)
        num_keys = int(dataset.split("train").backgrounds.max()) + 1
        self.dictionary = NegativeDictionary(num_keys, self.queue_size, self.encoder.feature_dim)

    def record_details(self) -> dict[str, Any]:
        return {
            "temperature": self.temperature,
            "contrastive_weight": self.contrastive_weight,
            "queue_size": self.queue_size,
            "cue": self.cue,
            "positive_cross_entropy": self.positive_cross_entropy,
            "ce_only_anchors": int(self.ce_only_anchors),
            "trained_anchors": int(self.trained_anchors),
        }

    def evaluate(self, dataset: Dataset, context: RunContext) -> Evaluation:
        evaluation = super().evaluate(dataset, context)
        evaluation[self.label] |= {
            "ce_only_anchors": float(self.ce_only_anchors),
            "trained_anchors": float(self.trained_anchors),
        }
        return evaluation

    def loss(self, batch: Batch, dataset: Dataset) -> Tensor:
        """The training loss of one batch on the device: positives made and both batches augmented here."""
        images, labels, keys = batch["image"], batch["label"], batch["background"]
        donor, has_donor = pick_donors(labels)
        positives = swap_cue(images, batch["mask"], batch.get("bias_image"), donor, self.cue)
        views = self.normalized(torch.cat([self.augment(images), self.augment(positives)]), dataset)
        return self.pair_loss(views, labels, keys, keys[donor], has_donor)

    def pair_loss(self, views: Tensor, labels: Tensor, keys: Tensor, positive_keys: Tensor,
                  has_donor: Tensor) -> Tensor:
        """The loss of B anchors and their B positives, given as one normalized float batch `views` (2B, ...).

        keys: the anchors' bias labels (B,); positive_keys: their positives' (the donors') bias labels;
        has_donor: (B,) bool, false where the anchor got no donor (its positive is then meaningless).
        """
        features = self.encoder(views)
        logits = self.classifier(features)
        anchor_features, positive_features = features.chunk(2)
        anchor_logits, positive_logits = logits.chunk(2)
        loss = F.cross_entropy(anchor_logits, labels)

        # Under several processes every process pushes the positives of the global batch, in rank order, so
        # the dictionaries stay identical (distributed.py); alone, gather_detached is the identity.
        pushed, pushed_keys, pushed_labels, pushed_ok = (
            distributed.gather_detached(t) for t in (positive_features, positive_keys, labels,
                                                     has_donor.to(torch.uint8))
        )
        pushed_ok = pushed_ok.bool()
        self.dictionary.push(pushed[pushed_ok], pushed_keys[pushed_ok], pushed_labels[pushed_ok])
        negatives, valid = self.dictionary.negatives(keys, labels)
        usable = has_donor & valid.any(dim=1)
        per_anchor = clad_info_nce(anchor_features, positive_features, negatives, valid, self.temperature)
        contrastive = (per_anchor * usable).sum() / usable.sum().clamp(min=1)
        loss = loss + self.contrastive_weight * contrastive
        if self.positive_cross_entropy:
            per_positive = F.cross_entropy(positive_logits, labels, reduction="none")
            loss = loss + (per_positive * has_donor).sum() / has_donor.sum().clamp(min=1)
        self.ce_only_anchors.add_((~usable).sum())
        self.trained_anchors.add_(len(labels))
        return loss

    def stages(self, dataset: Dataset, context: RunContext) -> Iterator[Stage]:
        yield Stage("train", self, lambda batch: self.loss(batch, dataset), dataset.split("train"))


@METHODS.register("CLAD")
class CLAD(_CLADFamily):
    """CLAD: cross-entropy + lambda * InfoNCE against bias-swapped positives and same-background negatives."""

    positive_cross_entropy = False


@METHODS.register("CLADPlus")
class CLADPlus(_CLADFamily):
    """CLAD+: CLAD with cross-entropy on the positives too (row label `CLAD+`)."""

    positive_cross_entropy = True
    display_name = "CLAD+"
