"""The command line: `main.py` parses the arguments and hands each command to its module: `run.py`, `sweep.py`,
`listing.py`, `data.py`, `leaderboard.py`, `saliency.py`; `report.py` prints a finished run's table."""

from benchsuite.cli.main import main

__all__ = ["main"]
