"""JTT's own logic on hand-made inputs: which images form the error set, and how often stage 2 sees each image.

Each test pins one of JTT's two decisions with an answer worked out by hand, so that taking the error set from
the correctly classified images, or dropping the upsampling, fails here (not only a run's accuracy elsewhere).
"""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from benchsuite.datasets.base import Dataset
from benchsuite.datasets.splits import TensorSplit
from benchsuite.errors import ConfigError
from benchsuite.methods.jtt import JTT
from benchsuite.models.backbones import SmallCNN
from benchsuite.training.trainer import Trainer

#: the 12 training images' labels, and the labels the fixed identifier predicts for them
LABELS = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2])
PREDICTED = torch.tensor([0, 1, 2, 1, 1, 0, 0, 2, 2, 0, 1, 1])
ERRORS = [3, 5, 7, 11]  # where PREDICTED differs from LABELS


class _Numbered(Dataset):
    """Image i is filled with the value i, so that an image names its own index."""

    num_classes = 3
    num_groups = 3
    eval_splits = ("test",)
    mean = (0.0,)
    std = (1.0,)

    @property
    def _splits(self) -> dict[str, TensorSplit]:
        images = torch.arange(len(LABELS), dtype=torch.uint8).view(-1, 1, 1, 1).expand(-1, 1, 4, 4).contiguous()
        return {name: TensorSplit(images, LABELS.clone(), LABELS.clone()) for name in self.split_names}


class _FixedIdentifier(nn.Module):
    """Predicts PREDICTED[i] for image i (read back from its pixel value, JTT normalises with mean 0, std 1)."""

    def __init__(self) -> None:
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(1))  # the trainer builds stage 1's optimizer over these parameters

    def forward(self, x: Tensor) -> Tensor:
        index = (x[:, 0, 0, 0] * 255).round().long()
        return nn.functional.one_hot(PREDICTED[index], 3).float()


def _jtt(upweight: int = 5) -> tuple[JTT, Trainer, _Numbered]:
    jtt, dataset = JTT(identification_epochs=1, upweight=upweight), _Numbered()
    jtt.setup(lambda: SmallCNN(width=4, in_channels=1), dataset)
    jtt.identifier = _FixedIdentifier()
    return jtt, Trainer(epochs=1, batch_size=4, device="cpu", progress=False, channels_last=False), dataset


def test_the_error_set_is_exactly_the_misclassified_training_images():
    jtt, trainer, dataset = _jtt()
    assert jtt.error_set(dataset, trainer.context).tolist() == ERRORS


def test_stage_two_sees_each_error_image_upweight_times_and_every_other_image_once():
    jtt, trainer, dataset = _jtt(upweight=5)
    stages = jtt.stages(dataset, trainer.context)
    identification = next(stages)
    assert identification.name == "identification" and identification.epochs == 1
    final = next(stages)  # stage 1 not trained: the fixed identifier decides the error set
    assert final.name == "train" and jtt.error_set_size == len(ERRORS)
    seen = torch.bincount(final.data.take(torch.arange(len(final.data)))["image"][:, 0, 0, 0].long(), minlength=12)
    expected = torch.ones(12, dtype=torch.long)
    expected[ERRORS] = 5
    assert seen.tolist() == expected.tolist()
    assert len(final.data) == 12 + 4 * len(ERRORS)


def test_no_error_set_before_stage_one_and_the_smallest_valid_settings_are_accepted():
    # the defaults (those of gin/methods/jtt.gin) and the augmentation are checked for every method in test_methods.py
    assert JTT().record_details()["error_set_size"] is None  # a record written before stage 1 ends says null
    smallest = JTT(identification_epochs=1, upweight=1)  # upweight 1 is plain ERM on a fresh model: valid
    assert (smallest.identification_epochs, smallest.upweight) == (1, 1)
    for bad in ({"identification_epochs": 0}, {"upweight": 0}):
        with pytest.raises(ConfigError, match="must be at least 1"):
            JTT(**bad)
