"""The real-dataset loaders on tiny fixtures written in each dataset's exact on-disk format: split sizes, label
and group counts against what the fixture wrote, and one clear paragraph for missing or malformed data."""

from __future__ import annotations

import pickle
from collections import Counter
from pathlib import Path

import pytest
import torch

from benchsuite.datasets.celeba import CelebA
from benchsuite.datasets.cifar import CIFAR10, CIFAR100
from benchsuite.datasets.decoding import ImageFiles, Preprocess
from benchsuite.datasets.imagenet9 import ImageNet9
from benchsuite.datasets.locating import DATA_ENV
from benchsuite.datasets.splits import FileSplit, ImageLoading
from benchsuite.datasets.textures import TextureSets
from benchsuite.datasets.waterbirds import Waterbirds
from benchsuite.errors import ConfigError
from tests import fixtures


def check_counts(dataset, expected: dict, prefix: str = "") -> None:
    for name in dataset.split_names:
        split, want = dataset.split(name), expected[prefix + name]
        assert len(split) == want["n"], name
        assert Counter(split.labels.tolist()) == want["labels"], name
        assert Counter(split.groups.tolist()) == want["groups"], name


def one_paragraph(error: pytest.ExceptionInfo, *needles: str) -> str:
    message = str(error.value)
    assert "\n" not in message
    for needle in needles:
        assert needle in message, f"{needle!r} not in {message!r}"
    return message


@pytest.fixture
def data(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv(DATA_ENV, str(tmp_path))
    return tmp_path


# -- the data root ------------------------------------------------------------------------------------------

def test_no_root_and_no_variable_names_both(monkeypatch):
    monkeypatch.delenv(DATA_ENV, raising=False)
    with pytest.raises(ConfigError) as error:
        Waterbirds().split("train")
    one_paragraph(error, "Waterbirds.root", DATA_ENV, "metadata.csv", "nlp.stanford.edu")


def test_root_binding_wins_over_the_variable(tmp_path, monkeypatch):
    fixtures.write_waterbirds(tmp_path / "elsewhere")
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "empty"))
    assert len(Waterbirds(root=str(tmp_path / "elsewhere" / "waterbirds")).split("test")) == 8


def test_missing_dataset_folder_names_the_path(data):
    with pytest.raises(ConfigError) as error:
        CelebA().split("train")
    # every place looked in is named, each with why it did not count
    one_paragraph(error, f"'{data / 'celeba'}' (absent)", f"'{data / 'CelebA'}' (absent)", "celeba-dataset",
                  f"'{data}' (exists but holds no", "CelebA.root", "mmlab.ie.cuhk.edu.hk")


# -- CIFAR --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("cls", "writer"), [(CIFAR10, fixtures.write_cifar10), (CIFAR100, fixtures.write_cifar100)])
def test_cifar_counts(data, cls, writer):
    expected = writer(data)
    dataset = cls()
    assert dataset.eval_splits == ("test",)
    check_counts(dataset, expected)
    batch = dataset.split("train").take(torch.arange(3))
    assert batch["image"].dtype == torch.uint8 and batch["image"].shape == (3, 3, 32, 32)
    assert torch.equal(batch["label"], batch["group"])  # groups are classes: worst-class accuracy


def test_cifar_pixels_are_the_pickled_ones(data):
    fixtures.write_cifar10(data)
    with open(data / "cifar" / "cifar-10-batches-py" / "test_batch", "rb") as handle:
        raw = pickle.load(handle)
    first = torch.from_numpy(raw["data"][0]).view(3, 32, 32)
    assert torch.equal(CIFAR10().split("test").take(torch.tensor([0]))["image"][0], first)


def test_cifar_validation_holdout_and_resize(data):
    fixtures.write_cifar10(data)
    # 5 held-out images cannot hold all 10 classes: only allowed by the binding, and then listed
    dataset = CIFAR10(val_size=5, preprocess=Preprocess(size=16, resize=None), allow_missing_groups=True)
    assert dataset.eval_splits == ("val", "test")
    assert len(dataset.data_details()["missing_groups"]["val"]) >= 5
    assert len(dataset.split("val")) == 5 and len(dataset.split("train")) == 15
    assert dataset.split("test").images.shape[1:] == (3, 16, 16)


