"""The embedded benchmarks' pretrained start: deterministic, built once and reused, named in every record."""

from __future__ import annotations

import json

import pytest
import torch

from benchsuite import records
from benchsuite.datasets.synthetic import _digit_pools, unbiased_digits
from benchsuite.models.backbones import SmallCNN
from benchsuite.training.pretraining import EmbeddedPretraining
from tests.conftest import GIN, TINY, TINY_DATA


def _tiny(cache_dir, **settings) -> EmbeddedPretraining:
    return EmbeddedPretraining(**{"images": 64, "image_size": 16, "epochs": 1, "batch_size": 16, **settings},
                               cache_dir=str(cache_dir))


def test_pretrained_weights_are_deterministic_and_differ_from_a_random_start(tmp_path):
    first = SmallCNN(width=8, pretrained=_tiny(tmp_path / "a"))
    second = SmallCNN(width=8, pretrained=_tiny(tmp_path / "b"))  # built again, in another cache
    for key, value in first.state_dict().items():
        assert torch.equal(value, second.state_dict()[key]), key
    torch.manual_seed(123)
    scratch = SmallCNN(width=8)
    assert not torch.equal(first.net[0].weight, scratch.net[0].weight)
    assert first.initial_weights.startswith("EmbeddedPretraining ") and scratch.initial_weights == "random"


def test_pretrained_weights_are_reused_from_the_cache(tmp_path, monkeypatch):
    built = SmallCNN(width=8, pretrained=_tiny(tmp_path))
    assert len(list((tmp_path / "pretrained").glob("SmallCNN-*.pt"))) == 1

    def no_training(self, make_backbone):
        raise AssertionError("the cached weights should have been loaded, not trained again")

    monkeypatch.setattr(EmbeddedPretraining, "train", no_training)
    again = SmallCNN(width=8, pretrained=_tiny(tmp_path))
    assert torch.equal(built.net[0].weight, again.net[0].weight)
    # another recipe or architecture is another file, trained anew
    with pytest.raises(AssertionError, match="not trained again"):
        SmallCNN(width=8, pretrained=_tiny(tmp_path, epochs=2))
    with pytest.raises(AssertionError, match="not trained again"):
        SmallCNN(width=4, pretrained=_tiny(tmp_path))


def test_pretraining_leaves_the_callers_random_state_alone(tmp_path):
    # building the network draws its initialisation either way; training the pretraining draws nothing more
    torch.manual_seed(7)
    SmallCNN(width=8)
    expected = torch.rand(3)
    torch.manual_seed(7)
    SmallCNN(width=8, pretrained=_tiny(tmp_path))
    assert torch.equal(torch.rand(3), expected)


def test_pretraining_images_use_training_digits_only_with_cues_independent_of_the_label():
    images, labels = unbiased_digits(4000, 16, seed=0)
    assert images.dtype == torch.uint8 and images.shape == (4000, 3, 16, 16)
    train_labels = _digit_pools(0)["train"][1]
    assert set(labels.tolist()) == set(train_labels.tolist())
    # the mean colour of a class's images is the same for every class (the cues do not depend on the label):
    # compare the per-class mean of the border pixels (background) with the overall mean
    border = torch.cat([images[:, :, 0, :], images[:, :, -1, :]], dim=2).float().mean(dim=2)  # (n, 3)
    overall = border.mean(0)
    for digit in range(10):
        assert (border[labels == digit].mean(0) - overall).abs().max() < 8, digit  # of 255


def test_a_record_names_its_evaluation_and_starting_weights(tmp_path):
    from benchsuite.experiment.execute import execute

    files = [GIN / "base.gin", GIN / "methods" / "simclr.gin", GIN / "datasets" / "synthetic_waterbirds.gin"]
    outcome = execute(files, [*TINY, *TINY_DATA["SyntheticWaterbirds"]], results=tmp_path / "results")
    record = json.loads((outcome.run_dir / records.RECORD).read_text())
    assert len(record["initial_weights"]) == 1 and record["initial_weights"][0].startswith("EmbeddedPretraining ")
    assert "LogisticProbe" in record["evaluation"]["probe"] and "kNN" in record["evaluation"]["knn"]
    assert "knn/test/top1" in record["metrics"]["SimCLR"] and "probe/C" in record["metrics"]["SimCLR"]
    scratch = execute(files, [*TINY, *TINY_DATA["SyntheticWaterbirds"], "SmallCNN.pretrained = None"],
                      results=tmp_path / "results")
    assert scratch.record["initial_weights"] == ["random"] and scratch.run_dir != outcome.run_dir
    authors = execute([*files, GIN / "protocols" / "authors_probe.gin"], [*TINY, *TINY_DATA["SyntheticWaterbirds"],
                      "SmallCNN.pretrained = None"], results=tmp_path / "results")
    assert authors.record["evaluation"]["probe"].startswith("LinearProbe: 2 epochs")
