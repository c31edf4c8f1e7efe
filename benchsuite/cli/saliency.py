"""Input-gradient saliency of finished runs, side by side: `python -m benchsuite saliency RUN_DIR [RUN_DIR ...]`.

The saliency of an image x with label y is max over colour channels of |d logit_y / d x| (Simonyan, Vedaldi
and Zisserman, ICLR 2014 workshop), x being the image in [0, 1] before normalisation. The CLAD poster
compares it for the baseline, CLAD and CLAD+: a background-biased model lights up the background.

Each run is rebuilt from its record: the operative gin config in record.json gives the method, dataset and
backbone; `setup` builds the modules and checkpoint.pt (the state after the last epoch) fills them. The grid
has one row per test image (the same images for every run, which must share the dataset) and one column for
the image and one per run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import gin
import torch
from torch import Tensor

from benchsuite import config, records
from benchsuite.datasets.base import Dataset
from benchsuite.errors import ConfigError
from benchsuite.methods.base import SupervisedMethod
from benchsuite.training import rule_checkpoints
from benchsuite.training.augment import normalize, to_unit_float


def saliency_maps(model: Callable[[Tensor], Tensor], images: Tensor, labels: Tensor) -> Tensor:
    """(B, H, W): max over channels of |d logit_y / d x| for float images (B, C, H, W) and labels (B,).

    The logits of the batch are summed after picking each image's own label: with the model in eval mode the
    images do not interact, so each image's gradient is its own.
    """
    x = images.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        logits = model(x)
        picked = logits.gather(1, labels.view(-1, 1)).sum()
        (gradient,) = torch.autograd.grad(picked, x)
    return gradient.abs().amax(dim=1)


@dataclass
class LoadedRun:
    """A finished run rebuilt from its folder."""

    run_dir: Path
    record: dict
    method: SupervisedMethod
    dataset: Dataset

    @property
    def title(self) -> str:
        row = next(iter(self.record.get("metrics") or {self.method.label: None}))
        return f"{row}, seed {self.record.get('seed')}\nrun {self.run_dir.name}"

    def logits_of_unit_images(self, x: Tensor) -> Tensor:
        return self.method.logits(normalize(x, self.dataset.mean, self.dataset.std))


def load_run(run_dir: str | Path, device: torch.device | str = "cpu", selection: str | None = None) -> LoadedRun:
    """Rebuild a finished run's method and dataset from record.json and load checkpoint.pt into it, or with
    `selection` the checkpoint kept for that rule (a run made with Trainer.rule_checkpoints = True)."""
    run_dir = Path(run_dir)
    record = records.read_record(run_dir)
    if record is None or record.get("status") != "finished":
        state = "has no record.json" if record is None else f"is {record.get('status')!r}, not finished"
        raise ConfigError(f"Run folder '{run_dir}' {state}: saliency maps need a finished run (results/<exp>/<id>/).")
    checkpoint_file = run_dir / records.CHECKPOINT
    if selection is None and not checkpoint_file.exists():
        raise ConfigError(
            f"Run folder '{run_dir}' has no {records.CHECKPOINT} (checkpoints are not committed with the records): "
            "run its experiment again with the same gin files and bindings to recreate it."
        )
    config.parse([], [record["gin_config"]])
    try:
        method = gin.query_parameter("run.method").scoped_configurable_fn()
        dataset = gin.query_parameter("run.dataset").scoped_configurable_fn()
        backbone = gin.query_parameter("run.backbone").scoped_configurable_fn
        if not isinstance(method, SupervisedMethod):
            raise ConfigError(
                f"Run '{run_dir}' trained {method.registered_name}, which has no classifier of its own (it is "
                "evaluated by a linear probe that is not saved), so it has no logit to take the gradient of. "
                "Saliency maps need a supervised method such as ERM, JTT, CLAD or CLADPlus."
            )
        method.setup(backbone, dataset)
    finally:
        gin.clear_config()
    if selection is not None:
        state = rule_checkpoints.chosen_state(run_dir, selection, method.label)
    else:
        state = torch.load(checkpoint_file, map_location="cpu", weights_only=True)["state"]
    method.load_state_dict(state)
    method.to(device).eval()
    return LoadedRun(run_dir, record, method, dataset)


def grid_figure(runs: Sequence[LoadedRun], split: str, count: int, path: Path, device: torch.device) -> Path:
    """Write the PNG grid of `count` images of `split` (the first ones) and each run's saliency of them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    splits = [run.dataset.split(split) for run in runs]
    index = torch.arange(min(count, len(splits[0])))
    images, labels = splits[0].take(index)["image"], splits[0].labels[index]
    for run, other in zip(runs[1:], splits[1:], strict=True):
        if not torch.equal(other.take(index)["image"], images):
            raise ConfigError(
                f"Runs '{runs[0].run_dir}' and '{run.run_dir}' were trained on different data ({split} images "
                "differ): saliency maps are compared on the same images, so give runs of one dataset."
            )
    x = to_unit_float(images.to(device))
    maps = [saliency_maps(run.logits_of_unit_images, x, labels.to(device)).cpu() for run in runs]

    rows, columns = len(index), 1 + len(runs)
    figure, axes = plt.subplots(rows, columns, figsize=(2.0 * columns, 1.9 * rows + 0.4), squeeze=False)
    for row in range(rows):
        axes[row, 0].imshow(images[row].permute(1, 2, 0).squeeze(-1).numpy(), interpolation="nearest")
        axes[row, 0].set_title(f"{split} #{row}, label {int(labels[row])}", fontsize=7)
        for column, (run, saliency) in enumerate(zip(runs, maps, strict=True), start=1):
            # each map scaled to its own maximum: the question is where a model looks, not how steep it is
            axes[row, column].imshow(saliency[row].numpy(), cmap="hot", interpolation="nearest")
            if row == 0:
                axes[row, column].set_title(run.title, fontsize=6)
    for axis in axes.flat:
        axis.axis("off")
    figure.suptitle(f"Input-gradient saliency |d logit_y / d x| (max over channels) on {split}", fontsize=9)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def saliency_command(
    run_dirs: Sequence[str], output: str, split: str, count: int, device: str = "cpu", selection: str | None = None
) -> Path:
    """Load every run, check the split exists, and write the grid to `output`."""
    if count < 1:
        raise ConfigError(f"--images {count}: give at least one image.")
    runs = [load_run(run_dir, device, selection) for run_dir in run_dirs]
    splits = ("train", *runs[0].dataset.eval_splits)
    if split not in splits:
        raise ConfigError(f"--split {split!r}: {runs[0].dataset.registered_name} has the splits {', '.join(splits)}.")
    return grid_figure(runs, split, count, Path(output), torch.device(device))
