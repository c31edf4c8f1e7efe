"""Tests of benchsuite.training.augment: per-image random draws, output range and shape, seeding, exact identities."""

from __future__ import annotations

import gin
import pytest
import torch
import torchvision.transforms.v2 as T
from torch import Tensor

from benchsuite.training.augment import ContrastiveAugment, NoAugment, SupervisedAugment, normalize, to_unit_float

BATCH = 16


def structured_image(size: int = 32) -> Tensor:
    """(3, size, size) uint8 with a horizontal gradient, a vertical gradient and an off-centre square,
    so that crops, flips and colour changes all change the pixels."""
    ramp = torch.linspace(0, 255, size)
    image = torch.stack([ramp.expand(size, size), ramp.unsqueeze(1).expand(size, size), torch.zeros(size, size)])
    image[:, 4:12, 18:28] = torch.tensor([255.0, 40.0, 200.0]).view(3, 1, 1)
    return image.round().to(torch.uint8)


def identical_batch(size: int = 32) -> Tensor:
    return structured_image(size).expand(BATCH, -1, -1, -1).contiguous()


def min_pairwise_distance(batch: Tensor) -> float:
    flat = batch.flatten(1).double()
    distances = torch.cdist(flat, flat)
    distances.fill_diagonal_(float("inf"))
    return distances.min().item()


def test_contrastive_augment_draws_per_image() -> None:
    torch.manual_seed(0)
    out = ContrastiveAugment()(identical_batch())
    assert min_pairwise_distance(out) > 1e-2  # no two images of the batch got the same crop and jitter


def test_torchvision_v2_on_a_batch_tensor_draws_once_for_the_whole_batch() -> None:
    # why kornia: the same recipe with torchvision v2 on a batch tensor gives every image the same draw
    recipe = T.Compose(
        [
            T.RandomResizedCrop(32, scale=(0.08, 1.0)),
            T.RandomHorizontalFlip(),
            T.RandomApply([T.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
            T.RandomGrayscale(p=0.2),
        ]
    )
    torch.manual_seed(0)
    out = recipe(to_unit_float(identical_batch()))
    assert torch.equal(out, out[:1].expand_as(out))
    assert not torch.equal(out[0], to_unit_float(structured_image()))  # it did augment, just identically


def test_supervised_augment_draws_per_image_and_outputs_exact_padded_crops() -> None:
    padding, size = 4, 32
    torch.manual_seed(0)
    out = SupervisedAugment(padding=padding)(identical_batch(size))
    padded = torch.nn.functional.pad(to_unit_float(structured_image(size)), [padding] * 4)
    candidates = torch.stack(
        [
            crop.flip(-1) if flip else crop
            for dy in range(2 * padding + 1)
            for dx in range(2 * padding + 1)
            for crop in [padded[:, dy : dy + size, dx : dx + size]]
            for flip in (False, True)
        ]
    )
    # every output is one of the 81 shifts x 2 flips, and the 16 images do not share one draw
    matches = (out.flatten(1)[:, None] - candidates.flatten(1)[None]).abs().amax(-1) < 1e-6
    assert matches.any(dim=1).all()
    assert len({tuple(row.nonzero().flatten().tolist()) for row in matches}) >= 8


@pytest.mark.parametrize(
    "augment", [ContrastiveAugment(), SupervisedAugment(), NoAugment()], ids=lambda m: type(m).__name__
)
@pytest.mark.parametrize("shape", [(8, 3, 24, 40), (8, 1, 28, 28)])
def test_outputs_are_unit_float_with_the_input_shape(augment: torch.nn.Module, shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    images = torch.randint(0, 256, shape, dtype=torch.uint8)
    out = augment(images)
    assert out.dtype == torch.float32 and out.shape == images.shape
    assert out.min() >= 0.0 and out.max() <= 1.0


@pytest.mark.parametrize("make", [ContrastiveAugment, SupervisedAugment], ids=lambda c: c.__name__)
def test_same_seed_same_outputs_other_seed_other_outputs(make: type[torch.nn.Module]) -> None:
    augment, images = make(), identical_batch()
    runs = []
    for seed in (3, 3, 4):
        torch.manual_seed(seed)
        runs.append(augment(images))
    assert torch.equal(runs[0], runs[1])
    assert not torch.equal(runs[0], runs[2])


@pytest.mark.parametrize("make", [ContrastiveAugment, SupervisedAugment], ids=lambda c: c.__name__)
def test_outputs_stay_float32_under_autocast(make: type[torch.nn.Module]) -> None:
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert make()(identical_batch()).dtype == torch.float32


def test_supervised_augment_without_padding_or_flip_is_the_identity() -> None:
    torch.manual_seed(0)
    images = torch.randint(0, 256, (BATCH, 3, 20, 20), dtype=torch.uint8)
    assert torch.equal(SupervisedAugment(padding=0, flip_p=0.0)(images), images.float() / 255)


def test_contrastive_augment_arguments_reach_the_ops() -> None:
    images = identical_batch()
    flip_only = ContrastiveAugment(
        crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), flip_p=1.0, jitter_p=0.0, grayscale_p=0.0
    )
    assert torch.allclose(flip_only(images), to_unit_float(images).flip(-1), atol=1e-6)

    gray = ContrastiveAugment(jitter_p=0.0, grayscale_p=1.0)(images)
    assert torch.allclose(gray[:, 0], gray[:, 1]) and torch.allclose(gray[:, 1], gray[:, 2])


def test_seeing_a_new_size_does_not_change_the_state_dict() -> None:
    augment = ContrastiveAugment()
    before = set(augment.state_dict())
    augment(identical_batch(32))
    augment(identical_batch(24))
    assert set(augment.state_dict()) == before


def test_to_unit_float_rejects_float_input() -> None:
    with pytest.raises(TypeError, match="uint8"):
        to_unit_float(torch.rand(1, 3, 4, 4))


def test_normalize_per_channel() -> None:
    x = torch.tensor([1.0, 0.5, 0.25]).view(1, 3, 1, 1).expand(2, 3, 2, 2)
    out = normalize(x, (0.5, 0.25, 0.0), (0.5, 0.25, 2.0))
    # channel 0: (1 - 0.5) / 0.5 = 1; channel 1: (0.5 - 0.25) / 0.25 = 1; channel 2: (0.25 - 0) / 2 = 0.125
    assert torch.equal(out, torch.tensor([1.0, 1.0, 0.125]).view(1, 3, 1, 1).expand(2, 3, 2, 2))


def test_gin_binds_constructor_arguments() -> None:
    try:
        gin.bind_parameter("SupervisedAugment.padding", 0)
        gin.bind_parameter("ContrastiveAugment.grayscale_p", 1.0)
        assert SupervisedAugment().padding == 0
        gray = ContrastiveAugment()(identical_batch())
        assert torch.allclose(gray[:, 0], gray[:, 2])
    finally:
        gin.clear_config()
