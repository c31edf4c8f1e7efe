"""Method-specific behaviour: WCL's two rows and negatives figure, JTT's stages, error set and record."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from benchsuite import records
from benchsuite.datasets.base import Dataset
from benchsuite.datasets.splits import TensorSplit
from benchsuite.evaluation import preprocess
from benchsuite.experiment.execute import execute
from benchsuite.losses.wcl import relative_difficulty_weights
from benchsuite.methods.jtt import EmptyErrorSet
from benchsuite.methods.wcl_figure import easiest_and_hardest, save_negatives_figure, weights_between_images
from benchsuite.training.trainer import RunContext
from tests.conftest import GIN, TINY, TINY_DATA


def _run(tmp_path, method_gin: str, dataset: str = "SyntheticWaterbirds", extra=()):
    dataset_gin = {"SyntheticWaterbirds": "synthetic_waterbirds", "SyntheticBackgrounds": "synthetic_backgrounds"}
    files = [GIN / "base.gin", GIN / "methods" / method_gin, GIN / "datasets" / f"{dataset_gin[dataset]}.gin"]
    return execute(files, [*TINY, *TINY_DATA[dataset], *extra], results=tmp_path)


def test_wcl_reports_both_encoders_and_draws_the_negatives_figure(tmp_path, drawn_figures, monkeypatch):
    trained = {}

    def keep_method(method, dataset, context, path, k=5):
        trained["method"], trained["dataset"] = method, dataset
        return save_negatives_figure(method, dataset, context, path, k)

    monkeypatch.setattr("benchsuite.methods.wcl.save_negatives_figure", keep_method)
    outcome = _run(tmp_path, "wcl.gin")
    assert set(outcome.record["metrics"]) == {"WCL (E_d)", "WCL (E_b)"}
    assert outcome.record["metrics"]["WCL (E_d)"] != outcome.record["metrics"]["WCL (E_b)"]
    rows = [json.loads(line)["row"] for line in (outcome.run_dir / records.METRICS).read_text().splitlines()]
    assert sorted(rows) == ["WCL (E_b)", "WCL (E_d)"]
    assert (outcome.run_dir / "negatives.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # what the figure shows: the first 4 test images (WCL.figure_anchors' default) as anchors, each with 5 easy and
    # 5 hard negatives among the other test images, whose weights under the trained encoders (recomputed here in
    # float64 from the Euclidean distances of the unit projections) are the row's lowest and highest
    method, dataset = trained["method"], trained["dataset"]
    images = dataset.split("test").images
    method.eval()
    with torch.no_grad():
        projections = method.project(preprocess(images, dataset))
    z_d, z_b = (torch.nn.functional.normalize(z.double(), dim=1) for z in projections)
    off = ~torch.eye(len(images), dtype=torch.bool)
    d_d, d_b = torch.cdist(z_d, z_d), torch.cdist(z_b, z_b)
    d_d, d_b = d_d / d_d[off].max(), d_b / d_b[off].max()
    weights = 1 + d_d / (d_d + d_b)
    panels = _panels(drawn_figures["negatives.png"])
    assert set(panels) == {(row, column) for row in range(4) for column in range(11)}
    for row in range(4):
        assert np.array_equal(panels[row, 0][0], images[row].permute(1, 2, 0).numpy())
        assert panels[row, 0][1] == "anchor"
        chosen = {}
        for column in range(1, 11):
            array, title = panels[row, column]
            (index,) = [j for j in range(len(images)) if np.array_equal(array, images[j].permute(1, 2, 0).numpy())]
            kind, shown = title.split(" w=")
            assert index != row and kind == ("easy" if column <= 5 else "hard")
            assert float(shown) == pytest.approx(float(weights[row, index]), abs=0.006)
            chosen[index] = kind
        others = [float(weights[row, j]) for j in range(len(images)) if j != row and j not in chosen]
        assert len(chosen) == 10
        assert max(float(weights[row, j]) for j, kind in chosen.items() if kind == "easy") <= min(others) + 1e-5
        assert min(float(weights[row, j]) for j, kind in chosen.items() if kind == "hard") >= max(others) - 1e-5


@pytest.mark.parametrize("variant", ["WCL.weights = @similarity_weights", "WCL.triplet = @debiased_triplet_loss",
                                     "WCL.beta = 1.0"])
def test_wcl_variants_run(tmp_path, variant):
    assert _run(tmp_path, "wcl.gin", extra=[variant, "WCL.figure_anchors = 0"]).record["status"] == "finished"


def test_weights_between_images_maps_negatives_back_to_images():
    torch.manual_seed(0)
    z_d, z_b = torch.randn(6, 4), torch.randn(6, 4)
    full = weights_between_images(relative_difficulty_weights, z_d, z_b)
    assert torch.isnan(full.diagonal()).all()
    unit_d, unit_b = torch.nn.functional.normalize(z_d, dim=1), torch.nn.functional.normalize(z_b, dim=1)
    d_d, d_b = torch.cdist(unit_d, unit_d), torch.cdist(unit_b, unit_b)
    expected = 1 + (d_d / d_d.max()) / (d_d / d_d.max() + d_b / d_b.max())
    off = ~torch.eye(6, dtype=torch.bool)
    assert torch.allclose(full[off], expected[off], atol=1e-5)


def test_easy_and_hard_negatives_are_the_bottom_and_top_five_by_weight():
    # images spread along an arc under E_b (anchor 0 at one end) and at random under E_d: whatever the weights,
    # the chosen indices must be the row's five lowest and five highest, never the anchor itself
    n = 13
    z_b = torch.zeros(n, 2)
    z_b[:, 0] = torch.cos(torch.arange(n) * 0.2)
    z_b[:, 1] = torch.sin(torch.arange(n) * 0.2)
    z_d = torch.randn(n, 2)
    weights = weights_between_images(relative_difficulty_weights, z_d, z_b)
    easy, hard = easiest_and_hardest(weights[:1], k=5)
    row = weights[0]
    order = torch.argsort(torch.nan_to_num(row, nan=float("inf")))
    assert set(easy[0].tolist()) == set(order[:5].tolist())
    assert set(hard[0].tolist()) == set(torch.argsort(torch.nan_to_num(row, nan=-1.0), descending=True)[:5].tolist())
    assert 0 not in easy[0].tolist() + hard[0].tolist()
    assert row[hard[0]].min() >= row[easy[0]].max()


def test_jtt_records_its_error_set_and_trains_two_stages(tmp_path):
    outcome = _run(tmp_path, "jtt.gin", extra=["JTT.upweight = 5"])
    details = outcome.record["method_details"]
    assert details["identification_epochs"] == 1 and details["upweight"] == 5
    assert 0 < details["error_set_size"] < 128
    assert set(outcome.record["metrics"]) == {"JTT"}


def test_jtt_empty_error_set_stops_with_a_clear_message(tmp_path, monkeypatch):
    from benchsuite.methods.jtt import JTT

    monkeypatch.setattr(JTT, "error_set", lambda self, dataset, context: torch.empty(0, dtype=torch.long))
    with pytest.raises(EmptyErrorSet, match=r"error set is empty.*JTT.identification_epochs"):
        _run(tmp_path, "jtt.gin")
    (record,) = tmp_path.rglob(records.RECORD)
    saved = json.loads(record.read_text())
    assert saved["status"] == "failed" and saved["method_details"]["error_set_size"] == 0


@pytest.mark.parametrize("name", ["ERM", "JTT", "CLAD", "CLADPlus", "SimCLR", "DCL", "HCL", "WCL"])
def test_every_method_augments_with_what_it_is_given_and_its_familys_default_otherwise(name):
    from torch import nn

    from benchsuite.registry import METHODS
    from benchsuite.training.augment import ContrastiveAugment, SupervisedAugment

    cls = METHODS.get(name)
    given = nn.Identity()
    assert cls(augment=given).augment is given
    default = SupervisedAugment if name in ("ERM", "JTT", "CLAD", "CLADPlus") else ContrastiveAugment
    assert type(cls().augment) is default


class _TestSplitOnly(Dataset):
    registered_name = "TestSplitOnly"
    num_classes = 2
    num_groups = 2

    def __init__(self, images: torch.Tensor) -> None:
        labels = torch.zeros(len(images), dtype=torch.long)
        self._split = TensorSplit(images, labels, labels)

    @property
    def _splits(self) -> dict[str, TensorSplit]:
        return dict.fromkeys(self.split_names, self._split)


def _panels(figure) -> dict[tuple[int, int], tuple[np.ndarray, str]]:
    """(row, column) -> (the image array shown, the title) of every panel of a grid figure."""
    panels = {}
    for axis in figure.axes:
        spec = axis.get_subplotspec()
        (image,) = axis.get_images()
        panels[spec.rowspan.start, spec.colspan.start] = (np.asarray(image.get_array()), axis.get_title())
    return panels


def test_the_negatives_figure_shows_each_anchors_easiest_and_hardest_negatives(tmp_path, drawn_figures):
    # 12 test images. E_d puts every pair at the same distance (one-hot projections), so the weight of image j
    # as a negative of anchor i, 1 + D~_d / (D~_d + D~_b), is 1 + 1 / (1 + D~_b(i, j)): it falls with the
    # distance under E_b, which places image j on the unit circle at angle a_j (no two distances tie).
    angles = [0.0, 0.07, 0.17, 0.31, 0.50, 0.72, 0.98, 1.28, 1.62, 2.0, 2.42, 2.9]
    n = len(angles)
    images = torch.randint(0, 256, (n, 3, 4, 4), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    z_d = torch.eye(n)
    z_b = torch.tensor([[math.cos(a), math.sin(a)] for a in angles])

    class Projections(torch.nn.Module):
        figure_anchors = 3
        weights = staticmethod(relative_difficulty_weights)

        def project(self, x):
            assert torch.allclose(x, images.float() / 255 * 2 - 1)  # the test images, normalised, in order
            return z_d, z_b

    save_negatives_figure(Projections(), _TestSplitOnly(images), RunContext(torch.device("cpu")),
                          tmp_path / "negatives.png", k=5)
    assert (tmp_path / "negatives.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    panels = _panels(drawn_figures["negatives.png"])
    assert set(panels) == {(row, column) for row in range(3) for column in range(11)}

    def weight(i: int, j: int) -> float:
        largest = 2 * math.sin(2.9 / 2)  # the chord between the two ends of the arc
        return 1 + 1 / (1 + 2 * math.sin(abs(angles[i] - angles[j]) / 2) / largest)

    # easy: the five farthest under E_b, lowest weight first; hard: the five nearest, highest weight first
    expected = {
        0: ([11, 10, 9, 8, 7], [1, 2, 3, 4, 5]),
        1: ([11, 10, 9, 8, 7], [0, 2, 3, 4, 5]),
        2: ([11, 10, 9, 8, 7], [1, 3, 0, 4, 5]),  # 0.10, 0.14, 0.17, 0.33, 0.55 away
    }
    for row, (easy, hard) in expected.items():
        shown = [(row, "anchor")] + [(j, f"easy w={weight(row, j):.2f}") for j in easy]
        shown += [(j, f"hard w={weight(row, j):.2f}") for j in hard]
        for column, (index, title) in enumerate(shown):
            array, shown_title = panels[row, column]
            assert np.array_equal(array, images[index].permute(1, 2, 0).numpy()), (row, column)
            assert shown_title == title


@pytest.mark.parametrize("gin_file", sorted((GIN / "methods").glob("*.gin")), ids=lambda path: path.stem)
def test_each_methods_python_defaults_are_its_gin_files_values(gin_file):
    """gin/methods/<method>.gin writes out the authors' settings; a method built in Python without gin gets the
    same (read from the built object, each setting kept under its parameter's name), so that a changed default
    cannot pass unnoticed behind the gin files."""
    import ast

    from benchsuite.registry import METHODS

    checked = 0
    for line in gin_file.read_text().splitlines():
        name, _, value = line.partition(" = ")
        method, _, parameter = name.partition(".")
        if method not in METHODS or "@" in value:
            continue
        assert getattr(METHODS.get(method)(), parameter) == ast.literal_eval(value), (gin_file.name, name)
        checked += 1
    assert checked or gin_file.stem in ("erm", "simclr")
