"""WCL's easy and hard negatives figure: for a few anchors, the negatives with the lowest and highest weight w.

The poster shows it on CUB: hard negatives (w -> 2) share the anchor's bias, easy ones (w -> 1) do not.
Here the anchors and their candidate negatives are the first images of the test split, without augmentation.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

from benchsuite.datasets.base import Dataset
from benchsuite.evaluation import preprocess
from benchsuite.methods.base import TwoViewMethod
from benchsuite.training.trainer import RunContext


def weights_between_images(weights: Callable[..., Tensor], z_d: Tensor, z_b: Tensor) -> Tensor:
    """(B, B) weight of image j as a negative of anchor i (diagonal: NaN), from a two-view weight function.

    Both "views" are the same unaugmented image, so each other image appears twice among an anchor's negatives
    with the same weight; the first B - 1 negatives are the other images' first views in increasing order.
    """
    b = len(z_d)
    per_negative = weights(z_d, z_d, z_b, z_b)[:b, : b - 1]
    full = torch.full((b, b), float("nan"), dtype=per_negative.dtype, device=per_negative.device)
    off_diagonal = ~torch.eye(b, dtype=torch.bool, device=per_negative.device)
    full[off_diagonal] = per_negative.reshape(-1)
    return full


def easiest_and_hardest(weights: Tensor, k: int = 5) -> tuple[Tensor, Tensor]:
    """Indices (A, k) of each row's k lowest-weight (easy) and k highest-weight (hard) negatives; NaN skipped."""
    finite = torch.nan_to_num(weights, nan=float("inf"))
    easy = finite.topk(k, dim=1, largest=False).indices
    hard = torch.nan_to_num(weights, nan=float("-inf")).topk(k, dim=1).indices
    return easy, hard


@torch.no_grad()
def save_negatives_figure(method: TwoViewMethod, dataset: Dataset, context: RunContext, path: Path, k: int = 5) -> None:
    """For `method.figure_anchors` test images (WCL: `project` gives E_d's and E_b's projections, `weights` the
    negatives' weights), the k negatives of lowest and highest weight, drawn into `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    test = dataset.split("test")
    images = test.take(torch.arange(min(len(test), 128)))["image"]
    method.eval()
    z_d, z_b = method.project(preprocess(images.to(context.device), dataset))
    method.train()
    weights = weights_between_images(method.weights, z_d.float(), z_b.float()).cpu()
    anchors = min(method.figure_anchors, len(images))
    easy, hard = easiest_and_hardest(weights[:anchors], k)

    figure, axes = plt.subplots(anchors, 1 + 2 * k, figsize=(1.2 * (1 + 2 * k), 1.35 * anchors), squeeze=False)
    for row in range(anchors):
        columns = [(row, "anchor")] + [(int(j), "easy") for j in easy[row]] + [(int(j), "hard") for j in hard[row]]
        for axis, (index, kind) in zip(axes[row], columns, strict=True):
            axis.imshow(images[index].permute(1, 2, 0).numpy(), interpolation="nearest")
            axis.set_title(kind if kind == "anchor" else f"{kind} w={weights[row, index]:.2f}", fontsize=7)
            axis.axis("off")
    figure.suptitle("WCL: easy (lowest w) and hard (highest w) negatives per anchor", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
