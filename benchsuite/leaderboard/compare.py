"""Uncertainty and significance of the entries: the 95% confidence interval of each mean over seeds, the
paired difference from the family's reference, and the cost of a run.

Intervals are Student-t intervals of the mean over seeds: mean ± t(0.975, n - 1) · s / sqrt(n), with s the
sample std (ddof = 1); n = 1 has none. The paired difference compares an entry with its family's reference
entry on the same dataset (ERM for supervised methods, SimCLR for self-supervised ones) over the seeds both
have: the mean of the per-seed differences, with the same t interval over them; it is marked when the
interval excludes zero and at least MIN_MARKED seeds are paired (two seeds give a wide, unstable interval).
Where a dataset has several reference entries (experiments), the one whose experiment name shares the longest
ending with the entry's is taken (erm_synthetic_backgrounds for wcl_synthetic_backgrounds), then the first by
name.
"""

from __future__ import annotations

import itertools
import math
import statistics
from dataclasses import dataclass
from typing import Any

import polars as pl

#: the reference row label of each method family
REFERENCES = {"supervised": "ERM", "self-supervised": "SimCLR"}
#: the fewest paired seeds whose interval may be marked
MIN_MARKED = 3
#: run costs kept per entry: (column of the runs table, how runs are summarised)
COSTS = (("wall_time_s", "median"), ("cpu_rss_mib", "max"), ("gpu_mib", "max"))


def t_quantile(df: int) -> float:
    """The 0.975 quantile of Student's t with `df` degrees of freedom."""
    from scipy.stats import t

    return float(t.ppf(0.975, df))


def interval(mean: float | None, std: float | None, n: int) -> tuple[float, float] | None:
    """The 95% Student-t interval of a mean of `n` values with sample std `std`; None for fewer than 2."""
    if mean is None or std is None or n < 2:
        return None
    half = t_quantile(n - 1) * std / math.sqrt(n)
    return mean - half, mean + half


@dataclass(frozen=True)
class Paired:
    """The difference entry - reference over `n` shared seeds."""

    n: int
    mean: float
    low: float | None
    high: float | None

    @property
    def marked(self) -> bool:
        """Whether the interval excludes zero, with at least MIN_MARKED pairs."""
        return self.n >= MIN_MARKED and self.low is not None and (self.low > 0 or self.high < 0)


def paired(values: dict[int, float], reference: dict[int, float]) -> Paired | None:
    """The paired difference over the seeds both dicts (seed -> value) have; None without a shared seed."""
    seeds = sorted(values.keys() & reference.keys())
    if not seeds:
        return None
    differences = [values[seed] - reference[seed] for seed in seeds]
    mean = statistics.fmean(differences)
    bounds = interval(mean, statistics.stdev(differences) if len(differences) > 1 else None, len(differences))
    return Paired(len(seeds), mean, *(bounds or (None, None)))


def shared_ending(a: str, b: str) -> int:
    same = itertools.takewhile(lambda pair: pair[0] == pair[1], zip(a[::-1], b[::-1], strict=False))
    return sum(1 for _ in same)


def reference_of(entry: dict[str, Any], entries: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The family reference entry of `entry` among one dataset's entries (None for a reference or no family)."""
    label = REFERENCES.get(entry.get("family") or "")
    if label is None or entry["row"] == label:
        return None
    candidates = [other for other in entries if other["row"] == label]
    if not candidates:
        return None
    return min(candidates, key=lambda other: (-shared_ending(other["experiment"], entry["experiment"]),
                                              other["experiment"]))


def annotate(entries: list[dict[str, Any]], runs: pl.DataFrame, costs: pl.DataFrame, keys: list[str]) -> None:
    """Add to one dataset's entries (in place): `<key>:low` / `<key>:high` (95% interval), `reference`,
    `<key>:diff` (a Paired) for each metric key, `family`, `runs` (their run keys, sorted), `seeds` and the
    cost columns. runs: the selection's chosen evaluations of this dataset; costs: the index's runs table."""
    by_entry = runs.join(costs.select("run", "family", *(name for name, _ in COSTS)), on="run", how="left")
    groups = by_entry.partition_by("experiment", "row", as_dict=True)
    per_seed: dict[tuple[str, str], pl.DataFrame] = {}
    for entry in entries:
        own = groups[(entry["experiment"], entry["row"])].sort("seed", "run")
        per_seed[entry["experiment"], entry["row"]] = own
        entry["runs"] = sorted(own["run"].unique().to_list())
        entry["seeds"] = sorted(own["seed"].unique().to_list())
        entry["family"] = next((family for family in own["family"].to_list() if family), None)
        for name, how in COSTS:
            column = own.unique("run")[name].drop_nulls()
            entry[f"cost:{name}"] = (column.median() if how == "median" else column.max()) if len(column) else None
        for key in keys:
            entry[f"{key}:low"], entry[f"{key}:high"] = interval(
                entry.get(f"{key}:mean"), entry.get(f"{key}:std"), entry.get(f"{key}:n") or 0
            ) or (None, None)
    for entry in entries:
        reference = reference_of(entry, entries)
        entry["reference"] = None if reference is None else f"{reference['row']} ({reference['experiment']})"
        for key in keys:
            entry[f"{key}:diff"] = None
            if reference is None or key not in runs.columns:
                continue
            mine = by_seed(per_seed[entry["experiment"], entry["row"]], key)
            theirs = by_seed(per_seed[reference["experiment"], reference["row"]], key)
            entry[f"{key}:diff"] = paired(mine, theirs)


def by_seed(frame: pl.DataFrame, key: str) -> dict[int, float]:
    """seed -> value (a seed run twice, e.g. under two run ids, is left out: it pairs with nothing certain)."""
    rows = frame.select("seed", key).drop_nulls().rows()
    counts: dict[int, int] = {}
    for seed, _ in rows:
        counts[seed] = counts.get(seed, 0) + 1
    return {seed: value for seed, value in rows if counts[seed] == 1}
