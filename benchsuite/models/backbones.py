"""Backbones (feature extractors) and projection heads.

A backbone maps a normalised float batch (B, C, H, W) to pooled features (B, feature_dim). Methods build
as many as they need from the factory that gin binds (`run.backbone = @ResNet18`), e.g. WCL's two
encoders. ResNets come from torchvision; the CIFAR stem (3x3 stride-1 first convolution, no max-pool) is
the one the WCL, DCL and HCL authors use on 32x32 images. Pretrained weights load from a local file in
torchvision's state-dict format: nothing is downloaded. A relative path is looked for in the working
directory, then under the data root $BENCHSUITE_DATA (the paper experiments' gin files name
weights/resnet18-imagenet1k-v1.pth and weights/resnet50-imagenet1k-v1.pth there).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torchvision
from torch import Tensor, nn

from benchsuite.datasets.locating import data_root
from benchsuite.errors import ConfigError
from benchsuite.registry import BACKBONES


class Backbone(nn.Module):
    """Base class: `forward` returns pooled features of width `feature_dim`; `initial_weights` says where the
    starting weights came from (the run record names it)."""

    feature_dim: int
    initial_weights: str = "random"


def _weights_file(path: str) -> tuple[Path, list[Path]]:
    """The weights file: `path` itself, or a relative path under $BENCHSUITE_DATA (where gin files of the paper
    experiments expect weights/<name>.pth); also every place looked at, for the error."""
    file = Path(path).expanduser()
    candidates = [file]
    if not file.is_absolute() and data_root() is not None:
        candidates.append(data_root() / file)
    return next((c for c in candidates if c.is_file()), file), candidates


def _load_torchvision_weights(model: nn.Module, path: str, binding: str) -> None:
    file, candidates = _weights_file(path)
    if not file.is_file():
        looked = " and ".join(f"'{c}'" for c in candidates)
        raise ConfigError(
            f"Pretrained weights not found at {looked} (gin binding {binding}; a relative path is also looked "
            "for under $BENCHSUITE_DATA). Nothing is downloaded: save "
            "torchvision's ImageNet weights on a machine with internet (e.g. torchvision.models."
            f"{binding.split('.')[0]}_Weights.IMAGENET1K_V1.get_state_dict()) with torch.save, copy the file here, "
            f"and point {binding} at it, or set it to None to train from scratch."
        )
    state = torch.load(file, map_location="cpu", weights_only=True)
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}  # the classifier is replaced anyway
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
        missing = [key for key in missing if not key.startswith("fc.")]
        problem = f"missing {missing[:3]}, unexpected {unexpected[:3]}" if missing or unexpected else ""
    except RuntimeError as error:  # shapes differ
        problem = str(error).splitlines()[1].strip() if len(str(error).splitlines()) > 1 else str(error)
    if problem:
        raise ConfigError(
            f"The weights in '{file}' (gin binding {binding}) do not fit this backbone ({problem}). Use a "
            "torchvision state dict of the same architecture."
        )


class _TorchvisionResNet(Backbone):
    _constructor = None
    _name = ""

    def __init__(self, cifar_stem: bool = False, pretrained_path: str | None = None) -> None:
        super().__init__()
        net = type(self)._constructor(weights=None)
        if pretrained_path is not None:
            _load_torchvision_weights(net, pretrained_path, f"{self._name}.pretrained_path")
            self.initial_weights = f"torchvision state dict {pretrained_path}"
        if cifar_stem:
            # 32x32 inputs: a 7x7 stride-2 stem and max-pool would leave a 1x1 map after layer4.
            net.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
            net.maxpool = nn.Identity()
        self.feature_dim = net.fc.in_features
        net.fc = nn.Identity()
        self.net = net

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


@BACKBONES.register("ResNet18")
class ResNet18(_TorchvisionResNet):
    """torchvision ResNet-18 (512-d features)."""

    _constructor = staticmethod(torchvision.models.resnet18)
    _name = "ResNet18"


@BACKBONES.register("ResNet50")
class ResNet50(_TorchvisionResNet):
    """torchvision ResNet-50 (2048-d features)."""

    _constructor = staticmethod(torchvision.models.resnet50)
    _name = "ResNet50"


@BACKBONES.register("SmallCNN")
class SmallCNN(Backbone):
    """Four 3x3 conv blocks (BN, ReLU, max-pool after each of the first three) and global average pooling.

    Sized for CPU runs on 16-32 px images: a run on the embedded benchmark takes about a minute on 2 cores.
    pretrained: where its starting weights come from (the embedded benchmarks bind
    `SmallCNN.pretrained = @EmbeddedPretraining()`, benchsuite/training/pretraining.py); None: a random initialisation.
    """

    def __init__(self, width: int = 32, in_channels: int = 3, pretrained=None) -> None:
        super().__init__()
        #: the constructor's arguments that fix the architecture (pretraining rebuilds it from them)
        self.config = {"width": width, "in_channels": in_channels}
        widths = [width, 2 * width, 4 * width, 4 * width]
        layers: list[nn.Module] = []
        previous = in_channels
        for i, w in enumerate(widths):
            layers += [nn.Conv2d(previous, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
            if i < 3:
                layers.append(nn.MaxPool2d(2))
            previous = w
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.net = nn.Sequential(*layers)
        self.feature_dim = widths[-1]
        self.initial_weights = pretrained.load_into(self) if pretrained is not None else "random"

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


def projection_head(in_dim: int, hidden_dim: int, out_dim: int) -> nn.Sequential:
    """SimCLR's MLP head: Linear, BatchNorm, ReLU, Linear (the WCL code's 2048 -> 512 -> 128 on CIFAR)."""
    return nn.Sequential(
        nn.Linear(in_dim, hidden_dim, bias=False),
        nn.BatchNorm1d(hidden_dim),
        nn.ReLU(inplace=True),
        nn.Linear(hidden_dim, out_dim),
    )
