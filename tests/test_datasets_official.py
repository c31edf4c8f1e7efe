"""Real data as it comes out of the official archives (tests/fixtures.write_official: nothing renamed): found by
the archives' folder names, never silently partial, every unreadable file named, and the data's manifest in
the run id. Each case asserts the exit status, the message and what is (or is not) written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import gin
import pytest

from benchsuite import config
from benchsuite.cli import main
from benchsuite.datasets.celeba import CelebA
from benchsuite.datasets.imagenet9 import ImageNet9
from benchsuite.datasets.locating import DATA_ENV
from benchsuite.datasets.textures import TextureSets
from benchsuite.datasets.waterbirds import Waterbirds
from benchsuite.errors import ConfigError
from benchsuite.experiment.execute import execute, identified_config
from tests import fixtures
from tests.conftest import GIN

OVERRIDE = str(GIN / "overrides" / "fixture_scale.gin")
WATERBIRDS = "waterbird_complete95_forest2water2"


@pytest.fixture(scope="module")
def official(tmp_path_factory) -> Path:
    """The official archives unpacked into one folder, written once; tests that damage it work on a copy."""
    root = tmp_path_factory.mktemp("official")
    fixtures.write_official(root)
    return root


@pytest.fixture
def data(official, tmp_path, monkeypatch) -> Path:
    """A private copy of the official layout, named by $BENCHSUITE_DATA."""
    root = tmp_path / "data"
    shutil.copytree(official, root)
    monkeypatch.setenv(DATA_ENV, str(root))
    return root


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def run_argv(experiment: str, results: Path, *bindings: str) -> list[str]:
    argv = ["run", "--gin", str(GIN / experiment), "--gin", OVERRIDE, "--results", str(results)]
    for binding in bindings:
        argv += ["--gin-param", binding]
    return argv


def assert_one_paragraph(err: str, *needles: str) -> None:
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, f"{needle!r} not in {err!r}"


# -- found as unpacked --------------------------------------------------------------------------------------

def test_data_finds_the_official_archives_unrenamed(data, capsys):
    status, out, _ = cli(capsys, "data")
    assert status == 0
    lines = {line.split()[0]: line for line in out.splitlines()[1:]}
    # the true split sizes of each fixture, found under the archives' own folder names
    assert "found" in lines["CIFAR10"] and "train 20, test 10" in lines["CIFAR10"] and f"({data})" in lines["CIFAR10"]
    assert "found" in lines["CIFAR100"] and "train 30, test 100" in lines["CIFAR100"]
    assert "train 16, val 8, test 8" in lines["Waterbirds"] and WATERBIRDS in lines["Waterbirds"]
    assert "train 12, val 4, test 5" in lines["CelebA"] and str(data / "CelebA") in lines["CelebA"]
    assert "train 27, val 9, test 18" in lines["ImageNet9"] and "only_bg_b 18" in lines["ImageNet9"]


def test_wilds_copy_and_the_choice_between_several(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(DATA_ENV, str(tmp_path))
    fixtures.write_waterbirds(tmp_path, "waterbirds_v1.0")
    assert Waterbirds().path == tmp_path / "waterbirds_v1.0" and not Waterbirds().notes()
    fixtures.write_waterbirds(tmp_path, WATERBIRDS)
    (note,) = Waterbirds().notes()  # both present: the tarball's folder comes first, and that is said
    assert f"using '{tmp_path / WATERBIRDS}', not '{tmp_path / 'waterbirds_v1.0'}'" in note
    assert "Waterbirds.root" in note
    status, out, _ = cli(capsys, "data")
    assert status == 0 and note in out


def test_a_run_says_which_of_several_folders_it_read(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "data"))
    fixtures.write_waterbirds(tmp_path / "data", WATERBIRDS)
    fixtures.write_waterbirds(tmp_path / "data", "waterbirds_v1.0")
    status, out, _ = cli(capsys, *run_argv("jtt_waterbirds.gin", tmp_path / "results"))
    assert status == 0
    assert f"note: Waterbirds is present in several folders; using '{tmp_path / 'data' / WATERBIRDS}'" in out
    (record_file,) = (tmp_path / "results").glob("jtt_waterbirds/*/record.json")
    record = json.loads(record_file.read_text())
    assert record["data"]["path"] == str(tmp_path / "data" / WATERBIRDS)
    assert record["data"]["notes"] and record["data"]["manifest"]["files"] == 33  # 32 images and metadata.csv


def test_a_folder_without_the_dataset_is_named_with_every_other_place(tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_ENV, str(tmp_path))
    (tmp_path / "waterbirds").mkdir()  # an empty folder under the short name
    with pytest.raises(ConfigError) as error:
        Waterbirds().split("train")
    message = str(error.value)
    assert f"'{tmp_path / 'waterbirds'}' (exists but holds no metadata.csv)" in message
    for name in (WATERBIRDS, "waterbirds_v1.0", f"waterbirds/{WATERBIRDS}"):
        assert f"'{tmp_path / name}' (absent)" in message


def test_celeba_official_folders_missing_partition_names_both_places(data):
    (data / "CelebA" / "Eval" / "list_eval_partition.txt").unlink()
    with pytest.raises(ConfigError) as error:
        CelebA().split("train")
    message = str(error.value)
    assert str(data / "CelebA" / "Eval" / "list_eval_partition.txt") in message
    assert str(data / "CelebA" / "list_eval_partition.txt") in message and "list_eval_partition.csv" in message


def test_celeba_images_still_zipped(data):
    images = data / "CelebA" / "Img"
    shutil.rmtree(images / "img_align_celeba")
    (images / "img_align_celeba.zip").write_bytes(b"PK")
    with pytest.raises(ConfigError, match=r"unzip '.*img_align_celeba\.zip'"):
        CelebA().split("train")


def test_imagenet9_without_in9l_names_the_folder_and_its_archive(data):
    shutil.rmtree(data / "in9l")
    with pytest.raises(ConfigError) as error:
        ImageNet9().split("train")
    assert "the folder 'in9l' is missing" in str(error.value) and "in9l.tar.gz" in str(error.value)


def test_imagenet9_variant_with_other_classes_names_only_the_difference(data):
    val = data / "bg_challenge" / "mixed_rand" / "val"
    (val / "08_fish").rename(val / "08_fishes")
    with pytest.raises(ConfigError) as error:
        ImageNet9().split("train")
    message = str(error.value)
    assert "missing here: 08_fish;" in message and "08_fishes" in message and str(val) in message
    assert "00_dog" not in message  # the seven classes that agree are not listed


# -- never silently partial ---------------------------------------------------------------------------------

def _empty(folder: Path) -> None:
    for file in folder.iterdir():
        file.unlink()


@pytest.mark.parametrize("folder", ["in9l/train/03_reptile", "bg_challenge/only_fg/val/03_reptile"])
def test_empty_class_folder_stops_the_run_before_anything_is_written(data, tmp_path, capsys, folder):
    _empty(data / folder)
    status, _, err = cli(capsys, *run_argv("erm_imagenet9.gin", tmp_path / "results"))
    assert status == 2
    assert_one_paragraph(err, f"'{data / folder}'", "hold no image")
    if folder.startswith("bg_challenge"):
        assert "ImageNet9.allow_missing_groups = True" in err
    assert not (tmp_path / "results").exists()


def test_a_missing_group_allowed_by_binding_is_listed_in_the_record(data, tmp_path, capsys):
    _empty(data / "bg_challenge" / "only_fg" / "val" / "03_reptile")
    argv = run_argv("erm_imagenet9.gin", tmp_path, "ImageNet9.allow_missing_groups = True")
    status, _, _ = cli(capsys, *argv)
    assert status == 0
    (record_file,) = tmp_path.glob("erm_imagenet9/*/record.json")
    record = json.loads(record_file.read_text())
    assert record["status"] == "finished" and record["data"]["missing_groups"] == {"only_fg": ["03_reptile"]}


def test_waterbirds_split_without_a_group(data):
    metadata = data / WATERBIRDS / "metadata.csv"
    lines = metadata.read_text().splitlines()
    # move the validation images of waterbirds on land (y 1, place 0) to the test split
    moved = [line.replace(",1,1,0,", ",1,2,0,") for line in lines]
    assert moved != lines
    metadata.write_text("\n".join(moved) + "\n")
    with pytest.raises(ConfigError) as error:
        Waterbirds().split("train")
    assert "val lacks waterbird on land" in str(error.value) and "Waterbirds.allow_missing_groups" in str(error.value)
    dataset = Waterbirds(allow_missing_groups=True)
    assert dataset.data_details()["missing_groups"] == {"val": ["waterbird on land"]}


# -- the data's manifest in the run id ----------------------------------------------------------------------

def _run_id_text(*files: str) -> str:
    config.parse(files)
    try:
        return identified_config()
    finally:
        gin.clear_config()


def test_manifest_changes_the_run_id_when_the_data_changes(data):
    first = _run_id_text(str(GIN / "jtt_waterbirds.gin"), OVERRIDE)
    assert "# data manifest: " in first
    assert _run_id_text(str(GIN / "jtt_waterbirds.gin"), OVERRIDE) == first  # same data, same id
    image = next((data / WATERBIRDS / "001.Black_footed_Albatross").iterdir())
    image.write_bytes(image.read_bytes() + b"\0")  # one byte more in one image: another manifest
    assert _run_id_text(str(GIN / "jtt_waterbirds.gin"), OVERRIDE) != first


def test_embedded_datasets_keep_the_run_id_of_their_config():
    config.parse([str(GIN / "erm_synthetic_backgrounds.gin")])
    try:
        assert identified_config() == gin.config_str()
    finally:
        gin.clear_config()


def test_fixed_data_is_not_taken_for_the_data_a_run_saw(data, tmp_path):
    folder = data / "bg_challenge" / "only_fg" / "val" / "03_reptile"
    kept = tmp_path / "kept"
    shutil.copytree(folder, kept)
    _empty(folder)
    files = [GIN / "erm_imagenet9.gin", OVERRIDE]
    partial = execute(files, ["ImageNet9.allow_missing_groups = True"], results=tmp_path / "results")
    assert partial.record["status"] == "finished"
    for file in kept.iterdir():
        shutil.copy(file, folder / file.name)
    fixed = execute(files, ["ImageNet9.allow_missing_groups = True"], results=tmp_path / "results")
    # the complete data is a new run, not "already finished" with the partial result
    assert not fixed.already_finished and fixed.run_dir != partial.run_dir
    assert fixed.record["data"]["missing_groups"] == {}


# -- unreadable images --------------------------------------------------------------------------------------

def _damage(root: Path, row: int, how: str) -> Path:
    """Replace the image on metadata.csv's `row` by random bytes ('corrupt') or its first half ('truncated')."""
    name = (root / WATERBIRDS / "metadata.csv").read_text().splitlines()[row].split(",")[1]
    path = root / WATERBIRDS / name
    path.write_bytes(bytes(range(256)) * 2 if how == "corrupt" else path.read_bytes()[: path.stat().st_size // 2])
    return path


@pytest.mark.parametrize("workers", [0, 2])
def test_corrupt_jpeg_stops_the_run_with_the_file_named(data, tmp_path, capsys, workers):
    bad = _damage(data, 2, "corrupt")
    argv = run_argv("jtt_waterbirds.gin", tmp_path, f"ImageLoading.num_workers = {workers}")
    status, _, err = cli(capsys, *argv)
    assert status == 2
    assert_one_paragraph(err, f"'{bad}'", "cannot be decoded", "python -m benchsuite data --verify Waterbirds")
    (record_file,) = tmp_path.glob("jtt_waterbirds/*/record.json")
    record = json.loads(record_file.read_text())
    assert record["status"] == "failed" and record["error"] == "UnreadableImage: " + err.removeprefix("error: ").strip()


def test_verify_lists_corrupt_and_truncated_files(data, capsys):
    corrupt, truncated = _damage(data, 2, "corrupt"), _damage(data, 5, "truncated")
    status, out, _ = cli(capsys, "data", "--verify", "Waterbirds", "--workers", "2")
    assert status == 1
    assert "Waterbirds: 32 images decoded in 2 processes, 2 unreadable" in out
    assert f"unreadable: {corrupt}: Unsupported image file" in out
    assert f"unreadable: {truncated}: Image is incomplete or truncated" in out
    status, out, _ = cli(capsys, "data", "--verify", "CelebA", "ImageNet9")
    assert status == 0 and "ImageNet9: 180 images decoded" in out  # 162 images and 18 fg_mask arrays
    assert "unreadable:" not in out


def test_verify_rejects_a_dataset_not_read_from_disk(data, capsys):
    status, _, err = cli(capsys, "data", "--verify", "SyntheticBackgrounds")
    assert status == 2 and "SyntheticBackgrounds is not a dataset whose images are read from files" in err
    assert "Waterbirds" in err and "HuggingFaceDataset" in err


# -- masks and texture sets ---------------------------------------------------------------------------------

def test_missing_training_masks_say_how_to_make_them(data):
    with pytest.raises(ConfigError) as error:
        ImageNet9(train_masks="in9l_masks/train").split("train")
    message = str(error.value)
    assert str(data / "in9l_masks" / "train") in message and "mirrors in9l/train" in message
    assert "<class>/<image stem>.npy" in message and "non-zero = foreground" in message and "GrabCut" in message


def test_texture_sets_run_with_those_present(tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_ENV, str(tmp_path))
    fixtures.write_textures(tmp_path)
    shutil.rmtree(tmp_path / "textures" / "stylized")
    dataset = TextureSets()
    assert dataset.eval_splits == ("val", "sketch") and len(dataset.split("sketch")) == 3
    assert dataset.debiased_split is None and dataset.biased_split == "val"
    (note,) = dataset.notes()
    assert "sketch (stylized absent" in note
    config.parse([str(GIN / "datasets" / "textures.gin")])  # the dataset's gin file does not require both
    try:
        assert TextureSets().eval_splits == ("val", "sketch")
    finally:
        gin.clear_config()
    with pytest.raises(ConfigError, match="stylized"):  # named explicitly, it must be there
        TextureSets(eval_dirs=("stylized", "sketch")).split("train")
    shutil.rmtree(tmp_path / "textures" / "sketch")
    with pytest.raises(ConfigError, match="none of the texture sets stylized, sketch is present"):
        TextureSets().split("train")
