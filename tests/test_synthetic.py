"""The embedded benchmark's invariants: masks, bias shares, test variants, groups, determinism, cache."""

from __future__ import annotations

import pytest
import torch

from benchsuite.datasets.synthetic import SyntheticBackgrounds, SyntheticTexture, SyntheticWaterbirds
from benchsuite.errors import ConfigError

SMALL = {"image_size": 16, "train_size": 600, "val_size": 200, "test_size": 200}


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("synthetic"))


@pytest.fixture(scope="module")
def backgrounds(cache):
    return SyntheticBackgrounds(**SMALL, cache_dir=cache)


@pytest.fixture(scope="module")
def texture(cache):
    return SyntheticTexture(**SMALL, cache_dir=cache)


@pytest.fixture(scope="module")
def waterbirds(cache):
    return SyntheticWaterbirds(**SMALL, cache_dir=cache)


def _within_binomial(share: float, p: float, n: int, sigmas: float = 4.0) -> bool:
    return abs(share - p) <= sigmas * (p * (1 - p) / n) ** 0.5


def test_every_split_is_well_formed(backgrounds, texture, waterbirds):
    for dataset in (backgrounds, texture, waterbirds):
        for name in ("train", *dataset.eval_splits):
            split = dataset.split(name)
            assert split.images.dtype == torch.uint8 and split.images.shape[1:] == (3, 16, 16)
            assert split.masks.shape == (len(split), 16, 16) and split.masks.dtype == torch.bool
            assert split.groups.min() >= 0 and split.groups.max() < dataset.num_groups
            assert split.labels.max() < dataset.num_classes


def test_the_mask_covers_the_digit_exactly(backgrounds):
    test, only_fg, mixed = (backgrounds.split(n) for n in ("test", "only_fg", "mixed_rand"))
    # the variants share the test split's digits: same masks, same foreground pixels, other backgrounds
    assert torch.equal(test.masks, only_fg.masks) and torch.equal(test.masks, mixed.masks)
    inside = test.masks.unsqueeze(1).expand_as(test.images)
    assert torch.equal(test.images[inside], only_fg.images[inside])
    assert (only_fg.images[~inside] == 0).all()
    # the foreground is near-white, so every masked pixel is bright and the mask is not empty
    assert (only_fg.images[inside] >= 0.9 * 255 - 1).all()
    assert test.masks.flatten(1).sum(1).min() > 5


@pytest.mark.parametrize("agreement", [0.9, 0.5])
def test_background_share_is_as_configured(cache, agreement):
    train = SyntheticBackgrounds(**SMALL, background_agreement=agreement, cache_dir=cache).split("train")
    share = (train.backgrounds == train.labels).float().mean().item()
    assert _within_binomial(share, agreement, len(train))


def test_waterbirds_share_and_balanced_evaluation(waterbirds):
    train = waterbirds.split("train")
    assert _within_binomial((train.backgrounds == train.labels).float().mean().item(), 0.95, len(train))
    assert torch.equal(train.groups, 2 * train.labels + train.backgrounds)
    for name in ("val", "test"):
        assert torch.bincount(waterbirds.split(name).groups, minlength=4).tolist() == [50] * 4
    assert waterbirds.aligned_groups == frozenset({0, 3})


def test_background_variants_are_what_their_names_say(backgrounds):
    same, rand, only_bg = (backgrounds.split(n) for n in ("mixed_same", "mixed_rand", "only_bg_t"))
    assert torch.equal(same.backgrounds, same.labels)
    assert _within_binomial((rand.backgrounds == rand.labels).float().mean().item(), 0.1, len(rand))
    assert len(rand.backgrounds.unique()) == 10
    assert not only_bg.masks.any()
    assert torch.equal(only_bg.labels, only_bg.backgrounds)
    # Only-BG-T holds the Original test images' backgrounds: equal to the test images off the digit
    test = backgrounds.split("test")
    outside = ~test.masks.unsqueeze(1).expand_as(test.images)
    assert torch.equal(only_bg.images[outside], test.images[outside])
    assert torch.equal(only_bg.backgrounds, test.backgrounds)


def test_groups_follow_their_formula(backgrounds, texture):
    for dataset in (backgrounds, texture):
        for name in ("train", "test"):
            split = dataset.split(name)
            assert torch.equal(split.groups, 2 * split.labels + (split.backgrounds != split.labels).long())


def test_texture_cue_splits(texture):
    aligned, conflict = texture.split("cue_aligned"), texture.split("cue_conflict")
    assert torch.equal(aligned.backgrounds, aligned.labels)
    assert (conflict.backgrounds != conflict.labels).all()
    assert torch.equal(aligned.masks, conflict.masks)
    # the texture lives on the digit only: off the mask both are the same plain gray (up to noise)
    off = ~aligned.masks.unsqueeze(1).expand_as(aligned.images)
    assert (aligned.images[off].float() - 127.5).abs().mean() < 15
    train = texture.split("train")
    assert _within_binomial((train.backgrounds == train.labels).float().mean().item(), 0.9, len(train))


def test_same_seed_same_data_other_seed_different(tmp_path):
    first = SyntheticTexture(**SMALL, cache_dir=str(tmp_path / "a")).split("train")
    again = SyntheticTexture(**SMALL, cache_dir=str(tmp_path / "b")).split("train")
    other = SyntheticTexture(**SMALL, seed=1, cache_dir=str(tmp_path / "a")).split("train")
    assert torch.equal(first.images, again.images) and torch.equal(first.labels, again.labels)
    assert not torch.equal(first.images, other.images)


def test_the_cache_is_written_and_reused(tmp_path):
    built = SyntheticWaterbirds(**SMALL, cache_dir=str(tmp_path)).split("test")
    (file,) = tmp_path.iterdir()
    assert file.name.startswith("SyntheticWaterbirds-") and file.suffix == ".pt"
    stamp = file.stat().st_mtime_ns
    loaded = SyntheticWaterbirds(**SMALL, cache_dir=str(tmp_path)).split("test")
    assert file.stat().st_mtime_ns == stamp and len(list(tmp_path.iterdir())) == 1
    assert torch.equal(built.images, loaded.images) and torch.equal(built.masks, loaded.masks)


def test_unknown_split_and_bad_share_are_clear_errors(backgrounds):
    with pytest.raises(ConfigError, match=r"SyntheticBackgrounds has no split 'mixed'.*mixed_same, mixed_rand"):
        backgrounds.split("mixed")
    with pytest.raises(ConfigError, match=r"background_agreement = 1.5"):
        SyntheticBackgrounds(background_agreement=1.5)
