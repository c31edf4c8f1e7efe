"""`sweep --rerun-best N --selection RULE`: after a grid sweep has finished, run each entry's best setting again
with N new seeds, as one more job array.

The grid's seeds chose the setting, so their scores are biased upwards; the rerun's seeds are fresh (never the
grid's: the N integers after the grid's largest seed, the same for every setting, so that a setting is never
tied to a seed) and give the entry an unbiased estimate. The best setting of each leaderboard entry (an
experiment's row label) is chosen exactly as the leaderboard chooses it, by the rule on validation, from the
grid's runs only. Rerun runs carry `run.rerun_of = '<rule>'`: their run ids differ from the grid's, their
hyperparameter setting is the one they rerun (ingest leaves the binding out of the setting), and the
leaderboard shows their seeds for the entry and says so. The specs depend only on the grid's records, so a
second call plans the same runs and runs only what is missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl

from benchsuite.errors import ConfigError
from benchsuite.sweep.grid import PlannedRun, RunSpec

RERUN_BINDING = "run.rerun_of"


def new_seeds(grid_seeds: Sequence[int], count: int) -> list[int]:
    """`count` seeds after the grid's largest: never one of the grid's, the same for every setting."""
    if count < 1:
        raise ConfigError(f"--rerun-best {count}: give the number of new seeds to run each best setting with (>= 1).")
    start = max(grid_seeds, default=-1) + 1
    return list(range(start, start + count))


def best_settings(grid: Sequence[PlannedRun], results: Path, rule_name: str) -> list[tuple[str, str, RunSpec]]:
    """(experiment, row label, a grid spec of the chosen setting) per entry, chosen from the grid's runs."""
    from benchsuite.leaderboard import index as run_index
    from benchsuite.leaderboard.rules import rule_named
    from benchsuite.leaderboard.selection import select

    rule = rule_named(rule_name)
    unfinished = [run for run in grid if run.state != "finished"]
    if unfinished:
        raise ConfigError(
            f"--rerun-best reruns the best setting of a finished grid, but {len(unfinished)} of its {len(grid)} runs "
            f"are not finished (e.g. {unfinished[0].run_dir}: {unfinished[0].state}). Run the same sweep command "
            "without --rerun-best first (it runs only what is missing), then rerun the best settings."
        )
    keys = {f"{run.run_dir.parent.name}/{run.run_dir.name}": run.spec for run in grid}
    index = run_index.update(results)
    evaluations = index.evaluations.filter(pl.col("run").is_in(list(keys)))
    entries = select(evaluations, rule).entries
    if entries.is_empty():
        raise ConfigError(
            f"--selection {rule.name}: none of the grid's {len(grid)} runs has a {rule.metric} score, so no setting "
            "can be chosen; choose a rule whose metric the runs log (e.g. last-epoch)."
        )
    # the setting of each grid run as its record gives it (a run made by hand with the same config shares the
    # folder, whatever the order of its bindings)
    setting_of = dict(index.runs.filter(pl.col("run").is_in(list(keys))).select("run", "setting").iter_rows())
    by_setting = {(Path(key).parent.name, setting_of.get(key)): spec for key, spec in keys.items()}
    return [
        (experiment, row, by_setting[experiment, setting])
        for experiment, row, setting in entries.select("experiment", "row", "setting").iter_rows()
    ]


def rerun_specs(grid: Sequence[PlannedRun], results: Path, rule_name: str, seeds: Sequence[int]) -> list[RunSpec]:
    """The rerun's runs: each chosen setting (once, however many of its rows chose it) with every new seed."""
    specs: dict[tuple[str, tuple[str, ...]], RunSpec] = {}
    for _, _, spec in best_settings(grid, results, rule_name):
        setting = tuple(binding for binding in spec.bindings if not binding.replace(" ", "").startswith("run.seed="))
        for seed in seeds:
            bindings = (f"run.seed = {seed}", *setting, f"{RERUN_BINDING} = {rule_name!r}")
            rerun = RunSpec(spec.gin_files, bindings, spec.results, spec.workdir)
            specs.setdefault((spec.gin_files[0], bindings), rerun)
    return list(specs.values())
