"""Sweeps: expansion into plain-string run specs, states of runs, local and debug execution, resubmission."""

from __future__ import annotations

import json

import pytest

from benchsuite import records
from benchsuite.cli import main
from benchsuite.errors import ConfigError
from benchsuite.sweep.grid import RunSpec, Sweep, gin_root_of, load_sweep, locate, plan
from tests.conftest import GIN, TINY, TINY_DATA

SWEEP = GIN / "sweeps" / "embedded.gin"
#: two methods on one embedded benchmark, two seeds, every run shrunk to seconds
SMALL = [
    "Sweep.methods = ['erm', 'jtt']",
    "Sweep.datasets = ['synthetic_backgrounds']",
    "Sweep.seeds = [0, 1]",
    *TINY,
    *TINY_DATA["SyntheticBackgrounds"],
]


def _params(bindings):
    return [arg for binding in bindings for arg in ("--gin-param", binding)]


def _sweep(tmp_path, *extra: str, bindings=SMALL):
    return main(["sweep", "--gin", str(SWEEP), "--results", str(tmp_path / "results"), *_params(bindings), *extra])


def test_a_sweep_expands_to_plain_strings_in_a_stable_order():
    sweep = load_sweep([SWEEP], ["Sweep.grids = {'wcl': {'WCL.lr_b': [0.01, 0.1], 'WCL.tau_plus': [0.1]}}",
                                 "Sweep.seeds = [0, 1, 2]"])
    specs = sweep.specs(gin_root_of(SWEEP), "results")
    assert len(specs) == 8 * 3 * 3 + 3 * 3  # WCL has two settings
    for spec in specs:
        assert isinstance(spec, RunSpec)
        assert all(isinstance(item, str) for item in (*spec.gin_files, *spec.bindings, spec.results, spec.workdir))
    wcl = [spec for spec in specs if spec.gin_files[0].endswith("wcl_synthetic_backgrounds.gin")]
    assert [spec.bindings[:3] for spec in wcl] == [
        ("run.seed = 0", "WCL.lr_b = 0.01", "WCL.tau_plus = 0.1"),
        ("run.seed = 1", "WCL.lr_b = 0.01", "WCL.tau_plus = 0.1"),
        ("run.seed = 2", "WCL.lr_b = 0.01", "WCL.tau_plus = 0.1"),
        ("run.seed = 0", "WCL.lr_b = 0.1", "WCL.tau_plus = 0.1"),
        ("run.seed = 1", "WCL.lr_b = 0.1", "WCL.tau_plus = 0.1"),
        ("run.seed = 2", "WCL.lr_b = 0.1", "WCL.tau_plus = 0.1"),
    ]
    assert specs[0].command() == ("python -m benchsuite run --gin gin/erm_synthetic_backgrounds.gin "
                                  "--gin-param 'run.seed = 0' --gin-param 'Trainer.progress = False' --results results")


def test_a_missing_experiment_file_names_the_pair_and_the_files_there():
    sweep = load_sweep([SWEEP], ["Sweep.datasets = ['synthetic_backgrounds', 'celebaa']"])
    with pytest.raises(ConfigError, match=r"no experiment file erm_celebaa\.gin, jtt_celebaa\.gin.*"
                                          r"erm_synthetic_backgrounds\.gin"):
        sweep.specs(gin_root_of(SWEEP), "results")


def test_a_grid_for_a_method_outside_the_sweep_is_rejected():
    sweep = load_sweep([SWEEP], ["Sweep.grids = {'dlc': {'DCL.tau_plus': [0.1]}}"])
    with pytest.raises(ConfigError, match=r"Sweep\.grids names dlc.*erm, jtt, simclr, dcl, hcl, wcl, clad, clad_plus"):
        sweep.specs(gin_root_of(SWEEP), "results")


