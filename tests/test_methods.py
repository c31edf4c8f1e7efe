"""Method-specific behaviour: WCL's two rows and negatives figure, JTT's stages, error set and record."""

from __future__ import annotations

import json

import pytest
import torch

from benchsuite import records
from benchsuite.losses.wcl import relative_difficulty_weights
from benchsuite.methods.jtt import EmptyErrorSet
from benchsuite.methods.negatives_figure import easiest_and_hardest, weights_between_images
from benchsuite.run import execute
from tests.conftest import GIN, TINY, TINY_DATA


def _run(tmp_path, method_gin: str, dataset: str = "SyntheticWaterbirds", extra=()):
    dataset_gin = {"SyntheticWaterbirds": "synthetic_waterbirds", "SyntheticBackgrounds": "synthetic_backgrounds"}
    files = [GIN / "base.gin", GIN / "methods" / method_gin, GIN / "datasets" / f"{dataset_gin[dataset]}.gin"]
    return execute(files, [*TINY, *TINY_DATA[dataset], *extra], results=tmp_path)


def test_wcl_reports_both_encoders_and_draws_the_negatives_figure(tmp_path):
    outcome = _run(tmp_path, "wcl.gin")
    assert set(outcome.record["metrics"]) == {"WCL (E_d)", "WCL (E_b)"}
    assert outcome.record["metrics"]["WCL (E_d)"] != outcome.record["metrics"]["WCL (E_b)"]
    rows = [json.loads(line)["row"] for line in (outcome.run_dir / records.METRICS).read_text().splitlines()]
    assert sorted(rows) == ["WCL (E_b)", "WCL (E_d)"]
    figure = outcome.run_dir / "negatives.png"
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


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

    monkeypatch.setattr(JTT, "error_set", lambda self, dataset, trainer: torch.empty(0, dtype=torch.long))
    with pytest.raises(EmptyErrorSet, match=r"error set is empty.*JTT.identification_epochs"):
        _run(tmp_path, "jtt.gin")
    (record,) = tmp_path.rglob(records.RECORD)
    saved = json.loads(record.read_text())
    assert saved["status"] == "failed" and saved["method_details"]["error_set_size"] == 0


@pytest.mark.parametrize("name", ["ERM", "JTT", "CLAD", "CLADPlus", "SimCLR", "DCL", "HCL", "WCL"])
def test_every_method_augments_with_what_it_is_given_and_its_familys_default_otherwise(name):
    from torch import nn

    from benchsuite.augment import ContrastiveAugment, SupervisedAugment
    from benchsuite.registry import METHODS

    cls = METHODS.get(name)
    given = nn.Identity()
    assert cls(augment=given).augment is given
    default = SupervisedAugment if name in ("ERM", "JTT", "CLAD", "CLADPlus") else ContrastiveAugment
    assert type(cls().augment) is default
