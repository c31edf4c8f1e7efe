"""End-to-end runs on the embedded benchmark, shrunk to seconds: every method, records, determinism."""

from __future__ import annotations

import json

import pytest

from benchsuite import records
from benchsuite.cli import main
from benchsuite.experiment.execute import execute
from benchsuite.registry import METHODS
from tests.conftest import GIN, TINY, TINY_DATA


def method_gin(name: str):
    # CLADPlus (a gin name cannot hold '+') ships methods/clad_plus.gin
    return GIN / "methods" / f"{name.replace('Plus', '_plus').lower().replace('+', '_plus')}.gin"


def tiny_run(tmp_path, method: str, dataset_gin: str = "synthetic_backgrounds", extra=(), force=False):
    dataset = "".join(part.capitalize() for part in dataset_gin.split("_"))
    files = [GIN / "base.gin", method_gin(method), GIN / "datasets" / f"{dataset_gin}.gin"]
    return execute(files, [*TINY, *TINY_DATA[dataset], *extra], results=tmp_path / "results", force=force)


@pytest.mark.parametrize("method", METHODS.names())
def test_every_registered_method_runs_on_the_embedded_benchmark(tmp_path, method):
    assert method_gin(method).is_file(), f"each method ships gin/methods/<name>.gin; missing for {method}"
    outcome = tiny_run(tmp_path, method)
    record = outcome.record
    assert record["status"] == "finished" and record["method"] == method
    for metrics in record["metrics"].values():
        for key in ("test/top1", "test/top5", "test/worst_group", "mixed_rand/top1"):
            assert 0 <= metrics[key] <= 1
        # the derived metrics are what they are defined as, in every method's record
        assert metrics["bg_gap"] == pytest.approx(metrics["mixed_same/top1"] - metrics["mixed_rand/top1"], abs=1e-12)
        assert metrics["biased"] == metrics["mixed_same/top1"] and metrics["debiased"] == metrics["mixed_rand/top1"]
        groups = [value for key, value in metrics.items() if key.startswith("test/group/")]
        assert metrics["test/worst_group"] == min(groups)
    lines = (outcome.run_dir / records.METRICS).read_text().splitlines()
    assert len(lines) == len(record["metrics"])  # one evaluation (1 epoch) per row
    assert (outcome.run_dir / records.CHECKPOINT).is_file()


def test_record_has_its_schema_and_provenance(tmp_path):
    outcome = tiny_run(tmp_path, "ERM", "synthetic_waterbirds")
    on_disk = json.loads((outcome.run_dir / records.RECORD).read_text())
    assert on_disk == json.loads(json.dumps(outcome.record))
    for key in ("schema_version", "run_id", "experiment", "method", "dataset", "backbone", "seed", "status",
                "metrics", "gin_config", "gin_files", "gin_bindings", "git", "versions", "device",
                "wall_time_s", "peak_memory", "started_at", "finished_at"):
        assert key in on_disk, key
    assert on_disk["schema_version"] == records.SCHEMA_VERSION
    assert on_disk["run_id"] == outcome.run_dir.name
    assert "Trainer.epochs = 1" in on_disk["gin_config"]
    assert set(on_disk["git"]) == {"commit", "dirty"}
    assert on_disk["versions"]["torch"]
    metrics = on_disk["metrics"]["ERM"]
    assert {"biased", "debiased", "test/group/0", "test/group/3"} <= set(metrics)
    # the test split holds its 4 groups in equal numbers: the pooled accuracies are the groups' means
    assert metrics["biased"] == pytest.approx((metrics["test/group/0"] + metrics["test/group/3"]) / 2, abs=1e-12)
    assert metrics["debiased"] == pytest.approx((metrics["test/group/1"] + metrics["test/group/2"]) / 2, abs=1e-12)


