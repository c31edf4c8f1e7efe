"""The papers' orderings, checked on every page: does each claimed "A above B" hold here, and by how much against
the seeds' spread?

Each ordering is a paired comparison over the seeds both entries have (compare.paired: the mean of the per-seed
differences A - B with its 95% Student-t interval). It holds when the interval lies above zero, is reversed when
it lies below, and is unresolved otherwise; with fewer than compare.MIN_MARKED pairs it is not judged. Two entries
equal in every seed are tied, and said to be at the metric's floor when both are 0 there (worst-group accuracy on
a benchmark whose smallest groups no method gets right): neither is called above the other. Where a
method has several experiments on a dataset, each is compared with the other method's experiment whose name
shares the longest ending with it (compare.reference_of's rule).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from benchsuite.leaderboard.compare import MIN_MARKED, Paired, by_seed, paired, shared_ending


@dataclass(frozen=True)
class Ordering:
    above: str
    below: str
    metric: str
    source: str

    @property
    def claim(self) -> str:
        return f"{self.above} above {self.below} ({_METRIC_NAMES[self.metric]})"


_METRIC_NAMES = {"test/worst_group": "worst-group", "debiased": "debiased accuracy"}
#: what the papers report (shared/ALGORITHMS.md; WCL Tables 1 and 2; JTT; the CLAD README)
ORDERINGS = (
    Ordering("WCL (E_d)", "SimCLR", "test/worst_group", "WCL, Tables 1-2"),
    Ordering("WCL (E_d)", "DCL", "test/worst_group", "WCL, Tables 1-2"),
    Ordering("WCL (E_d)", "HCL", "test/worst_group", "WCL, Tables 1-2"),
    Ordering("WCL (E_d)", "WCL (E_b)", "test/worst_group", "WCL, Tables 1-2"),
    Ordering("JTT", "ERM", "test/worst_group", "JTT, Table 1"),
    Ordering("CLAD", "ERM", "debiased", "CLAD README (Mixed-Rand)"),
    Ordering("CLAD+", "ERM", "debiased", "CLAD README (Mixed-Rand)"),
)


@dataclass(frozen=True)
class Verdict:
    dataset: str
    ordering: Ordering
    above_experiment: str
    below_experiment: str
    difference: Paired
    #: both entries score exactly 0 in every shared seed
    floored: bool = False

    @property
    def judgement(self) -> str:
        d = self.difference
        if d.n < MIN_MARKED or d.low is None:
            return f"not judged (n = {d.n} < {MIN_MARKED})"
        if self.floored:
            return "not measurable here: both at 0 in every seed (the metric's floor)"
        if d.low == d.high == 0:
            return "tied: equal in every seed"
        if d.low > 0:
            return "holds"
        if d.high < 0:
            return "reversed"
        in_the_mean = "holds" if d.mean > 0 else "reversed" if d.mean < 0 else "no difference"
        return f"unresolved (the interval holds 0): {in_the_mean} in the mean"


def check(dataset: str, runs: pl.DataFrame) -> list[Verdict]:
    """The verdicts of every ordering whose two methods have entries in `runs` (one dataset's chosen runs)."""
    verdicts = []
    experiments = runs.select("row", "experiment").unique().rows()
    for ordering in ORDERINGS:
        if ordering.metric not in runs.columns:
            continue
        below = [experiment for row, experiment in experiments if row == ordering.below]
        for row, experiment in sorted(experiments):
            if row != ordering.above or not below:
                continue
            partner = min(below, key=lambda other: (-shared_ending(other, experiment), other))
            mine = by_seed(runs.filter((pl.col("row") == row) & (pl.col("experiment") == experiment)),
                            ordering.metric)
            theirs = by_seed(runs.filter((pl.col("row") == ordering.below) & (pl.col("experiment") == partner)),
                              ordering.metric)
            difference = paired(mine, theirs)
            if difference is not None:
                shared = mine.keys() & theirs.keys()
                floored = all(mine[seed] == 0 and theirs[seed] == 0 for seed in shared)
                verdicts.append(Verdict(dataset, ordering, experiment, partner, difference, floored))
    return verdicts


def _points(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:+.2f}"


def orderings_table(verdicts: list[Verdict]) -> str:
    """Markdown: one line per verdict, the difference in points with its interval and n."""
    lines = [
        "| dataset | ordering (source) | difference, points [95% CI] | n | here |",
        "|---|---|---:|---:|---|",
    ]
    for verdict in verdicts:
        d = verdict.difference
        spread = f" [{_points(d.low)}, {_points(d.high)}]" if d.low is not None else ""
        lines.append(
            f"| {verdict.dataset} | {verdict.ordering.claim} ({verdict.ordering.source}) | {_points(d.mean)}{spread} "
            f"| {d.n} | {verdict.judgement} |"
        )
    return "\n".join(lines)
