"""How strongly HCL's and WCL's losses weigh the negatives that share the anchor's bias cue, on trained encoders.

Both methods reweight each anchor's negatives before summing them: HCL by imp_j / mean_j(imp_j) with
imp_j = exp(beta * z_a . z_j / t) (from its own projections), WCL's E_d loss by the relative difficulty weights w_j
in [1, 2] (from both encoders' projections). On a background-biased benchmark the negatives that share the
anchor's background are the ones a debiasing method should push away hardest. This script measures, for finished
runs of SyntheticWaterbirds, the mean weight of same-place negatives divided by the mean weight of the others
(1: no emphasis), each weight normalised by the anchor's mean weight, as the loss uses it, over training batches
drawn and augmented as in training. Example (run folders with their checkpoints, e.g. from the embedded sweep):

    python benchmarks/negative_emphasis.py --hcl results/hcl_synthetic_waterbirds/<id> \
        --wcl results/wcl_synthetic_waterbirds/<id>
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import torch

from benchsuite.datasets.synthetic import SyntheticWaterbirds
from benchsuite.losses.contrastive import contrastive_similarities, negative_mask
from benchsuite.losses.wcl import relative_difficulty_weights
from benchsuite.models.backbones import SmallCNN, projection_head
from benchsuite.training.augment import ContrastiveAugment, normalize


def _load(run: Path, encoder: str, head: str, width: int) -> torch.nn.Module:
    state = torch.load(run / "checkpoint.pt", map_location="cpu", weights_only=False)["state"]
    backbone = SmallCNN(width=width)
    projector = projection_head(backbone.feature_dim, 512, 128)
    backbone.load_state_dict({k[len(encoder) + 1:]: v for k, v in state.items() if k.startswith(f"{encoder}.")})
    projector.load_state_dict({k[len(head) + 1:]: v for k, v in state.items() if k.startswith(f"{head}.")})
    return torch.nn.Sequential(backbone, projector).eval()


def _emphasis(weights: torch.Tensor, same: torch.Tensor) -> float:
    """Mean over anchors of (mean weight of same-cue negatives) / (mean weight of the others), per-anchor
    normalised weights."""
    normalised = weights / weights.mean(dim=1, keepdim=True)
    ratios = [row[s].mean() / row[~s].mean() for row, s in zip(normalised, same, strict=True) if s.any() and (~s).any()]
    return float(torch.stack(ratios).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hcl", type=Path, nargs="*", default=[], help="finished HCL run folders")
    parser.add_argument("--wcl", type=Path, nargs="*", default=[], help="finished WCL run folders")
    parser.add_argument("--batches", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--temperature", type=float, default=0.5)
    parser.add_argument("--beta", type=float, default=1.0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    dataset = SyntheticWaterbirds()
    train = dataset.split("train")
    augment = ContrastiveAugment()
    generator = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    batches = [torch.randperm(len(train), generator=generator)[: args.batch_size] for _ in range(args.batches)]
    mask = negative_mask(args.batch_size)

    def views_and_same(index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        images = train.images[index]
        views = normalize(torch.cat([augment(images), augment(images)]), dataset.mean, dataset.std)
        place = train.backgrounds[index].repeat(2)
        same = (place.unsqueeze(1) == place.unsqueeze(0))[mask].view(2 * args.batch_size, -1)
        return views, same

    print("| run | weights | same-place / other negatives, mean weight ratio |")
    print("|---|---|---:|")
    with torch.no_grad():
        for run in args.hcl:
            model = _load(run, "encoder", "head", args.width)
            ratios = []
            for index in batches:
                views, same = views_and_same(index)
                z1, z2 = model(views).chunk(2)
                _, neg_logits = contrastive_similarities(z1, z2, args.temperature)
                ratios.append(_emphasis((args.beta * neg_logits).exp(), same))
            weights = f"HCL imp_j = exp(beta z_a.z_j / t), beta = {args.beta:g}"
            print(f"| {run} | {weights} | {statistics.fmean(ratios):.2f} |")
        for run in args.wcl:
            debiased = _load(run, "encoder", "head", args.width)
            biased = _load(run, "encoder_b", "head_b", args.width)
            ratios = []
            for index in batches:
                views, same = views_and_same(index)
                zd1, zd2 = debiased(views).chunk(2)
                zb1, zb2 = biased(views).chunk(2)
                ratios.append(_emphasis(relative_difficulty_weights(zd1, zd2, zb1, zb2), same))
            print(f"| {run} | WCL relative difficulty w_j in [1, 2] | {statistics.fmean(ratios):.2f} |")


if __name__ == "__main__":
    main()
