"""Backbones give pooled features of their declared width; pretrained weights come from a local file only."""

from __future__ import annotations

import pytest
import torch
import torchvision

from benchsuite.errors import ConfigError
from benchsuite.models.backbones import ResNet18, SmallCNN, projection_head


@pytest.mark.parametrize("size", [16, 32])
def test_small_cnn_features(size):
    net = SmallCNN(width=8)
    assert net(torch.randn(3, 3, size, size)).shape == (3, net.feature_dim) == (3, 32)


def test_resnet18_cifar_stem_keeps_resolution():
    plain, cifar = ResNet18(), ResNet18(cifar_stem=True)
    assert plain.feature_dim == cifar.feature_dim == 512
    assert cifar.net.conv1.stride == (1, 1) and isinstance(cifar.net.maxpool, torch.nn.Identity)
    assert plain.net.conv1.stride == (2, 2)
    assert cifar(torch.randn(2, 3, 32, 32)).shape == (2, 512)


def test_pretrained_weights_load_from_a_local_file(tmp_path):
    reference = torchvision.models.resnet18(weights=None)
    path = tmp_path / "resnet18.pth"
    torch.save(reference.state_dict(), path)
    loaded = ResNet18(pretrained_path=str(path))
    assert torch.equal(loaded.net.layer1[0].conv1.weight, reference.layer1[0].conv1.weight)


def test_missing_pretrained_file_names_the_binding(tmp_path):
    with pytest.raises(ConfigError, match=r"ResNet18\.pretrained_path") as error:
        ResNet18(pretrained_path=str(tmp_path / "absent.pth"))
    assert "absent.pth" in str(error.value) and "Nothing is downloaded" in str(error.value)


def test_weights_of_another_architecture_are_refused(tmp_path):
    path = tmp_path / "resnet50.pth"
    torch.save(torchvision.models.resnet50(weights=None).state_dict(), path)
    with pytest.raises(ConfigError, match="do not fit"):
        ResNet18(pretrained_path=str(path))


def test_projection_head_shape():
    assert projection_head(32, 16, 8)(torch.randn(4, 32)).shape == (4, 8)