def test_a_sweep_file_without_its_required_bindings_says_which(tmp_path):
    bare = tmp_path / "gin" / "sweeps" / "bare.gin"
    bare.parent.mkdir(parents=True)
    bare.write_text("import benchsuite.sweep.grid\nSweep.name = 'bare'\n")
    with pytest.raises(ConfigError) as raised:
        load_sweep([bare])
    # the file, gin's own first line ended by one full stop, then what a sweep needs
    message = str(raised.value)
    prefix = f"Sweep file(s) {bare}: "
    suffix = " A sweep binds at least Sweep.name, Sweep.methods and Sweep.datasets (gin/sweeps/embedded.gin shows how)."
    assert message.startswith(prefix) and message.endswith(suffix), message
    gins = message[len(prefix):-len(suffix)]
    assert gins and gins[0] not in ". " and gins.endswith(".") and not gins.endswith("..") and "\n" not in gins, message


@pytest.mark.slow
def test_a_local_sweep_runs_everything_once_records_failures_and_resubmits_only_the_rest(tmp_path, capsys):
    # JTT with an empty error set fails (a huge upweighting cannot help when stage 1 fits the training set):
    # force it with an out-of-range learning rate instead, which is a NaN loss on any data.
    failing = [*SMALL, "Sweep.grids = {'jtt': {'Trainer.lr': [1e30]}}", "Sweep.parallelism = 2"]
    assert _sweep(tmp_path, "--cluster", "local", bindings=failing) == 1
    out = capsys.readouterr().out
    assert "4 runs: 2 finished, 2 failed, 0 running, 0 incomplete, 0 to do" in out
    assert out.count("FAILED") == 2 and "the loss became nan" in out
    states = {run.run_dir.parent.name: run.state for run in _planned(tmp_path, failing)}
    assert states == {"erm_synthetic_backgrounds": "finished", "jtt_synthetic_backgrounds": "failed"}

    finished = [run.run_dir for run in _planned(tmp_path, failing) if run.state == "finished"]
    stamps = {run_dir: (run_dir / records.RECORD).stat().st_mtime_ns for run_dir in finished}
    sane = [*SMALL, "Sweep.grids = {'jtt': {'Trainer.lr': [1e-3]}}"]
    assert _sweep(tmp_path, "--cluster", "debug", bindings=sane) == 0
    out = capsys.readouterr().out
    assert "4 runs: 2 finished, 0 failed, 0 running, 0 incomplete, 2 to do; running what is neither finished nor" in out
    assert "4 runs: 4 finished" in out
    assert {run_dir: (run_dir / records.RECORD).stat().st_mtime_ns for run_dir in finished} == stamps


def _planned(tmp_path, bindings):
    sweep_bindings = [b for b in bindings if b.startswith("Sweep.")]
    run_bindings = [b for b in bindings if not b.startswith("Sweep.")]
    sweep = load_sweep([SWEEP], sweep_bindings)
    return plan(sweep.specs(gin_root_of(SWEEP), str(tmp_path / "results"), run_bindings))


def test_dry_run_shows_each_state_and_runs_nothing(tmp_path, capsys):
    runs = _planned(tmp_path, SMALL)
    finished, failed, incomplete, _ = (run.run_dir for run in runs)
    for run_dir, status in ((finished, "finished"), (failed, "failed")):
        run_dir.mkdir(parents=True)
        records.write_json_atomic(run_dir / records.RECORD, {"status": status, "error": "NonFiniteLoss: nan"})
    incomplete.mkdir(parents=True)
    (incomplete / records.CHECKPOINT).write_bytes(b"")
    assert _sweep(tmp_path, "--dry-run") == 0
    out = capsys.readouterr().out
    assert "4 runs: 1 finished, 1 failed, 0 running, 1 incomplete, 1 to do" in out
    assert "failed (NonFiniteLoss: nan)" in out and "incomplete (started, with a checkpoint)" in out
    assert sorted(p.name for p in (tmp_path / "results").rglob("*") if p.is_file()) == ["checkpoint.pt"] + [
        "record.json"
    ] * 2