def test_cifar_missing_batch_file(data):
    fixtures.write_cifar10(data)
    (data / "cifar" / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(ConfigError) as error:
        CIFAR10().split("train")
    one_paragraph(error, "data_batch_3", "is missing", "CIFAR10.root", "cs.toronto.edu")


def test_cifar_malformed_pickle(data):
    fixtures.write_cifar100(data)
    (data / "cifar" / "cifar-100-python" / "train").write_bytes(b"not a pickle")
    with pytest.raises(ConfigError) as error:
        CIFAR100().split("train")
    one_paragraph(error, "malformed", "cifar-100-python")


# -- Waterbirds ---------------------------------------------------------------------------------------------

def test_waterbirds_counts_groups_and_backgrounds(data):
    expected = fixtures.write_waterbirds(data)
    dataset = Waterbirds(preprocess=Preprocess(size=20, resize=24, keep_aspect=False))
    check_counts(dataset, expected)
    assert dataset.aligned_groups == frozenset({0, 3})  # landbirds on land, waterbirds on water
    test = dataset.split("test")
    assert torch.equal(test.groups, 2 * test.labels + test.backgrounds)
    batch = test.take(torch.tensor([0, 5]))
    assert batch["image"].shape == (2, 3, 20, 20) and batch["image"].dtype == torch.uint8
    assert set(batch) == {"image", "label", "group", "background"}


def test_waterbirds_metadata_without_place(data):
    fixtures.write_waterbirds(data)
    metadata = data / "waterbirds" / "metadata.csv"
    lines = [line.split(",") for line in metadata.read_text().splitlines()]
    metadata.write_text("\n".join(",".join(line[:4] + line[5:]) for line in lines) + "\n")
    with pytest.raises(ConfigError) as error:
        Waterbirds().split("train")
    one_paragraph(error, str(data / "waterbirds"), "lacks the column(s) place", "metadata.csv", DATA_ENV,
                  "Waterbirds.root", "waterbird_complete95_forest2water2")


def test_waterbirds_listed_image_absent(data):
    fixtures.write_waterbirds(data)
    missing = next((data / "waterbirds" / "001.Black_footed_Albatross").iterdir())
    missing.unlink()
    with pytest.raises(ConfigError) as error:
        Waterbirds().split("test")
    one_paragraph(error, missing.name, "absent", "metadata.csv")


def test_waterbirds_bad_label_value(data):
    fixtures.write_waterbirds(data)
    metadata = data / "waterbirds" / "metadata.csv"
    lines = metadata.read_text().splitlines()
    fields = lines[3].split(",")
    fields[2] = "7"
    lines[3] = ",".join(fields)
    metadata.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError) as error:
        Waterbirds().split("train")
    one_paragraph(error, "row 4", "y = 7")


# -- CelebA -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("variant", "nested"), [("txt", False), ("csv", False), ("csv", True)])
def test_celeba_both_layouts_both_protocols(data, variant, nested):
    expected = fixtures.write_celeba(data, variant, nested)
    check_counts(CelebA(), expected)
    check_counts(CelebA(target="Attractive"), expected, prefix="attractive/")
    blond = CelebA()
    assert blond.aligned_groups == frozenset({0, 2})  # the fixture's majorities: non-blond women, blond women
    assert blond.split("val").take(torch.arange(2))["image"].shape == (2, 3, 224, 224)


def test_celeba_unknown_attribute_lists_the_valid_ones(data):
    fixtures.write_celeba(data)
    with pytest.raises(ConfigError) as error:
        CelebA(target="Blonde").split("train")
    one_paragraph(error, "CelebA.target = 'Blonde'", "Blond_Hair", "Wearing_Necktie")


def test_celeba_malformed_attribute_line(data):
    fixtures.write_celeba(data)
    attr = data / "celeba" / "list_attr_celeba.txt"
    lines = attr.read_text().splitlines()
    lines[4] = lines[4].rsplit(" ", 3)[0]
    attr.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError) as error:
        CelebA().split("train")
    one_paragraph(error, "list_attr_celeba.txt line 5", "attribute values")


def test_celeba_without_annotation_files(data):
    fixtures.write_celeba(data)
    (data / "celeba" / "list_eval_partition.txt").unlink()
    with pytest.raises(ConfigError) as error:
        CelebA().split("train")
    one_paragraph(error, "list_eval_partition.txt", "list_eval_partition.csv", "CelebA.root")


def test_celeba_image_absent(data):
    fixtures.write_celeba(data, "csv")
    (data / "celeba" / "img_align_celeba" / "000003.jpg").unlink()
    with pytest.raises(ConfigError) as error:
        CelebA().split("train")
    one_paragraph(error, "000003.jpg", "absent")


# -- ImageNet-9 ---------------------------------------------------------------------------------------------

def test_imagenet9_splits_masks_and_backgrounds(data):
    expected = fixtures.write_imagenet9(data)
    dataset = ImageNet9(preprocess=Preprocess(size=16, resize=20))
    check_counts(dataset, expected)
    assert dataset.eval_splits == ("val", "test", "mixed_same", "mixed_rand", "only_fg", "no_fg", "only_bg_t",
                                   "only_bg_b")
    assert not dataset.has_masks
    test = dataset.split("test").take(torch.arange(4))
    assert test["mask"].shape == (4, 16, 16) and test["mask"].dtype == torch.bool and test["mask"].any()
    assert "mask" not in dataset.split("train").take(torch.arange(2))
    assert torch.equal(dataset.split("only_bg_t").backgrounds, dataset.split("only_bg_t").labels)
    assert dataset.split("mixed_rand").backgrounds is None  # the file names do not say it


def test_imagenet9_training_masks(data):
    fixtures.write_imagenet9(data)
    dataset = ImageNet9(train_masks="in9l_masks/train", preprocess=Preprocess(size=16, resize=None))
    assert dataset.has_masks
    batch = dataset.split("train").take(torch.arange(27))
    assert batch["mask"].shape == (27, 16, 16) and batch["mask"].any(dim=(1, 2)).all()


