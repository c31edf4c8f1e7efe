"""The embedded benchmark's invariants: masks, bias shares, test variants, groups, determinism, cache."""

from __future__ import annotations

import pytest
import torch

from benchsuite.datasets import synthetic
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


def _share(split) -> float:
    """The share of images whose background (or texture) is their class's own."""
    return (split.backgrounds == split.labels).float().mean().item()


def _within_binomial(share: float, p: float, n: int, sigmas: float = 4.0) -> bool:
    return abs(share - p) <= sigmas * (p * (1 - p) / n) ** 0.5


def test_every_split_is_well_formed(backgrounds, texture, waterbirds):
    for dataset in (backgrounds, texture, waterbirds):
        for name in ("train", *dataset.eval_splits):
            split = dataset.split(name)
            assert split.images.dtype == torch.uint8 and split.images.shape[1:] == (3, 16, 16)
            assert split.masks.shape == (len(split), 16, 16) and split.masks.dtype == torch.bool
            assert split.groups.min() >= 0 and split.groups.max() < dataset.num_groups
            assert split.labels.min() >= 0 and split.labels.max() < dataset.num_classes
            assert split.backgrounds.min() >= 0
        assert len(dataset.split("train")) == 600 and len(dataset.split("test")) == 200
        assert dataset.image_shape == (3, 16, 16)


def test_digit_pools_are_disjoint_and_stratified():
    _, labels = synthetic._load_digits()
    pools = synthetic._pool_indices(labels, seed=0)
    together = torch.cat(list(pools.values()))
    assert len(together) == len(labels) == 1797 and len(together.unique()) == 1797
    for name, share in (("train", 0.6), ("val", 0.2), ("test", 0.2)):
        counts = torch.bincount(labels[pools[name]], minlength=10).float()
        assert ((counts - share * torch.bincount(labels, minlength=10)).abs() <= 1).all(), name


def test_the_mask_covers_the_digit_exactly(backgrounds):
    test, only_fg, mixed = (backgrounds.split(n) for n in ("test", "only_fg", "mixed_rand"))
    # the variants share the test split's digits: same masks, same foreground pixels, other backgrounds
    assert torch.equal(test.masks, only_fg.masks) and torch.equal(test.masks, mixed.masks)
    inside = test.masks.unsqueeze(1).expand_as(test.images)
    assert torch.equal(test.images[inside], only_fg.images[inside])
    assert torch.equal(test.images[inside], mixed.images[inside])
    assert (only_fg.images[~inside] == 0).all()
    # the foreground is near-white, so every masked pixel is bright, and the mask is never empty
    assert (only_fg.images[inside] >= 0.9 * 255 - 1).all()
    assert test.masks.flatten(1).sum(1).min() > 5
    # and the backgrounds do change off the mask, so the equality above is not trivial
    assert not torch.equal(test.images[~inside], mixed.images[~inside])


@pytest.mark.parametrize("agreement", [0.9, 0.5])
def test_background_share_is_as_configured(cache, agreement):
    dataset = SyntheticBackgrounds(**SMALL, background_agreement=agreement, cache_dir=cache)
    for name in ("train", "val", "test"):
        split = dataset.split(name)
        assert _within_binomial(_share(split), agreement, len(split)), name
    # the other backgrounds are spread over the other classes, not one fixed "wrong" class per digit
    train = dataset.split("train")
    other = train.backgrounds[train.backgrounds != train.labels]
    assert len(other.unique()) == 10


def test_waterbirds_share_and_balanced_evaluation(waterbirds):
    train = waterbirds.split("train")
    assert _within_binomial(_share(train), 0.95, len(train))
    assert torch.equal(train.groups, 2 * train.labels + train.backgrounds)
    for name in ("val", "test"):
        split = waterbirds.split(name)
        assert torch.bincount(split.groups, minlength=4).tolist() == [50] * 4
        assert torch.equal(split.groups, 2 * split.labels + split.backgrounds)
    assert waterbirds.aligned_groups == frozenset({0, 3})
    assert waterbirds.group_name(2) == "5-9 on place 0"


def test_waterbirds_classes_are_balanced_and_the_share_follows_the_argument(cache):
    train = SyntheticWaterbirds(**SMALL, background_agreement=0.5, cache_dir=cache).split("train")
    # five digits per class, drawn uniformly from a stratified pool: about half the images in each class
    assert _within_binomial(train.labels.float().mean().item(), 0.5, len(train))
    assert _within_binomial(_share(train), 0.5, len(train))


