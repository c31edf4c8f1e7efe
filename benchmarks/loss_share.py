"""The share of a training step that goes to a method's own bookkeeping beyond the backbone: WCL's weights and
weighted loss (both encoders' projections); CLAD's donors and positives, dictionary update and lookup, and
per-anchor InfoNCE.

In one process: the full step (step_throughput.full, the suite's `train_loop`) and, on projections of the same
shape that require gradients, the method's extra work alone, forward and backward. Example:

    python benchmarks/loss_share.py --method WCL --batch 128
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from step_throughput import _setup, _timed, full

from benchsuite.datasets.synthetic import SyntheticBackgrounds
from benchsuite.training.host_memory import retain_freed_memory


def wcl_extra(method, split, batch: int, device: torch.device) -> Callable[[], None]:
    """WCL's weights from both encoders' projections, its weighted debiased loss and the triplet loss."""
    from benchsuite.losses.contrastive import debiased_contrastive_loss

    d = method.projection_dim
    z = [torch.randn(batch, d, device=device, requires_grad=True) for _ in range(4)]

    def step() -> None:
        zd1, zd2, zb1, zb2 = z
        w = method.weights(zd1, zd2, zb1, zb2)
        loss = method.triplet(zb1, zb2) + debiased_contrastive_loss(
            zd1, zd2, method.temperature, method.tau_plus, method.beta, weights=w
        )
        loss.backward()

    return step


def clad_extra(method, split, batch: int, device: torch.device) -> Callable[[], None]:
    """CLAD's donors and positives on the device, its dictionary update and lookup, the per-anchor InfoNCE."""
    from benchsuite.losses.clad import clad_info_nce
    from benchsuite.methods.clad_positives import pick_donors, swap_cue

    data = {key: value.to(device) for key, value in split.take(torch.arange(batch)).items()}
    d = method.encoder.feature_dim
    anchors, positives = (torch.randn(batch, d, device=device, requires_grad=True) for _ in range(2))

    def step() -> None:
        donor, has_donor = pick_donors(data["label"])
        swap_cue(data["image"], data["mask"], data.get("bias_image"), donor, method.cue)
        keys = data["background"]
        method.dictionary.push(positives.detach()[has_donor], keys[donor][has_donor], data["label"][has_donor])
        negatives, valid = method.dictionary.negatives(keys, data["label"])
        clad_info_nce(anchors, positives, negatives, valid, method.temperature).mean().backward()

    return step


EXTRA = {"WCL": wcl_extra, "CLAD": clad_extra}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="WCL", choices=sorted(EXTRA))
    parser.add_argument("--backbone", default="SmallCNN")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cpu":
        retain_freed_memory()  # as `run` does on the CPU
    n = (args.warmup + args.steps) * args.batch
    dataset = SyntheticBackgrounds(image_size=args.image_size, train_size=max(n, 2 * args.batch), val_size=64,
                                   test_size=64)
    method, trainer, stage = _setup(args.method, args.backbone, dataset, args.batch, device, False)
    extra = EXTRA[args.method](method, dataset.split("train"), args.batch, device)
    full_s, extra_s = [], []
    for _ in range(args.repeats):
        full_s.append(full(stage, trainer, args.steps, args.warmup, device) / args.steps)
        extra_s.append(_timed(extra, args.steps, args.warmup, device) / args.steps)
    step_ms, extra_ms = 1000 * statistics.median(full_s), 1000 * statistics.median(extra_s)
    print(f"| {args.method} | {args.backbone} | {args.batch} | {args.image_size} | {step_ms:.1f} | "
          f"{extra_ms:.2f} | {100 * extra_ms / step_ms:.1f}% |")


if __name__ == "__main__":
    main()
