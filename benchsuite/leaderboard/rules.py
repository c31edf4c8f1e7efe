"""Model selection rules: which evaluation of each run, and which hyperparameter setting, a leaderboard shows.

Kept apart from the polars query (selection.py) so that the command line can list them without importing it.
"""

from __future__ import annotations

from dataclasses import dataclass

from benchsuite.errors import ConfigError

VALIDATION = "val"


@dataclass(frozen=True)
class Rule:
    """How one evaluation per run, and one setting per entry, are chosen."""

    name: str
    metric: str
    best_epoch: bool
    description: str


RULES = {
    rule.name: rule
    for rule in (
        Rule(
            "last-epoch", f"{VALIDATION}/top1", False,
            "each run's last evaluation; where an experiment has several hyperparameter settings, the one with "
            "the best mean validation top-1 over its seeds",
        ),
        Rule(
            "best-val-worst-group", f"{VALIDATION}/worst_group", True,
            "each run's evaluation with the best validation worst-group accuracy (the earliest on ties); where an "
            "experiment has several hyperparameter settings, the one with the best mean of that accuracy over its "
            "seeds",
        ),
        Rule(
            "best-val-average", f"{VALIDATION}/top1", True,
            "each run's evaluation with the best validation top-1 (average) accuracy (the earliest on ties); "
            "where an experiment has several hyperparameter settings, the one with the best mean of that accuracy "
            "over its seeds",
        ),
    )
}


def rule_named(name: str) -> Rule:
    if name not in RULES:
        raise ConfigError(f"Unknown selection rule {name!r} (--selection); choose one of {', '.join(RULES)}.")
    return RULES[name]
