"""Every experiment file on a real dataset runs end to end on the tiny fixtures with gin/overrides/fixture_scale.gin,
in this one process; the headline command runs WCL on the Waterbirds fixture through the CLI."""

from __future__ import annotations

import json

import pytest

from benchsuite.cli import main
from benchsuite.datasets.locating import DATA_ENV
from benchsuite.experiment.execute import execute
from tests.conftest import GIN
from tests.fixtures import write_all

OVERRIDE = GIN / "overrides" / "fixture_scale.gin"
#: the datasets of the WCL paper's Tables 1-2 and the CLAD paper's ImageNet-9, as experiment file suffixes
REAL = ("cifar10", "cifar100", "waterbirds", "celeba_blond_male", "celeba_attractive_male", "imagenet9")
EXPERIMENTS = sorted(p.name for p in GIN.glob("*.gin") if p.stem.endswith(REAL) and "synthetic" not in p.stem)


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    write_all(root)
    return root


def test_every_paper_experiment_exists():
    expected = {f"{m}_{d}.gin" for m in ("jtt", "simclr", "dcl", "hcl", "wcl") for d in REAL[:-1]}
    assert expected | {"erm_imagenet9.gin", "clad_imagenet9.gin", "clad_plus_imagenet9.gin"} <= set(EXPERIMENTS)


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_runs_on_the_fixture(experiment, data_root, tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_ENV, str(data_root))
    outcome = execute([GIN / experiment, OVERRIDE], results=tmp_path)
    record = outcome.record
    assert record["status"] == "finished"
    assert outcome.run_dir.parent.name == experiment.removesuffix(".gin")
    assert record["backbone"] == "SmallCNN"
    for metrics in record["metrics"].values():
        # the worst group's accuracy is at most the pooled accuracy, which mixes it with better groups
        assert 0 <= metrics["test/worst_group"] <= metrics["test/top1"] <= 1
    if "celeba" in experiment:
        target = "Attractive" if "attractive" in experiment else "Blond_Hair"
        assert f"CelebA.target = '{target}'" in record["gin_config"]
    if "waterbirds" in experiment or "celeba" in experiment:
        assert {"biased", "debiased"} <= set(next(iter(record["metrics"].values())))
    if experiment.endswith("imagenet9.gin"):
        (row,) = record["metrics"].values()
        assert {"mixed_rand/top1", "only_bg_b/top1", "bg_gap"} <= set(row)


def test_headline_command_on_the_waterbirds_fixture(data_root, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(DATA_ENV, str(data_root))
    argv = ["run", "--gin", str(GIN / "wcl_waterbirds.gin"), "--gin", str(OVERRIDE), "--results", str(tmp_path)]
    assert main(argv) == 0
    (run_dir,) = (tmp_path / "wcl_waterbirds").iterdir()
    record = json.loads((run_dir / "record.json").read_text())
    assert record["status"] == "finished" and record["dataset"] == "Waterbirds"
    assert set(record["metrics"]) == {"WCL (E_d)", "WCL (E_b)"}
    assert "WCL (E_d)" in capsys.readouterr().out


def test_missing_data_root_is_one_paragraph(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(DATA_ENV, raising=False)
    argv = ["run", "--gin", str(GIN / "wcl_waterbirds.gin"), "--gin", str(OVERRIDE), "--results", str(tmp_path)]
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and DATA_ENV in error and "Waterbirds.root" in error
    assert not any(tmp_path.iterdir())