def test_background_variants_are_what_their_names_say(backgrounds):
    test = backgrounds.split("test")
    same, rand, only_fg, only_bg = (backgrounds.split(n) for n in ("mixed_same", "mixed_rand", "only_fg", "only_bg_t"))
    assert torch.equal(same.backgrounds, same.labels) and (same.groups % 2 == 0).all()
    # Mixed-Same draws a new background instance of the same family, not the Original's one
    outside = ~test.masks.unsqueeze(1).expand_as(test.images)
    assert not torch.equal(same.images[outside], test.images[outside])
    # Mixed-Rand: uniform over the 10 families, whatever the label
    assert _within_binomial(_share(rand), 0.1, len(rand))
    counts = torch.bincount(rand.backgrounds, minlength=10).float()
    assert ((counts - len(rand) / 10).abs() <= 4 * (len(rand) * 0.09) ** 0.5).all()
    # Only-FG keeps the Original's labels
    assert torch.equal(only_fg.backgrounds, test.backgrounds) and torch.equal(only_fg.groups, test.groups)
    # Only-BG-T: the Original test images' backgrounds alone, labelled by their family, with no foreground
    assert not only_bg.masks.any()
    assert torch.equal(only_bg.labels, only_bg.backgrounds) and torch.equal(only_bg.backgrounds, test.backgrounds)
    assert torch.equal(only_bg.images[outside], test.images[outside])
    assert not torch.equal(only_bg.images, test.images)
    assert backgrounds.group_name(7) == "digit 3 / other background"


def test_groups_follow_their_formula(backgrounds, texture):
    for dataset in (backgrounds, texture):
        for name in ("train", *dataset.eval_splits):
            split = dataset.split(name)
            assert torch.equal(split.groups, 2 * split.labels + (split.backgrounds != split.labels).long()), name


def test_texture_cue_splits(texture):
    aligned, conflict, test = texture.split("cue_aligned"), texture.split("cue_conflict"), texture.split("test")
    assert torch.equal(aligned.backgrounds, aligned.labels)
    assert (conflict.backgrounds != conflict.labels).all() and len(conflict.backgrounds.unique()) == 10
    assert torch.equal(aligned.masks, conflict.masks) and torch.equal(aligned.masks, test.masks)
    # the texture lives on the digit only: off the mask both are the same plain gray (up to noise) ...
    off = ~aligned.masks.unsqueeze(1).expand_as(aligned.images)
    assert (aligned.images[off].float() - 127.5).abs().mean() < 15
    assert (conflict.images[off].float() - 127.5).abs().mean() < 15
    # ... and on the digit the texture differs between the aligned and the conflicting image
    on = ~off
    assert (aligned.images[on].float() - conflict.images[on].float()).abs().mean() > 20
    for name in ("train", "test"):
        assert _within_binomial(_share(texture.split(name)), 0.9, len(texture.split(name))), name
    other = SyntheticTexture(**SMALL, texture_agreement=0.3, cache_dir=texture.cache_dir).split("train")
    assert _within_binomial(_share(other), 0.3, len(other))


def test_same_seed_same_data_other_seed_different(tmp_path):
    # the dataset seed alone decides the data: the global torch seed (the training seed) does not matter
    torch.manual_seed(1)
    first = SyntheticTexture(**SMALL, cache_dir=str(tmp_path / "a")).split("train")
    torch.manual_seed(2)
    again = SyntheticTexture(**SMALL, cache_dir=str(tmp_path / "b")).split("train")
    other = SyntheticTexture(**SMALL, seed=1, cache_dir=str(tmp_path / "a")).split("train")
    for field in ("images", "labels", "groups", "backgrounds", "masks"):
        assert torch.equal(getattr(first, field), getattr(again, field)), field
    assert not torch.equal(first.images, other.images)


def test_the_cache_is_written_lazily_and_reused(tmp_path):
    dataset = SyntheticWaterbirds(**SMALL, cache_dir=str(tmp_path))
    assert list(tmp_path.iterdir()) == []  # nothing is generated before the first split
    built = dataset.split("test")
    (file,) = tmp_path.iterdir()
    assert file.name.startswith(f"SyntheticWaterbirds-v{synthetic.GENERATOR_VERSION}-") and file.suffix == ".pt"
    stamp = file.stat().st_mtime_ns
    loaded = SyntheticWaterbirds(**SMALL, cache_dir=str(tmp_path)).split("test")
    assert file.stat().st_mtime_ns == stamp and len(list(tmp_path.iterdir())) == 1
    assert torch.equal(built.images, loaded.images) and torch.equal(built.masks, loaded.masks)
    assert torch.equal(built.groups, loaded.groups)
    # other arguments, other file
    SyntheticWaterbirds(**SMALL, background_agreement=0.9, cache_dir=str(tmp_path)).split("test")
    assert len(list(tmp_path.iterdir())) == 2


def test_the_cache_directory_defaults_to_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCHSUITE_CACHE", str(tmp_path))
    SyntheticBackgrounds(**SMALL).split("train")
    assert [f.name.split("-")[0] for f in tmp_path.iterdir()] == ["SyntheticBackgrounds"]


def test_unknown_split_and_bad_arguments_are_clear_errors(tmp_path):
    dataset = SyntheticBackgrounds(**SMALL, cache_dir=str(tmp_path))
    with pytest.raises(ConfigError, match=r"SyntheticBackgrounds has no split 'mixed'.*mixed_same, mixed_rand"):
        dataset.split("mixed")
    assert list(tmp_path.iterdir()) == []  # a typo costs no generation
    with pytest.raises(ConfigError, match=r"background_agreement = 1.5"):
        SyntheticBackgrounds(background_agreement=1.5)
    with pytest.raises(ConfigError, match=r"image_size = 4"):
        SyntheticTexture(image_size=4)
    with pytest.raises(ConfigError, match=r"val_size = 2"):
        SyntheticWaterbirds(val_size=2)
