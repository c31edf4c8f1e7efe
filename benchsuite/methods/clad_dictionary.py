"""CLAD's negative sample dictionary: one FIFO queue of features per background (bias) label, on the device.

The queues hold the detached features of generated positives under their background's label, with the class
of their foreground. An anchor draws its negatives from the queue of its own background label, excluding
entries of its own class: other objects on backgrounds like its own (ALGORITHMS.md, "Background debiasing").
Everything is a buffer, so the dictionary is part of the method's state_dict and travels with the Trainer's
checkpoint; updates are batched (no loop over the batch).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: the class stored in a slot that has never been written
EMPTY = -1


class NegativeDictionary(nn.Module):
    """num_keys FIFO queues of `size` feature vectors (feature_dim) with the class of each entry."""

    def __init__(self, num_keys: int, size: int, feature_dim: int) -> None:
        super().__init__()
        if num_keys < 1 or size < 1:
            raise ValueError(f"a dictionary needs at least one key and one slot, got {num_keys} keys of {size}")
        self.num_keys, self.size = num_keys, size
        self.register_buffer("features", torch.zeros(num_keys, size, feature_dim))
        self.register_buffer("classes", torch.full((num_keys, size), EMPTY, dtype=torch.long))
        #: the slot each queue writes next, which is also its oldest entry once the queue is full
        self.register_buffer("pointer", torch.zeros(num_keys, dtype=torch.long))

    @torch.no_grad()
    def push(self, features: Tensor, keys: Tensor, classes: Tensor) -> None:
        """Enqueue features (n, D) under keys (n,) with their classes (n,), in batch order per key.

        Within a key, later items of the batch are newer; when a batch brings more than `size` items to one
        key, only its newest `size` stay, as if they had been pushed one by one.
        """
        if len(features) == 0:
            return
        per_key = F.one_hot(keys, self.num_keys)
        rank = (per_key.cumsum(0) - 1).gather(1, keys.unsqueeze(1)).squeeze(1)  # order among the batch's same key
        count = per_key.sum(0)
        kept = rank >= count[keys] - self.size
        slot = (self.pointer[keys] + rank) % self.size
        self.features[keys[kept], slot[kept]] = features[kept].detach().to(self.features.dtype)
        self.classes[keys[kept], slot[kept]] = classes[kept]
        self.pointer.copy_((self.pointer + count) % self.size)

    def negatives(self, keys: Tensor, classes: Tensor) -> tuple[Tensor, Tensor]:
        """Each anchor's candidates (B, size, D) from the queue of its key and which are valid (B, size) bool:
        filled slots whose class is not the anchor's."""
        stored = self.classes[keys]
        valid = (stored != EMPTY) & (stored != classes.unsqueeze(1))
        return self.features[keys], valid
