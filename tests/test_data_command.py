"""`python -m benchsuite data` lists every dataset as found or missing with split sizes; pretrained weights named
by a relative path are also looked for under the data root."""

from __future__ import annotations

import pytest
import torch
import torchvision

from benchsuite.cli import main
from benchsuite.datasets.locating import DATA_ENV
from benchsuite.errors import ConfigError
from benchsuite.models.backbones import ResNet18
from tests import fixtures
from tests.conftest import GIN


def lines_by_dataset(output: str) -> dict[str, str]:
    return {line.split()[0]: line for line in output.splitlines()[1:]}


def test_data_lists_found_and_missing_datasets_with_sizes(tmp_path, monkeypatch, capsys):
    fixtures.write_waterbirds(tmp_path)
    fixtures.write_imagenet9(tmp_path)
    monkeypatch.setenv(DATA_ENV, str(tmp_path))
    assert main(["data"]) == 0
    output = capsys.readouterr().out
    assert output.splitlines()[0] == f"data root: {tmp_path} (${DATA_ENV})"
    lines = lines_by_dataset(output)
    assert lines["Waterbirds"].split()[1] == "found" and "train 16, val 8, test 8" in lines["Waterbirds"]
    assert "mixed_rand 18" in lines["ImageNet9"] and "only_bg_b 18" in lines["ImageNet9"]
    assert lines["CelebA"].split()[1] == "missing" and str(tmp_path / "celeba") in lines["CelebA"]
    assert lines["SyntheticBackgrounds"].split()[1] == "embedded"
    assert lines["HuggingFaceDataset"].split()[1] == "configure"


def test_data_applies_the_root_bindings_of_gin_files(tmp_path, monkeypatch, capsys):
    fixtures.write_celeba(tmp_path / "mine", "csv")
    monkeypatch.delenv(DATA_ENV, raising=False)
    gin_file = tmp_path / "roots.gin"
    gin_file.write_text(f"include '{GIN}/datasets/celeba.gin'\nCelebA.root = '{tmp_path / 'mine' / 'celeba'}'\n")
    assert main(["data", "--gin", str(gin_file)]) == 0
    lines = lines_by_dataset(capsys.readouterr().out)
    assert "found" in lines["CelebA"] and "train 12, val 4, test 5" in lines["CelebA"]
    assert "CIFAR10.root" in lines["CIFAR10"] and DATA_ENV in lines["CIFAR10"]


def test_pretrained_weights_relative_to_the_data_root(tmp_path, monkeypatch):
    reference = torchvision.models.resnet18(weights=None)
    (tmp_path / "weights").mkdir()
    torch.save(reference.state_dict(), tmp_path / "weights" / "resnet18.pth")
    monkeypatch.setenv(DATA_ENV, str(tmp_path))
    monkeypatch.chdir(tmp_path.parent)
    loaded = ResNet18(pretrained_path="weights/resnet18.pth")
    assert torch.equal(loaded.net.layer4[1].conv2.weight, reference.layer4[1].conv2.weight)
    with pytest.raises(ConfigError) as error:
        ResNet18(pretrained_path="weights/absent.pth")
    message = str(error.value)
    assert str(tmp_path / "weights" / "absent.pth") in message and "ResNet18.pretrained_path" in message
    # the example that saves the weights is the missing backbone's own, not ResNet-50's
    assert "ResNet18_Weights.IMAGENET1K_V1" in message and "ResNet50" not in message
