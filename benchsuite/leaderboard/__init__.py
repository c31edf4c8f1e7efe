"""Leaderboards regenerated from run records: `python -m benchsuite leaderboard`.

discover (walk results/) -> index (parquet, updated incrementally) -> rules and selection (one evaluation per
run, one setting per entry, mean and spread over seeds) -> tables, plots, pages (markdown and PNGs) ->
build.generate, which writes the leaderboards folder whole. The papers' numbers live in reported.py; cli.py
is the command's handler. Nothing here is imported by `import benchsuite`: polars and matplotlib load only
when a leaderboard is made.
"""
