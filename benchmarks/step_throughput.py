"""Images per second of one method's training step, three ways, in one process and one run:

1. bare: forward and backward of the method's own modules on float tensors already on the device, and its
   optimizer step: the practical limit;
2. full: the suite's training step through `train_loop`: uint8 batches from the dataset, augmentation on the
   device, the method's loss, the optimizer;
3. usual: the same modules and loss fed by torchvision PIL transforms in a DataLoader with worker processes,
   as the authors' code does (CIFAR-style: a uint8 array, one `Image.fromarray` per item).

Each is timed over `--steps` steps after `--warmup` steps, on the embedded background benchmark; the three
are interleaved `--repeats` times and the median time of each is kept. Prints one
markdown row (and `--json` appends the figures to a file). Example:

    python benchmarks/step_throughput.py --method SimCLR --backbone SmallCNN --batch 128 --image-size 32
"""

from __future__ import annotations

import argparse
import functools
import json
import platform
import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader
from torchvision import transforms as T

import benchsuite  # noqa: F401  registers the built-ins
from benchsuite.datasets.synthetic import SyntheticBackgrounds
from benchsuite.registry import BACKBONES, METHODS
from benchsuite.trainer import Trainer, autocast_for, prepare_for_device, train_loop

#: per-family: how many images pass through the modules per training image (two views), and the usual
#: pipeline's per-item transform
TWO_VIEWS = {"SimCLR", "DCL", "HCL", "WCL"}
#: methods whose modules see two images per training image in the bare step (CLAD: anchor and positive)
ENCODED_TWICE = TWO_VIEWS | {"CLAD", "CLADPlus"}


