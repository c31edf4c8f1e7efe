"""Images per second of one method's training step, three ways, in one process and one run:

1. bare: forward and backward of the method's own modules on float tensors already on the device, and its
   optimizer step: the practical limit;
2. full: the suite's training step through `train_loop`: uint8 batches from the dataset, augmentation on the
   device, the method's loss, the optimizer;
3. usual: the same modules and loss fed by torchvision PIL transforms in a DataLoader with worker processes,
   as the authors' code does (CIFAR-style: a uint8 array, one `Image.fromarray` per item). For CLAD, as its
   authors' loader does, each item also draws a donor of another label from the whole training set and pastes
   the anchor's object onto the donor's background with PIL (`Image.composite`) before both are transformed.

Each is timed over `--steps` steps after `--warmup` steps, on the embedded background benchmark; the three
are interleaved `--repeats` times and the best (shortest) time of each is kept, as `timeit` does: on a shared
machine other work only ever slows a repeat down (the medians go to the JSON too). Prints one
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

from benchsuite.datasets.synthetic import SyntheticBackgrounds
from benchsuite.experiment import components
from benchsuite.methods.clad_positives import background_alone
from benchsuite.registry import BACKBONES, METHODS
from benchsuite.training.host_memory import retain_freed_memory
from benchsuite.training.trainer import Trainer, autocast_for, prepare_for_device, train_loop

components.load()  # registers the built-ins

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


class PerItemCLADPairs(torch.utils.data.Dataset):
    """CLAD's usual pipeline: per item, a donor of another label drawn from the whole training set, the positive
    composed with PIL (the anchor's object on the donor's background alone), both transformed separately.

    The donor's background is the dataset's stored background image where it has one, else the donor with
    its object blacked out by its mask, as the suite's `cue_swap` does; the positive carries the donor's
    background label.
    """

    def __init__(self, split, transform) -> None:
        def hwc(images: torch.Tensor):
            return images.permute(0, 2, 3, 1).contiguous().numpy()

        self.images = hwc(split.images)
        self.masks = (split.masks.numpy() * 255).astype("uint8")
        backgrounds = split.bias_images if split.has_bias_images else background_alone(split.images, split.masks)
        self.backgrounds = hwc(backgrounds)
        self.labels = split.labels.numpy()
        self.keys = split.backgrounds.numpy()
        self.transform = transform
        self.others = {int(c): (self.labels != c).nonzero()[0] for c in set(self.labels.tolist())}

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        label = int(self.labels[index])
        others = self.others[label]
        donor = int(others[torch.randint(len(others), ()).item()])
        anchor = Image.fromarray(self.images[index])
        positive = Image.composite(anchor, Image.fromarray(self.backgrounds[donor]), Image.fromarray(self.masks[index]))
        return self.transform(anchor), self.transform(positive), label, int(self.keys[index]), int(self.keys[donor])


def _setup(method_name: str, backbone_name: str, dataset, batch: int, device: torch.device, compile: bool,
           channels_last: bool = True):
    method = METHODS.get(method_name)()
    backbone = BACKBONES.get(backbone_name)
    if backbone_name.startswith("ResNet"):
        backbone = functools.partial(backbone, cifar_stem=dataset.split("train").images.shape[-1] <= 64)
    method.setup(backbone, dataset)
    prepare_for_device(method, device, compile_backbones=compile, channels_last=channels_last)
    trainer = Trainer(epochs=1, batch_size=batch, progress=False, device=str(device))
    stage = trainer.loop(next(iter(method.stages(dataset, trainer.context))))  # as train_loop runs it, unevaluated
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
        stage.step, stage.data = original, data
    return time.perf_counter() - marks[0]


def _next(loader: DataLoader, batches):
    """The next batch of `batches`, starting a new epoch of `loader` when it runs out: (batch, batches)."""
    try:
        return next(batches), batches
    except StopIteration:
        batches = iter(loader)
        return next(batches), batches


def usual(method, stage, dataset, batch: int, size: int, device, steps: int, warmup: int, workers: int) -> float:
    train = dataset.split("train")
    name = method.registered_name
    two, clad = name in TWO_VIEWS, name in ("CLAD", "CLADPlus")
    transform = (_simclr_transform if two else _supervised_transform)(size, dataset.mean, dataset.std)
    if clad:
        items = PerItemCLADPairs(train, transform)
    else:
        items = PerItemImages(train.images, train.labels, transform, 2 if two else 1)
    loader = DataLoader(items, batch_size=batch, shuffle=True, drop_last=True, num_workers=workers,
                        pin_memory=device.type == "cuda", persistent_workers=workers > 0)
    batches = iter(loader)

    def on_device(tensors):
        return [t.to(device, non_blocking=True) for t in tensors]

    def step() -> None:
        nonlocal batches
        items, batches = _next(loader, batches)
        with autocast_for(device):
            if clad:
                anchors, positives, labels, keys, positive_keys = on_device(items)
                loss = method.pair_loss(torch.cat([anchors, positives]), labels, keys, positive_keys,
                                        torch.ones_like(labels, dtype=torch.bool))
            elif two:
                loss = method.views_loss(torch.cat(on_device(items[:-1])))
            else:
                images, labels = on_device(items)
                loss = F.cross_entropy(method.logits(images), labels)
        _optimize(stage, loss)

    return _timed(step, steps, warmup, device)


def main() -> None:
    components.load()  # the built-ins, before the choices below name them
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="SimCLR", choices=["ERM", *sorted(TWO_VIEWS), "CLAD", "CLADPlus"])
    parser.add_argument("--backbone", default="SmallCNN", choices=BACKBONES.names())
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repetitions; the best is reported")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers of the usual pipeline")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--compile", action="store_true", help="torch.compile the backbones (Trainer.compile)")
    parser.add_argument("--default-malloc", action="store_true",
                        help="leave glibc's malloc settings as they are (a CPU run changes them: host_memory.py)")
    parser.add_argument("--contiguous", action="store_true",
                        help="weights in the default memory format (Trainer.channels_last = False)")
    parser.add_argument("--json", type=Path, help="append the figures to this JSON-lines file")
    args = parser.parse_args()

    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    if device.type == "cpu" and not args.default_malloc:
        retain_freed_memory()  # as `run` does on the CPU
    torch.manual_seed(0)
    n = (args.warmup + args.steps) * args.batch
    dataset = SyntheticBackgrounds(image_size=args.image_size, train_size=max(n, 2 * args.batch), val_size=64,
                                   test_size=64)
    method, trainer, stage = _setup(args.method, args.backbone, dataset, args.batch, device, args.compile,
                                    channels_last=not args.contiguous)
    images = args.steps * args.batch  # training images per timed run (two views each for contrastive methods)
    seconds: dict[str, list[float]] = {"bare": [], "full": [], "usual": []}
    gpu_peak: dict[str, float] = {}
    phases = {
        "bare": lambda steps, warmup: bare(method, stage, dataset, args.batch, args.image_size, device, steps, warmup),
        "full": lambda steps, warmup: full(stage, trainer, steps, warmup, device),
        "usual": lambda steps, warmup: usual(method, stage, dataset, args.batch, args.image_size, device, steps,
                                             warmup, args.workers),
    }
    # One untimed step of each phase first: the first phase to run otherwise pays for the allocator's and the
    # kernels' first use. Then the phases interleaved and repeated, the best kept: drift of a shared machine
    # hits all three alike, and interference only ever makes a repeat slower.
    for measure in phases.values():
        measure(1, 0)
    for name in args.repeats * tuple(phases):
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        seconds[name].append(phases[name](args.steps, args.warmup))
        if device.type == "cuda":
            gpu_peak[name] = max(gpu_peak.get(name, 0.0), torch.cuda.max_memory_allocated(device) / 2**20)
    rate = {name: images / min(times) for name, times in seconds.items()}
    median_rate = {name: images / statistics.median(times) for name, times in seconds.items()}
    figures = {
        "method": args.method, "backbone": args.backbone, "batch": args.batch, "image_size": args.image_size,
        "workers": args.workers, "steps": args.steps, "repeats": args.repeats, "compile": args.compile,
        "channels_last": not args.contiguous, "retained_freed_memory": device.type == "cpu" and not args.default_malloc,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda"
        else f"cpu ({platform.machine()}, {torch.get_num_threads()} threads)",
        "images_per_s": {k: round(v, 1) for k, v in rate.items()},
        "median_images_per_s": {k: round(v, 1) for k, v in median_rate.items()},
        "full/bare": round(rate["full"] / rate["bare"], 3),
        "full/usual": round(rate["full"] / rate["usual"], 3),
        "bare/usual": round(rate["bare"] / rate["usual"], 3),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "workers_peak_rss_mib": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024),
        "gpu_max_allocated_mib": {k: round(v) for k, v in gpu_peak.items()} or None,
    }
    print(
        f"| {args.method}{' (compiled)' if args.compile else ''}{' (contiguous)' if args.contiguous else ''}"
        f"{' (default malloc)' if args.default_malloc else ''} | "
        f"{args.backbone} | {args.batch} | "
        f"{args.image_size} | {args.workers} | {rate['bare']:.0f} | {rate['full']:.0f} | "
        f"{rate['usual']:.0f} | {figures['full/bare']:.2f} | {figures['full/usual']:.2f} | "
        f"{figures['bare/usual']:.2f} | {figures['peak_rss_mib']} |"
    )
    if args.json:
        with open(args.json, "a") as handle:
            handle.write(json.dumps(figures, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
