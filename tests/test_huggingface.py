"""The Hugging Face adapter on a local parquet dataset and a local image folder, and its offline message."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from benchsuite.datasets.decoding import Preprocess
from benchsuite.datasets.huggingface import HuggingFaceDataset
from benchsuite.datasets.locating import DATA_ENV
from benchsuite.errors import ConfigError
from tests import fixtures

PARQUET_COLUMNS = {"image": "img", "label": "y", "group": "group", "background": "place"}


def counts(dataset, name):
    split = dataset.split(name)
    return {"n": len(split), "labels": Counter(split.labels.tolist()), "groups": Counter(split.groups.tolist())}


@pytest.fixture
def cache(tmp_path):
    return str(tmp_path / "hf-cache")


def test_local_parquet_with_a_column_mapping(tmp_path, cache):
    expected = fixtures.write_hf_parquet(tmp_path)
    dataset = HuggingFaceDataset(
        path=str(tmp_path / "hf_parquet"), columns=PARQUET_COLUMNS, cache_dir=cache,
        aligned_groups=(0, 3), preprocess=Preprocess(size=12, resize=None),
    )
    assert dataset.eval_splits == ("val", "test")
    assert dataset.num_classes == 2  # from the ClassLabel feature
    assert dataset.num_groups == 4
    for name in ("train", "val", "test"):
        assert counts(dataset, name) == expected[name]
    test = dataset.split("test")
    assert torch.equal(test.groups, 2 * test.labels + test.backgrounds)
    batch = test.take(torch.arange(3))
    assert batch["image"].shape == (3, 3, 12, 12) and batch["image"].dtype == torch.uint8
    assert dataset.aligned_groups == frozenset({0, 3})


def test_mask_column(tmp_path, cache):
    fixtures.write_hf_parquet(tmp_path)
    dataset = HuggingFaceDataset(
        path=str(tmp_path / "hf_parquet"), columns={**PARQUET_COLUMNS, "mask": "fg"}, cache_dir=cache,
        preprocess=Preprocess(size=10, resize=12, keep_aspect=False),
    )
    assert dataset.has_masks
    masks = dataset.split("train").take(torch.arange(4))["mask"]
    assert masks.shape == (4, 10, 10) and masks.dtype == torch.bool
    # the box 4:16 x 6:18 of 20 x 24, resized to 12 x 12 and centre-cropped to 10 x 10
    assert masks[:, 5, 5].all() and not masks[:, 0, 0].any()


def test_local_image_folder_relative_to_the_data_root(tmp_path, cache, monkeypatch):
    expected = fixtures.write_hf_imagefolder(tmp_path)
    monkeypatch.setenv(DATA_ENV, str(tmp_path))
    monkeypatch.chdir(tmp_path.parent)
    dataset = HuggingFaceDataset(path="hf_imagefolder", splits={"train": "train", "test": "test"}, cache_dir=cache,
                                 preprocess=Preprocess(size=8, resize=None))
    assert dataset.eval_splits == ("test",)
    assert dataset.num_classes == dataset.num_groups == 2
    for name in ("train", "test"):
        assert counts(dataset, name) == expected[name]
    assert dataset.split("train").take(torch.arange(6))["image"].shape == (6, 3, 8, 8)


def test_hub_id_offline_says_how_to_bring_the_data(monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    dataset = HuggingFaceDataset(path="someone/waterbirds")
    with pytest.raises(ConfigError) as error:
        dataset.split("train")
    message = str(error.value)
    assert "\n" not in message
    for needle in ("HuggingFaceDataset.path = 'someone/waterbirds'", "HF_DATASETS_OFFLINE=1", "offline",
                   "save_to_disk", "local folder"):
        assert needle in message, needle


def test_unknown_column_and_split_list_the_valid_ones(tmp_path, cache):
    fixtures.write_hf_parquet(tmp_path)
    path = str(tmp_path / "hf_parquet")
    with pytest.raises(ConfigError, match=r"label -> 'label'.*Its columns: img, fg, y, place, group"):
        HuggingFaceDataset(path=path, columns={"image": "img", "label": "label"}, cache_dir=cache).split("train")
    with pytest.raises(ConfigError, match=r"'val' to 'dev'.*Its splits: .*validation"):
        HuggingFaceDataset(path=path, columns=PARQUET_COLUMNS, splits={"train": "train", "val": "dev"},
                           cache_dir=cache).split("val")


def test_bad_mappings_are_refused_before_loading():
    with pytest.raises(ConfigError, match="image and label"):
        HuggingFaceDataset(path="x", columns={"image": "img"})
    with pytest.raises(ConfigError, match="'train'"):
        HuggingFaceDataset(path="x", splits={"test": "test"})


def test_missing_local_path(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        HuggingFaceDataset(path=str(tmp_path / "nowhere")).split("train")


def test_verify_and_a_run_name_an_undecodable_image_of_an_image_folder(tmp_path, cache, monkeypatch, capsys):
    from benchsuite.cli import main
    from benchsuite.datasets.decoding import UnreadableImage

    fixtures.write_hf_imagefolder(tmp_path)
    bad = tmp_path / "hf_imagefolder" / "test" / "bee" / "bee_1.png"
    bad.write_bytes(bad.read_bytes()[:40])  # cut short inside the PNG's first chunk
    settings = tmp_path / "hf.gin"
    settings.write_text(
        f"HuggingFaceDataset.path = '{tmp_path / 'hf_imagefolder'}'\nHuggingFaceDataset.cache_dir = '{cache}'\n"
        "HuggingFaceDataset.splits = {'train': 'train', 'test': 'test'}\n"
    )
    assert main(["data", "--gin", str(settings), "--verify", "HuggingFaceDataset", "--workers", "2"]) == 1
    out = capsys.readouterr().out
    assert "HuggingFaceDataset: 10 images decoded in 2 processes, 1 unreadable" in out
    assert f"unreadable: {bad}: " in out
    dataset = HuggingFaceDataset(path=str(tmp_path / "hf_imagefolder"), splits={"train": "train", "test": "test"},
                                 cache_dir=cache)
    with pytest.raises(UnreadableImage) as error:
        dataset.split("test").take(torch.arange(4))
    assert error.value.path == str(bad) and "data --verify HuggingFaceDataset" in str(error.value)