def test_imagenet9_missing_variant(data):
    fixtures.write_imagenet9(data)
    variant = data / "imagenet9" / "bg_challenge" / "only_bg_b"
    for path in sorted(variant.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    variant.rmdir()
    with pytest.raises(ConfigError) as error:
        ImageNet9().split("train")
    one_paragraph(error, "only_bg_b", "is missing", "ImageNet9.root", "backgrounds_challenge")
    assert len(ImageNet9(variants=("original", "mixed_same", "mixed_rand")).split("mixed_rand")) == 18


def test_imagenet9_missing_mask_and_mismatched_classes(data):
    fixtures.write_imagenet9(data)
    mask = next((data / "imagenet9" / "bg_challenge" / "fg_mask" / "val" / "03_reptile").iterdir())
    mask.unlink()
    with pytest.raises(ConfigError) as error:
        ImageNet9().split("test")
    one_paragraph(error, "no mask", mask.stem)
    (data / "imagenet9" / "in9l" / "val" / "08_fish").rename(data / "imagenet9" / "in9l" / "val" / "08_fishes")
    with pytest.raises(ConfigError) as error:
        ImageNet9(variants=("original",)).split("val")
    one_paragraph(error, "08_fishes", "differ")


def test_imagenet9_unknown_variant():
    with pytest.raises(ConfigError, match="mixed_next"):
        ImageNet9(variants=("original", "mixed_next"))


# -- texture sets -------------------------------------------------------------------------------------------

def test_texture_sets(data):
    expected = fixtures.write_textures(data)
    dataset = TextureSets()
    assert dataset.num_classes == dataset.num_groups == 3
    assert dataset.eval_splits == ("val", "stylized", "sketch")
    check_counts(dataset, expected)
    (data / "textures" / "sketch" / "dog").rename(data / "textures" / "sketch" / "wolf")
    with pytest.raises(ConfigError) as error:
        TextureSets().split("train")
    one_paragraph(error, "wolf", "differ", "TextureSets.root")


# -- the file-backed split ----------------------------------------------------------------------------------

@pytest.fixture
def waterbirds_train(data) -> FileSplit:
    fixtures.write_waterbirds(data)
    return Waterbirds(preprocess=Preprocess(size=12, resize=None)).split("train")


def test_workers_give_the_batches_of_the_training_process(waterbirds_train):
    def batches(workers):
        waterbirds_train.use(ImageLoading(num_workers=workers))
        return list(waterbirds_train.batches(5, shuffle=True, generator=torch.Generator().manual_seed(3)))

    inline = batches(0)
    parallel = batches(2)
    assert len(inline) == len(parallel) == 4
    for a, b in zip(inline, parallel, strict=True):
        assert a.keys() == b.keys()
        assert all(torch.equal(a[key], b[key]) for key in a)


def test_subset_repeats_rows_without_copying(waterbirds_train):
    view = waterbirds_train.subset(torch.tensor([2, 2, 7]))
    assert isinstance(view, FileSplit) and view.source is waterbirds_train.source
    assert torch.equal(view.labels, waterbirds_train.labels[[2, 2, 7]])
    images = view.take(torch.arange(3))["image"]
    assert torch.equal(images[0], images[1])
    assert torch.equal(images[2], waterbirds_train.take(torch.tensor([7]))["image"][0])


def test_split_rejects_mismatched_lengths(tmp_path):
    with pytest.raises(ValueError, match="labels"):
        FileSplit(ImageFiles([tmp_path / "a.png"]), torch.zeros(2), torch.zeros(1))


# -- geometry -----------------------------------------------------------------------------------------------

def test_preprocess_centre_crops_after_an_aspect_keeping_resize():
    image = torch.arange(8).repeat(3, 4, 1).to(torch.uint8)  # (3, 4, 8): column j holds the value j
    out = Preprocess(size=4, resize=4, keep_aspect=True)(image)
    assert out.shape == (3, 4, 4)
    assert out[0, 0].tolist() == [2, 3, 4, 5]  # the middle four columns


def test_preprocess_pre_crop_and_square_resize():
    image = torch.zeros(3, 10, 6, dtype=torch.uint8)
    image[:, 2:8, :] = 200  # the centre 6 x 6 square, as CelebA's face crop keeps
    out = Preprocess(size=3, resize=None, pre_crop=6)(image)
    assert out.shape == (3, 3, 3) and (out == 200).all()


def test_masks_follow_their_images():
    mask = torch.zeros(1, 20, 30, dtype=torch.uint8)
    mask[:, 4:14, 8:20] = 1  # edges on the 2x downsampling grid, where bilinear and nearest agree
    preprocess = Preprocess(size=8, resize=10, keep_aspect=True)
    small_mask = preprocess(mask, nearest=True).bool()
    small_image = preprocess((mask * 255).expand(3, -1, -1).contiguous())
    assert small_mask.any() and not small_mask.all()
    assert torch.equal(small_mask[0], small_image[0] > 127)


def test_preprocess_rejects_a_resize_below_the_size():
    with pytest.raises(ValueError, match="resize"):
        Preprocess(size=224, resize=200)
