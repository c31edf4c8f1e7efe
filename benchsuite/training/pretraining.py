"""The embedded benchmarks' pretrained starting point: the analogue of the papers' ImageNet-pretrained backbones.

The papers never train their Waterbirds, CelebA or ImageNet-9 encoders from scratch: WCL, JTT and CLAD start from
ImageNet weights, which already separate the objects they will be asked about, and the debiasing then happens
on top of them. From scratch on the embedded benchmarks, a contrastive encoder learns the background (the
easiest cue that tells two images apart) and little else, and every self-supervised method ends at the same
background-only floor, whatever it does about the bias.

`EmbeddedPretraining` learns such a start once: the backbone with a linear head, trained with cross-entropy to
name the digit on `synthetic.unbiased_digits` images (the training pool's digits, white or textured, on every
background family, each cue independent of the label). It is disjoint from every benchmark's validation and test
images and carries no benchmark's bias. What it may leak: the digit identities are the labels of
SyntheticBackgrounds and SyntheticTexture and decide SyntheticWaterbirds' labels, so a pretrained encoder starts
out knowing the classes, as an ImageNet encoder knows birds; and it has seen the training pool's digits. The
pools are those of the benchmarks' default dataset seed (0): a benchmark generated with another `<Dataset>.seed`
splits the digits differently, and its validation and test digits may then be among those the pretraining saw.

The weights are built on first use, deterministically from the settings, and cached under
$BENCHSUITE_CACHE/pretrained/ with a hash of everything that made them (the backbone's class and configuration,
the settings, the data generator's version) in the file name; a lock makes parallel runs build them once. Every
run record names them (`initial_weights`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

import gin
import torch
import torch.nn.functional as F
from filelock import FileLock
from torch import Tensor, nn

from benchsuite import records
from benchsuite.datasets.splits import Batch, TensorSplit
from benchsuite.datasets.synthetic import GENERATOR_VERSION, cache_root, unbiased_digits
from benchsuite.training.augment import SupervisedAugment, normalize
from benchsuite.training.trainer import Loop, train_loop

#: bump when the recipe changes, so that cached weights made by an older recipe are not reused
RECIPE_VERSION = 1
_MEAN = _STD = (0.5, 0.5, 0.5)  # the embedded datasets' normalisation (datasets.base.Dataset)


@gin.configurable
class EmbeddedPretraining:
    """Digit classification on unbiased images: `images` images of `image_size` px, `epochs` epochs of Adam at
    `lr`, batch `batch_size`, crop-and-flip augmentation, all from `seed`."""

    def __init__(
        self,
        images: int = 5000,
        image_size: int = 32,
        epochs: int = 6,
        batch_size: int = 128,
        lr: float = 1e-3,
        seed: int = 0,
        cache_dir: str | None = None,
    ) -> None:
        self.settings = {
            "images": images, "image_size": image_size, "epochs": epochs, "batch_size": batch_size, "lr": lr,
            "seed": seed,
        }
        self.cache_dir = cache_dir

    def identity(self, backbone: nn.Module) -> tuple[str, dict]:
        """(hash, what it hashes) of the weights this recipe makes for `backbone`'s architecture."""
        made_of = {
            "recipe": RECIPE_VERSION, "generator": GENERATOR_VERSION, "backbone": type(backbone).__name__,
            "config": backbone.config, **self.settings,
        }
        return hashlib.sha256(json.dumps(made_of, sort_keys=True).encode()).hexdigest()[:12], made_of

    def describe(self, backbone: nn.Module) -> str:
        digest, made_of = self.identity(backbone)
        return (
            f"EmbeddedPretraining {digest}: {made_of['backbone']}{made_of['config']} trained "
            f"{self.settings['epochs']} epochs to name the digit on {self.settings['images']} unbiased images"
        )

    def load_into(self, backbone: nn.Module) -> str:
        """Load the pretrained weights into `backbone` (built and cached first if needed); their description."""
        digest, _ = self.identity(backbone)
        file = cache_root(self.cache_dir) / "pretrained" / f"{type(backbone).__name__}-{digest}.pt"
        file.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(file) + ".lock"):
            if not file.exists():
                state = self.train(lambda: type(backbone)(**backbone.config, pretrained=None))
                records.write_atomic(file, lambda out: torch.save(state, out), "pretraining_cache")
        backbone.load_state_dict(torch.load(file, map_location="cpu", weights_only=True))
        return self.describe(backbone)

    def train(self, make_backbone: Callable[[], nn.Module]) -> dict[str, Tensor]:
        """Train a backbone from `make_backbone` (not itself pretrained) with a linear head on the pretraining
        images; its state dict. Every random draw comes from the recipe's seed, none from the caller's state."""
        settings = self.settings
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(settings["seed"])
            backbone = make_backbone()
            head = nn.Linear(backbone.feature_dim, 10)
        images, labels = unbiased_digits(settings["images"], settings["image_size"], settings["seed"])
        model = nn.Sequential(backbone, head)
        augment = SupervisedAugment()

        def step(batch: Batch) -> Tensor:
            return F.cross_entropy(model(normalize(augment(batch["image"]), _MEAN, _STD)), batch["label"])

        optimizer = torch.optim.Adam(model.parameters(), lr=settings["lr"])
        data = TensorSplit(images, labels, labels.clone())
        loop = Loop("pretraining", model, step, data, settings["epochs"], settings["batch_size"], [optimizer],
                    local=True)
        generator = torch.Generator().manual_seed(settings["seed"])
        with torch.random.fork_rng(devices=[]):  # kornia draws from the global RNG: keep the caller's untouched
            torch.manual_seed(settings["seed"])
            train_loop(loop, torch.device("cpu"), generator)
        model.eval()
        return backbone.state_dict()