def test_same_seed_same_metrics_other_seed_different(tmp_path):
    first = tiny_run(tmp_path / "a", "ERM").record["metrics"]
    again = tiny_run(tmp_path / "b", "ERM").record["metrics"]
    other = tiny_run(tmp_path / "c", "ERM", extra=["run.seed = 1"]).record["metrics"]
    assert first == again
    assert first != other


def test_same_config_same_folder_and_finished_runs_are_not_rerun(tmp_path, capsys):
    first = tiny_run(tmp_path, "ERM")
    second = tiny_run(tmp_path, "ERM")
    assert second.run_dir == first.run_dir and second.already_finished
    assert second.record["finished_at"] == first.record["finished_at"]
    forced = tiny_run(tmp_path, "ERM", force=True)
    assert not forced.already_finished and forced.run_dir == first.run_dir
    other = tiny_run(tmp_path, "ERM", extra=["Trainer.lr = 0.01"])
    assert other.run_dir != first.run_dir


def test_cli_prints_a_results_table(tmp_path, capsys):
    argv = ["run", "--gin", str(GIN / "erm_synthetic_backgrounds.gin"), "--results", str(tmp_path)]
    for binding in TINY + TINY_DATA["SyntheticBackgrounds"]:
        argv += ["--gin-param", binding]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "BG-gap" in out and "mixed-rand" in out and "ERM" in out
    assert main(argv) == 0
    assert "already finished" in capsys.readouterr().out


def test_a_failing_run_is_recorded_as_failed(tmp_path):
    with pytest.raises(Exception, match="loss became nan"):
        tiny_run(tmp_path, "ERM", extra=["Trainer.lr = 1e30"])
    (record_file,) = (tmp_path / "results").rglob(records.RECORD)
    record = json.loads(record_file.read_text())
    assert record["status"] == "failed" and "nan" in record["error"]


def test_the_frozen_encoder_evaluation_is_configured_at_the_root_and_passed_down(tmp_path):
    """`run` builds the FrozenEncoderEvaluation of the gin config once, for a representation method only, or uses
    the one it is given: the method's metrics and the record's `evaluation` both come from it."""
    import gin

    from benchsuite import config
    from benchsuite.evaluation import FrozenEncoderEvaluation
    from benchsuite.experiment import components
    from benchsuite.experiment.run import run

    class FixedProbe:
        def describe(self) -> str:
            return "a fixed probe"

        def __call__(self, features, dataset):
            assert set(features) == {"train", *dataset.eval_splits}
            return {"test/top1": 0.25}

    components.load()
    config.parse([GIN / "base.gin", method_gin("SimCLR"), GIN / "datasets" / "synthetic_backgrounds.gin"],
                 [*TINY, *TINY_DATA["SyntheticBackgrounds"]])
    try:
        given = FrozenEncoderEvaluation(probe=FixedProbe(), knn=False)
        record = run(run_dir=tmp_path / "given", evaluation=given)
    finally:
        gin.clear_config()
    assert record["evaluation"] == {"probe": "a fixed probe"}
    assert record["metrics"] == {"SimCLR": {"test/top1": 0.25}}
    assert "run.evaluation" not in record["gin_config"]  # a Python argument, not a gin parameter

    # built from the config (LinearProbe bound as in gin/protocols/authors_probe.gin), only where it is used
    probe = ["FrozenEncoderEvaluation.probe = @LinearProbe()", "FrozenEncoderEvaluation.knn = False"]
    representation = tiny_run(tmp_path, "SimCLR", extra=probe).record
    assert representation["evaluation"]["probe"].startswith("LinearProbe: 2 epochs of Adam")
    assert "FrozenEncoderEvaluation.probe = @LinearProbe()" in representation["gin_config"]
    supervised = tiny_run(tmp_path, "ERM", extra=probe).record
    assert supervised["evaluation"] == {"classifier": "the method's own linear classifier on its backbone"}
    assert "LinearProbe.epochs" not in supervised["gin_config"]
