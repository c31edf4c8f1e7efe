"""What a linear probe reports: the same frozen features read by the authors' epoch-based probe at several
budgets and by the converged logistic probe (the suite's default evaluation).

The features are those of a finished run's encoder (its checkpoint) or, by default, of the embedded benchmarks'
pretrained start on SyntheticWaterbirds. A probe whose number moves with its budget reports the budget; the
converged probe's number is the features'. Example:

    python benchmarks/probe_budget.py                      # the pretrained start, SyntheticWaterbirds
    python benchmarks/probe_budget.py --run results/simclr_synthetic_waterbirds/<run_id>   # a SimCLR encoder
    python benchmarks/probe_budget.py --run results/wcl_synthetic_waterbirds/<run_id> --module encoder_b \
        --target place --epochs                                # what WCL's E_b features hold: the place?
"""

from __future__ import annotations

import argparse
import time
from functools import cached_property
from pathlib import Path

import torch

from benchsuite.datasets.splits import TensorSplit
from benchsuite.datasets.synthetic import SyntheticWaterbirds
from benchsuite.evaluation import LinearProbe, LogisticProbe, frozen_features
from benchsuite.models.backbones import SmallCNN
from benchsuite.training.pretraining import EmbeddedPretraining


class _PlaceTarget(SyntheticWaterbirds):
    """SyntheticWaterbirds with the place as the label (group unchanged: 2 * class + place)."""

    @cached_property
    def _splits(self) -> dict[str, TensorSplit]:
        by_class = super()._splits  # the digit classes as labels
        return {name: TensorSplit(s.images, s.backgrounds.clone(), s.groups) for name, s in by_class.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, nargs="*", default=[10, 100, 1000])
    parser.add_argument("--c", type=float, nargs="*", default=[], help="also the converged probe at each single C")
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--run", type=Path, help="a finished run folder on SyntheticWaterbirds: its encoder's features")
    parser.add_argument("--module", default="encoder", help="the encoder's name in the run's checkpoint")
    parser.add_argument("--target", choices=("label", "place"), default="label",
                        help="what the probes predict: the class (default) or the background place")
    args = parser.parse_args()
    torch.set_num_threads(1)
    dataset = SyntheticWaterbirds() if args.target == "label" else _PlaceTarget()
    if args.run is None:
        encoder = SmallCNN(width=args.width, pretrained=EmbeddedPretraining())
        what = encoder.initial_weights
    else:
        encoder = SmallCNN(width=args.width)
        state = torch.load(args.run / "checkpoint.pt", map_location="cpu", weights_only=False)["state"]
        prefix = f"{args.module}."
        encoder.load_state_dict({k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)})
        what = f"{args.module} of {args.run}"
    features = frozen_features(encoder, dataset, torch.device("cpu"), 512)
    print(f"features: {what}; SyntheticWaterbirds, {len(features['train'])} training images; "
          f"the probes predict the {args.target}\n")
    print("| probe | val top-1 | test top-1 | test worst-group | seconds |")
    print("|---|---:|---:|---:|---:|")
    probes = [(f"LinearProbe, Adam 1e-3, {n} epochs (raw features)", LinearProbe(epochs=n)) for n in args.epochs]
    probes += [(f"LogisticProbe, converged, C = {c:g}", LogisticProbe(c_grid=(c,))) for c in args.c]
    for name, probe in [*probes, ("LogisticProbe, converged (standardised features, C by val)", LogisticProbe())]:
        start = time.perf_counter()
        metrics = probe(features, dataset)
        elapsed = time.perf_counter() - start
        cells = " | ".join(f"{100 * metrics[key]:.1f}" for key in ("val/top1", "test/top1", "test/worst_group"))
        print(f"| {name} | {cells} | {elapsed:.1f} |")


if __name__ == "__main__":
    main()
