"""`python -m benchsuite sweep`: expand a sweep file, show what is finished, run the rest, summarise.

--gin-param bindings of `Sweep.*` configure the sweep itself; every other binding is appended to each
run's bindings (e.g. `--gin-param 'Trainer.epochs = 1'` shortens every run of the sweep).
"""

from __future__ import annotations

import argparse
import copy
from collections import Counter
from pathlib import Path

from rich.console import Console

from benchsuite.errors import ConfigError
from benchsuite.sweep.grid import STATES, PlannedRun, Sweep, gin_root_of, load_sweep, plan
from benchsuite.sweep.submit import submit


def _counts(runs: list[PlannedRun]) -> str:
    counts = Counter(run.state for run in runs)
    return f"{len(runs)} runs: " + ", ".join(f"{counts.get(state, 0)} {state}" for state in STATES)


def _lines(runs: list[PlannedRun]) -> list[str]:
    """One line per run: experiment/run id, state, and the bindings that tell it apart."""
    lines = []
    for run in runs:
        state = run.state if not run.detail else f"{run.state} ({run.detail})"
        name = f"{run.run_dir.parent.name}/{run.run_dir.name}"
        lines.append(f"{name:<50} {state:<36} {'; '.join(run.spec.bindings)}")
    return lines


def main(args: argparse.Namespace) -> int:
    console = Console(highlight=False, soft_wrap=True)
    sweep_bindings = [b for b in args.gin_param if b.strip().startswith("Sweep.")]
    run_bindings = [b for b in args.gin_param if not b.strip().startswith("Sweep.")]
    sweep = load_sweep(args.gin, sweep_bindings)
    cluster = args.cluster or sweep.cluster
    specs = sweep.specs(gin_root_of(Path(args.gin[0])), args.results, run_bindings)
    runs = plan(specs)
    if getattr(args, "rerun_best", None) is not None or getattr(args, "selection", None) is not None:
        return _rerun_best(args, console, sweep, cluster, runs)
    return _run(args, console, sweep, cluster, specs, runs)


def _rerun_best(args: argparse.Namespace, console: Console, sweep: Sweep, cluster: str, grid: list[PlannedRun]) -> int:
    """--rerun-best N --selection RULE: the grid's best settings with N new seeds, as one more job array."""
    from benchsuite.sweep.rerun import new_seeds, rerun_specs

    if args.rerun_best is None or args.selection is None:
        raise ConfigError(
            "--rerun-best N and --selection RULE go together: the rule chooses each entry's best setting on "
            "validation, and N new seeds rerun it (e.g. --rerun-best 3 --selection best-val-worst-group)."
        )
    seeds = new_seeds(sweep.seeds, args.rerun_best)
    specs = rerun_specs(grid, Path(args.results), args.selection, seeds)
    settings = len({spec.bindings[1:] for spec in specs})
    console.print(
        f"sweep '{sweep.name}': rerun of the best setting by {args.selection} of each entry ({settings} setting(s)) "
        f"with the new seeds {', '.join(map(str, seeds))} (the grid's: {', '.join(map(str, sweep.seeds))})"
    )
    rerun = copy.copy(sweep)  # the same executor settings; its own submitit folder
    rerun.name = f"{sweep.name}-rerun-{args.selection}"
    return _run(args, console, rerun, cluster, specs, plan(specs))


def _run(args, console: Console, sweep: Sweep, cluster: str, specs, runs: list[PlannedRun]) -> int:
    if args.dry_run:
        for line in _lines(runs):
            print(line)
        console.print(f"sweep '{sweep.name}' ({cluster}): {_counts(runs)}")
        return 0
    console.print(f"sweep '{sweep.name}' ({cluster}): {_counts(runs)}; running what is neither finished nor "
                  "running elsewhere")
    folder = Path(args.results) / ".submitit" / sweep.name
    outcomes = submit(sweep, runs, cluster, folder, report=console.print, wait=not args.no_wait)
    if args.no_wait:
        console.print("submitted; run the same command with --dry-run to follow the sweep")
        return 0
    final = plan(specs)
    console.print(f"sweep '{sweep.name}' done: {_counts(final)}")
    failed = [run for run in final if run.state != "finished"]
    job_errors = {run.run_dir: error for run, error in outcomes if error is not None}
    for run in failed:
        # the record's error; a job that died before writing one (killed, out of memory) has only its exception
        reason = run.detail
        if not reason and run.run_dir in job_errors:
            reason = (str(job_errors[run.run_dir]).strip().splitlines() or ["?"])[-1]
        console.print(f"  {run.state}: {run.run_dir}  {reason}")
    return 1 if failed else 0