def test_a_sweep_and_a_single_run_of_the_same_config_share_the_run_folder(tmp_path):
    run = _planned(tmp_path, SMALL)[0]
    status = main(["run", *(arg for f in run.spec.gin_files for arg in ("--gin", f)), *_params(run.spec.bindings),
                   "--results", str(tmp_path / "results")])
    assert status == 0
    assert json.loads((run.run_dir / records.RECORD).read_text())["status"] == "finished"
    assert _planned(tmp_path, SMALL)[0].state == "finished"


def test_a_run_owned_by_a_live_process_is_listed_as_running_elsewhere_and_not_submitted(tmp_path, capsys,
                                                                                        monkeypatch):
    import os
    import socket
    import subprocess
    import sys

    from benchsuite.experiment import ownership
    from benchsuite.sweep import submit as sweep_submit

    live, dead = (run.run_dir for run in _planned(tmp_path, SMALL)[:2])
    owner = ownership.Ownership(live)  # this test's process: alive
    owner.acquire()
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    dead.mkdir(parents=True)
    (dead / ownership.LOCK).write_text(json.dumps({
        "host": socket.gethostname(), "pid": gone.pid, "started_at": "2026-01-01T00:00:00+00:00",
        "heartbeat": 0.0, "token": "dead"}))
    try:
        assert _sweep(tmp_path, "--dry-run") == 0
        out = capsys.readouterr().out
        assert "4 runs: 0 finished, 0 failed, 1 running, 1 incomplete, 2 to do" in out  # the dead one is resumed
        assert f"running (elsewhere: host {socket.gethostname()}, pid {os.getpid()}, since" in out
        runs = _planned(tmp_path, SMALL)
        monkeypatch.setattr(sweep_submit, "executor_for", lambda *args: pytest.fail("a running run was submitted"))
        assert sweep_submit.submit(load_sweep([SWEEP]), [runs[0]], "debug", tmp_path / "jobs") == []
    finally:
        owner.release()


def test_override_files_are_found_beside_gin_or_where_an_absolute_path_says(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # not the folder that holds gin/: a relative override is still read beside gin/
    absolute = tmp_path / "mine.gin"
    overrides = f"Sweep.gin_overrides = ['gin/overrides/fixture_scale.gin', '{absolute}']"
    sweep = load_sweep([SWEEP], [*SMALL[:3], overrides])
    spec = sweep.specs(gin_root_of(SWEEP), "results")[0]
    assert spec.workdir == str(tmp_path)
    assert [(tmp_path / file).resolve() for file in spec.gin_files] == [
        GIN / "erm_synthetic_backgrounds.gin", GIN / "overrides" / "fixture_scale.gin", absolute]
    assert spec.gin_files[2] == "mine.gin"  # relative to the workdir, where a worker parses it


def test_a_sweep_that_names_no_cluster_runs_on_this_machine_and_keeps_its_executor_settings():
    assert Sweep(name="s", methods=["erm"], datasets=["synthetic_backgrounds"]).cluster == "local"
    sweep = load_sweep([SWEEP], ["Sweep.parallelism = 3", "Sweep.partition = 'gpu'", "Sweep.mem_gb = 8.0"])
    assert (sweep.parallelism, sweep.partition, sweep.mem_gb) == (3, "gpu", 8.0)


def test_a_relative_results_folder_is_located_from_the_specs_workdir_not_the_callers(tmp_path, monkeypatch):
    monkeypatch.chdir(GIN.parent)
    spec = load_sweep([SWEEP], SMALL).specs(gin_root_of(SWEEP), "results")[0]
    monkeypatch.chdir(tmp_path)
    run_dir = locate(spec)
    assert run_dir.is_absolute() and run_dir.parent == GIN.parent / "results" / "erm_synthetic_backgrounds"
    elsewhere = locate(RunSpec(spec.gin_files, spec.bindings, str(tmp_path / "out"), spec.workdir))
    assert elsewhere.parent == tmp_path / "out" / "erm_synthetic_backgrounds" and elsewhere.name == run_dir.name
