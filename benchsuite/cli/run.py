"""The `run` command: one experiment from its gin files, then its results table."""

from __future__ import annotations

import argparse

from rich.console import Console

from benchsuite.cli.report import summary_table
from benchsuite.experiment.execute import execute, stop_on_sigterm
from benchsuite.training import distributed


def main(args: argparse.Namespace) -> int:
    """Execute the run (the built-ins and plugins are loaded); print its table on the main process."""
    # `import` lines make the --plugin modules part of the canonical config: the run id and the record's
    # gin config name them, as they would for a gin file's own import lines.
    bindings = [*(f"import {module}" for module in args.plugin), *args.gin_param]
    with stop_on_sigterm():
        outcome = execute(args.gin, bindings, results=args.results, force=args.force)
    reports = distributed.is_main()  # under torchrun, rank 0 reports
    distributed.finish()
    if not reports:
        return 0
    console = Console()
    if outcome.already_finished:
        console.print(
            f"Run {outcome.run_dir} already finished ({outcome.record.get('finished_at')}); nothing to do. "
            "Pass --force to run it again."
        )
    for note in (outcome.record.get("data") or {}).get("notes", []):
        console.print(f"note: {note}", soft_wrap=True)
    console.print(summary_table(outcome.record))
    console.print(f"record: {outcome.run_dir / 'record.json'}  wall time: {outcome.record['wall_time_s']:.1f} s")
    return 0
