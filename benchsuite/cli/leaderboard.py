"""The `leaderboard` subcommand: its arguments and its printed summary (what was read, skipped and written)."""

from __future__ import annotations

import argparse
from pathlib import Path

from benchsuite.errors import StorageError, storage_message

#: skipped runs named one per line in the summary; the rest are counted
SHOWN_SKIPPED = 50


def add_parser(commands: argparse._SubParsersAction) -> None:
    from benchsuite.leaderboard.rules import RULES

    parser = commands.add_parser(
        "leaderboard", help="regenerate markdown tables and plots from the run records under results/"
    )
    parser.add_argument("--results", default="results", metavar="DIR", help="results folder (default: results)")
    parser.add_argument("--out", default="leaderboards", metavar="DIR", help="output folder (default: leaderboards)")
    parser.add_argument(
        "--selection", default="last-epoch", choices=sorted(RULES), metavar="RULE",
        help=f"model selection rule: {', '.join(RULES)} (default: last-epoch)",
    )
    parser.add_argument(
        "--format", default="md,csv,tex", metavar="LIST",
        help="files per dataset, comma-separated: md (always), csv, tex (default: md,csv,tex)",
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from benchsuite.leaderboard.build import generate

    command = (
        f"python -m benchsuite leaderboard --results {args.results} --out {args.out} --selection {args.selection} "
        f"--format {args.format}"
    )
    try:
        summary = generate(Path(args.results), Path(args.out), args.selection, command, args.format)
    except OSError as error:  # a full disk or a lost permission: the old pages stay as they were (build.py)
        raise StorageError(storage_message(error.filename or args.out, error)) from None
    print(
        f"Read {summary.folders} run folders under {args.results} ({summary.changed} new or changed since the last "
        f"index, {summary.removed} removed): {summary.used} used, {len(summary.skipped)} skipped."
    )
    for run, problem in summary.skipped[:SHOWN_SKIPPED]:
        print(f"  skipped {Path(args.results) / run}: {problem}")
    if len(summary.skipped) > SHOWN_SKIPPED:
        print(f"  ... and {len(summary.skipped) - SHOWN_SKIPPED} more (counted by reason in {args.out}/README.md)")
    if summary.note:
        print(f"Note: {summary.note}.")
    print(f"Wrote {len(summary.files)} files to {summary.out} (selection: {summary.rule}): {', '.join(summary.files)}")
    return 0
