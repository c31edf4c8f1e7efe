"""Model selection rules: which evaluation of each run, and which hyperparameter setting, a leaderboard shows.

Each rule says which labels it reads: class labels only (usable when the validation split has no group
labels, SubpopBench's attribute-unknown setting), class and group labels of the validation split, or the
test split's labels. A rule that reads test labels is an oracle (an upper bound, not a fair selection) and
is marked as one wherever it is named (`Rule.title`).
Kept apart from the polars query (selection.py) so that the command line and the Trainer (which keeps a
checkpoint per epoch-picking rule) can list them without importing it.
"""

from __future__ import annotations

from dataclasses import dataclass

from benchsuite.errors import ConfigError

VALIDATION = "val"
CLASS_ONLY = "class labels of the validation split"
CLASS_AND_GROUP = "class and group labels of the validation split"
TEST_LABELS = "class and group labels of the test split"


@dataclass(frozen=True)
class Rule:
    """How one evaluation per run, and one setting per entry, are chosen."""

    name: str
    metric: str
    best_epoch: bool
    description: str
    #: which labels the rule reads (one of CLASS_ONLY, CLASS_AND_GROUP, TEST_LABELS)
    labels: str

    @property
    def oracle(self) -> bool:
        return self.labels == TEST_LABELS

    @property
    def title(self) -> str:
        """The rule's name as tables and files show it: oracles say so."""
        return f"{self.name} (ORACLE: reads test labels)" if self.oracle else self.name


def _best(what: str) -> str:
    return (
        f"each run's evaluation with the best {what} (the earliest on ties); where an experiment has several "
        f"hyperparameter settings, the one with the best mean of that accuracy over its seeds"
    )


RULES = {
    rule.name: rule
    for rule in (
        Rule(
            "last-epoch", f"{VALIDATION}/top1", False,
            "each run's last evaluation; where an experiment has several hyperparameter settings, the one with "
            "the best mean validation top-1 over its seeds", CLASS_ONLY,
        ),
        Rule(
            "best-val-worst-group", f"{VALIDATION}/worst_group", True,
            _best("validation worst-group accuracy"), CLASS_AND_GROUP,
        ),
        Rule(
            "best-val-worst-class", f"{VALIDATION}/worst_class", True,
            _best("validation worst-class accuracy (no group labels needed)"),
            CLASS_ONLY,
        ),
        Rule(
            "best-val-average", f"{VALIDATION}/top1", True,
            _best("validation top-1 (average) accuracy"), CLASS_ONLY,
        ),
        Rule(
            "oracle-test-worst-group", "test/worst_group", True,
            _best("test worst-group accuracy")
            + "; an oracle: it selects on the numbers it reports, an upper bound for the other rules",
            TEST_LABELS,
        ),
    )
}

#: the rules that pick an epoch of each run, for which a run can keep the chosen evaluation's checkpoint
EPOCH_RULES = tuple(rule for rule in RULES.values() if rule.best_epoch)


def rule_named(name: str) -> Rule:
    if name not in RULES:
        raise ConfigError(f"Unknown selection rule {name!r} (--selection); choose one of {', '.join(RULES)}.")
    return RULES[name]
