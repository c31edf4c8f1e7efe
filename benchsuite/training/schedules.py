"""Learning-rate schedules, bound in gin as `Trainer.schedule = @cosine_schedule` and the like.

Each is a function (optimizer, epochs, steps_per_epoch) -> scheduler stepped once per optimisation step,
so that a schedule written in epochs (the papers' milestones) means the same at any batch size.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import gin
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR, LRScheduler


@gin.configurable
def constant_schedule(optimizer: Optimizer, epochs: int, steps_per_epoch: int) -> LRScheduler:
    return LambdaLR(optimizer, lambda step: 1.0)


@gin.configurable
def cosine_schedule(
    optimizer: Optimizer, epochs: int, steps_per_epoch: int, final_fraction: float = 0.0
) -> LRScheduler:
    """Cosine decay from the base learning rate to `final_fraction` of it over the whole stage."""
    total = max(1, epochs * steps_per_epoch)

    def factor(step: int) -> float:
        progress = min(step, total) / total
        return final_fraction + (1 - final_fraction) * 0.5 * (1 + math.cos(math.pi * progress))

    return LambdaLR(optimizer, factor)


@gin.configurable
def multistep_schedule(
    optimizer: Optimizer, epochs: int, steps_per_epoch: int, milestones: Sequence[int] = (), gamma: float = 0.1
) -> LRScheduler:
    """Multiply the learning rate by `gamma` at each epoch in `milestones` (WCL: x0.1 at 350; CLAD: at 20)."""
    boundaries = sorted(m * steps_per_epoch for m in milestones)
    return LambdaLR(optimizer, lambda step: gamma ** sum(step >= b for b in boundaries))
