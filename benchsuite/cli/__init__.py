"""The command line: `main.py` parses the arguments and hands each command to its module (run and list in
`main.py` itself; `sweep.py`, `leaderboard.py`, `data.py`, `saliency.py`; `report.py` prints a run's table)."""

from benchsuite.cli.main import main

__all__ = ["main"]