def _simclr_transform(size: int, mean, std) -> T.Compose:
    return T.Compose([
        T.RandomResizedCrop(size),
        T.RandomHorizontalFlip(),
        T.RandomApply([T.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
        T.RandomGrayscale(p=0.2),
        T.ToTensor(),
        T.Normalize(mean, std),
    ])


def _supervised_transform(size: int, mean, std) -> T.Compose:
    return T.Compose([T.RandomCrop(size, padding=4), T.RandomHorizontalFlip(), T.ToTensor(), T.Normalize(mean, std)])


class PerItemImages(torch.utils.data.Dataset):
    """The usual pipeline's dataset: a uint8 (N, H, W, C) array, one PIL image and transform per item."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, transform, views: int) -> None:
        self.array = images.permute(0, 2, 3, 1).contiguous().numpy()
        self.labels = labels.numpy()
        self.transform = transform
        self.views = views

    def __len__(self) -> int:
        return len(self.array)

    def __getitem__(self, index: int):
        image = Image.fromarray(self.array[index])
        views = [self.transform(image) for _ in range(self.views)]
        return (*views, int(self.labels[index]))


def _setup(method_name: str, backbone_name: str, dataset, batch: int, device: torch.device, compile: bool):
    method = METHODS.get(method_name)()
    backbone = BACKBONES.get(backbone_name)
    if backbone_name.startswith("ResNet"):
        backbone = functools.partial(backbone, cifar_stem=dataset.split("train").images.shape[-1] <= 64)
    method.setup(backbone, dataset)
    prepare_for_device(method, device, compile_backbones=compile)
    trainer = Trainer(epochs=1, batch_size=batch, progress=False, device=str(device))
    stage = next(iter(method.stages(dataset, trainer)))
    stage.evaluate = None
    return method, trainer, stage


def _timed(step: Callable[[], None], steps: int, warmup: int, device: torch.device) -> float:
    for _ in range(warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def _optimize(stage, loss: torch.Tensor) -> None:
    for optimizer in stage.optimizers:
        optimizer.zero_grad(set_to_none=True)
    loss.backward()
    for optimizer in stage.optimizers:
        optimizer.step()


def bare(method, stage, dataset, batch: int, size: int, device, steps: int, warmup: int) -> float:
    """The method's modules on ready float tensors: each encoder and head (or classifier) forward, backward."""
    views = 2 if method.registered_name in ENCODED_TWICE else 1
    x = torch.randn(views * batch, 3, size, size, device=device)
    modules = [(method.encoder, getattr(method, "head", None) or method.classifier)]
    if hasattr(method, "encoder_b"):
        modules.append((method.encoder_b, method.head_b))

    def step() -> None:
        with autocast_for(device):
            loss = sum(head(encoder(x)).float().square().mean() for encoder, head in modules)
        _optimize(stage, loss)

    return _timed(step, steps, warmup, device)


def full(stage, trainer, steps: int, warmup: int, device) -> float:
    """`train_loop` itself over warmup + steps batches; the time of the last `steps`."""
    marks: list[float] = []
    original, data = stage.step, stage.data
    stage.data = data.subset(torch.arange((warmup + steps) * stage.batch_size)) if len(data) > (
        warmup + steps) * stage.batch_size else data
    count = 0

    def counting(batch):
        nonlocal count
        if count == warmup:
            if device.type == "cuda":
                torch.cuda.synchronize()
            marks.append(time.perf_counter())
        count += 1
        return original(batch)

    stage.step, stage.epochs = counting, 1
    try:
        train_loop(stage, device, trainer.generator)
        if device.type == "cuda":
            torch.cuda.synchronize()
    finally:
        stage.step = original
    return time.perf_counter() - marks[0]


def usual(method, stage, dataset, batch: int, size: int, device, steps: int, warmup: int, workers: int) -> float:
    two = method.registered_name in TWO_VIEWS
    train = dataset.split("train")
    make = _simclr_transform if two else _supervised_transform
    items = PerItemImages(train.images, train.labels, make(size, dataset.mean, dataset.std), 2 if two else 1)
    loader = DataLoader(items, batch_size=batch, shuffle=True, drop_last=True, num_workers=workers,
                        pin_memory=device.type == "cuda", persistent_workers=workers > 0)
    batches = iter(loader)

    def step() -> None:
        nonlocal batches
        try:
            *views, labels = next(batches)
        except StopIteration:
            batches = iter(loader)
            *views, labels = next(batches)
        views = [v.to(device, non_blocking=True) for v in views]
        with autocast_for(device):
            if two:
                loss = method.views_loss(torch.cat(views))
            else:
                loss = F.cross_entropy(method.logits(views[0]), labels.to(device, non_blocking=True))
        _optimize(stage, loss)

    return _timed(step, steps, warmup, device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="SimCLR", choices=["ERM", *sorted(TWO_VIEWS), "CLAD", "CLADPlus"])
    parser.add_argument("--backbone", default="SmallCNN", choices=BACKBONES.names())
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repetitions; the median is reported")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers of the usual pipeline")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--compile", action="store_true", help="torch.compile the backbones (Trainer.compile)")
    parser.add_argument("--json", type=Path, help="append the figures to this JSON-lines file")
    args = parser.parse_args()

    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    torch.manual_seed(0)
    n = (args.warmup + args.steps) * args.batch
    dataset = SyntheticBackgrounds(image_size=args.image_size, train_size=max(n, 2 * args.batch), val_size=64,
                                   test_size=64)
    method, trainer, stage = _setup(args.method, args.backbone, dataset, args.batch, device, args.compile)
    images = args.steps * args.batch  # training images per timed run (two views each for contrastive methods)
    seconds: dict[str, list[float]] = {"bare": [], "full": [], "usual": []}
    gpu_peak: dict[str, float] = {}
    # Phases interleaved and repeated, the median kept: drift of a shared machine hits all three alike.
    # CLAD has no per-sample reference pipeline here (its positives need a donor from the same batch)
    phases = ("bare", "full") if args.method in ("CLAD", "CLADPlus") else ("bare", "full", "usual")
    seconds = {name: seconds[name] for name in phases}
    for name, measure in args.repeats * (
        ("bare", lambda: bare(method, stage, dataset, args.batch, args.image_size, device, args.steps, args.warmup)),
        ("full", lambda: full(stage, trainer, args.steps, args.warmup, device)),
        ("usual", lambda: usual(method, stage, dataset, args.batch, args.image_size, device, args.steps,
                                args.warmup, args.workers)),
    ):
        if name not in phases:
            continue
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        seconds[name].append(measure())
        if device.type == "cuda":
            gpu_peak[name] = max(gpu_peak.get(name, 0.0), torch.cuda.max_memory_allocated(device) / 2**20)
    rate = {name: images / statistics.median(times) for name, times in seconds.items()}
    figures = {
        "method": args.method, "backbone": args.backbone, "batch": args.batch, "image_size": args.image_size,
        "workers": args.workers, "steps": args.steps, "repeats": args.repeats, "compile": args.compile,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda"
        else f"cpu ({platform.machine()}, {torch.get_num_threads()} threads)",
        "images_per_s": {k: round(v, 1) for k, v in rate.items()},
        "full/bare": round(rate["full"] / rate["bare"], 3),
        "full/usual": round(rate["full"] / rate["usual"], 3) if "usual" in rate else None,
        "bare/usual": round(rate["bare"] / rate["usual"], 3) if "usual" in rate else None,
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "workers_peak_rss_mib": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024),
        "gpu_max_allocated_mib": {k: round(v) for k, v in gpu_peak.items()} or None,
    }
    def cell(value, spec):
        return "n/a" if value is None else format(value, spec)

    print(
        f"| {args.method}{' (compiled)' if args.compile else ''} | {args.backbone} | {args.batch} | "
        f"{args.image_size} | {args.workers} | {rate['bare']:.0f} | {rate['full']:.0f} | "
        f"{cell(rate.get('usual'), '.0f')} | {figures['full/bare']:.2f} | {cell(figures['full/usual'], '.2f')} | "
        f"{cell(figures['bare/usual'], '.2f')} | {figures['peak_rss_mib']} |"
    )
    if args.json:
        with open(args.json, "a") as handle:
            handle.write(json.dumps(figures, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
