"""Command line: `python -m benchsuite run | sweep | list | data | leaderboard | saliency`.

This module holds the argparse entry; each command is a module beside it (run.py, sweep.py, listing.py, data.py,
leaderboard.py, saliency.py), imported only when it runs.

Bad input (a gin file, a binding, a path, a plugin that cannot be loaded or that reuses a registered
name) prints one paragraph on stderr and exits with status 2; so do a run folder owned by another live
process (status 3), a file that cannot be written (status 1) and a run stopped by Ctrl-C or SIGTERM
(130, 143), each with its own paragraph (errors.py). Both commands take `--plugin module.path`
(repeatable) to load a plugin module that is not installed; installed plugins load by themselves.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence

from benchsuite.errors import SIGNAL_NAMES, ConfigError, RunInterrupted, RunOwned, StorageError, Terminated


def one_paragraph(error: Exception) -> str:
    """The message on one line, without the call-site notes that gin appends to errors raised under it."""
    lines = [line.strip() for line in str(error).splitlines()]
    return " ".join(line for line in lines if line and not line.startswith("In call to configurable"))


def _load_plugins(args: argparse.Namespace) -> None:
    """Load the built-ins, the installed plugins and the --plugin modules (experiment/components.py)."""
    from benchsuite.experiment import components

    components.load(args.plugin)


def _run(args: argparse.Namespace) -> int:
    from benchsuite.cli import run as run_command

    _load_plugins(args)
    return run_command.main(args)


def _sweep(args: argparse.Namespace) -> int:
    from benchsuite.cli import sweep as sweep_command

    _load_plugins(args)
    return sweep_command.main(args)


def _list(args: argparse.Namespace) -> int:
    from benchsuite.cli import listing

    _load_plugins(args)
    return listing.main()


def _data(args: argparse.Namespace) -> int:
    from benchsuite.cli.data import main as data_main

    _load_plugins(args)
    return data_main(args.gin, args.verify, args.workers)


def _saliency(args: argparse.Namespace) -> int:
    from benchsuite.cli.saliency import saliency_command

    _load_plugins(args)
    path = saliency_command(args.run_dirs, args.output, args.split, args.images, args.device, args.selection)
    print(f"saliency grid: {path}")
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m benchsuite", description=__doc__.splitlines()[0])
    commands = top.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run one experiment described by gin files")
    run.add_argument("--gin", action="append", required=True, metavar="FILE", help="gin file (repeatable)")
    run.add_argument(
        "--gin-param", action="append", default=[], metavar="BINDING", help="e.g. 'Trainer.epochs = 5' (repeatable)"
    )
    run.add_argument("--results", default="results", metavar="DIR", help="results folder (default: results)")
    run.add_argument("--force", action="store_true", help="run again even if this config already finished")
    run.set_defaults(handler=_run)

    sweep = commands.add_parser("sweep", help="run a sweep declared in gin through submitit (SLURM, local, debug)")
    sweep.add_argument(
        "--gin", action="append", required=True, metavar="FILE", help="sweep file, e.g. gin/sweeps/embedded.gin"
    )
    sweep.add_argument(
        "--gin-param", action="append", default=[], metavar="BINDING",
        help="'Sweep.seeds = [0]' configures the sweep; any other binding is added to every run (repeatable)",
    )
    sweep.add_argument("--cluster", choices=("slurm", "local", "debug"), help="overrides Sweep.cluster")
    sweep.add_argument("--results", default="results", metavar="DIR", help="results folder (default: results)")
    sweep.add_argument("--dry-run", action="store_true", help="list the runs and their states; run nothing")
    sweep.add_argument("--no-wait", action="store_true", help="submit and return without waiting for the jobs")
    from benchsuite.leaderboard.rules import RULES  # a plain dict: nothing heavy loads

    sweep.add_argument(
        "--rerun-best", type=int, metavar="N",
        help="after the grid has finished: run each entry's best setting (by --selection) with N new seeds",
    )
    sweep.add_argument(
        "--selection", choices=sorted(RULES), metavar="RULE",
        help=f"the rule that chooses the setting --rerun-best reruns: {', '.join(RULES)}",
    )
    sweep.set_defaults(handler=_sweep)

    from benchsuite.cli.leaderboard import add_parser as add_leaderboard  # argparse only: polars loads on use

    add_leaderboard(commands)

    listing = commands.add_parser("list", help="list registered methods, datasets and backbones")
    listing.set_defaults(handler=_list)

    data = commands.add_parser("data", help="list each dataset, whether its data is found, and its split sizes")
    data.add_argument("--gin", action="append", default=[], metavar="FILE",
                      help="gin file whose bindings (e.g. Waterbirds.root) apply (repeatable)")
    data.add_argument("--verify", nargs="*", metavar="DATASET",
                      help="decode every image of these datasets (default: all found); exit status 1 if any is "
                           "unreadable")
    data.add_argument("--workers", type=int, metavar="N",
                      help="decoding processes for --verify (default: ImageLoading.num_workers)")
    data.set_defaults(handler=_data)

    saliency = commands.add_parser(
        "saliency", help="PNG grid of input-gradient saliency |d logit_y / d x| of finished runs, side by side"
    )
    saliency.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="finished run folders (results/<exp>/<id>)")
    saliency.add_argument("--output", default="saliency.png", metavar="PNG", help="default: saliency.png")
    saliency.add_argument("--split", default="test", help="evaluation split of the images (default: test)")
    saliency.add_argument("--images", type=int, default=8, metavar="N", help="the split's first N images (default 8)")
    saliency.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    saliency.add_argument(
        "--selection", choices=sorted(rule.name for rule in RULES.values() if rule.best_epoch), metavar="RULE",
        help="load the checkpoint kept for this rule (runs made with Trainer.rule_checkpoints = True) instead of "
        "the last epoch's",
    )
    saliency.set_defaults(handler=_saliency)
    for command in (run, sweep, listing, data, saliency):
        command.add_argument(
            "--plugin", action="append", default=[], metavar="MODULE",
            help="import a plugin module that is not installed, e.g. my_methods.mixup (repeatable)",
        )
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:  # each command but `leaderboard` loads the built-ins and plugins first: `leaderboard` never loads torch
        return args.handler(args)
    except (ConfigError, RunOwned, StorageError) as error:
        print(f"error: {one_paragraph(error)}", file=sys.stderr)
        return error.status
    except RunInterrupted as error:
        print(f"stopped: {one_paragraph(error)}", file=sys.stderr)
        return error.status
    except (KeyboardInterrupt, Terminated) as error:  # before a run took its folder: nothing to resume
        number = signal.SIGINT if isinstance(error, KeyboardInterrupt) else signal.SIGTERM
        print(f"stopped: by {SIGNAL_NAMES[number]}, before a run had taken its folder or while it was recording "
              "its end; the same command starts or resumes it.", file=sys.stderr)
        return 128 + number
