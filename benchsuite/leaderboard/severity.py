"""Bias-severity curves: worst-group accuracy against a benchmark's bias parameter, one line per method.

A run whose command binds one of its dataset's own parameters (`SyntheticWaterbirds.background_agreement =
0.99`) is on a variant of the benchmark (ingest.dataset_variant). Where a dataset has variants that differ in one
parameter, each entry of the dataset and of its variants is a point at that parameter's value (read from each
run's operative config, so the dataset's own default counts too); the plot draws each method's mean over seeds
as a line and the spread of its seeds (lowest to highest) as a band, and the README gets the same numbers as a
table.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from benchsuite.leaderboard.tables import row_rank

_VARIANT = re.compile(r"^(?P<base>\S+) \[(?P<bindings>.+)\]$")
#: the metric on the y axis
METRIC = "test/worst_group"


@dataclass
class Curve:
    """One method's points: parameter value -> the seeds' values (fractions)."""

    row: str
    experiment: str
    points: dict[float, list[float]]


@dataclass
class SeverityAxis:
    dataset: str
    parameter: str
    values: list[float]
    curves: list[Curve]

    @property
    def stem(self) -> str:
        return f"{self.dataset}-severity"


def _varied_parameter(datasets: list[str], base: str) -> str | None:
    """The one parameter that `base`'s variants bind, or None (no variant, or several parameters)."""
    names = set()
    for label in datasets:
        match = _VARIANT.match(label)
        if match and match["base"] == base:
            names |= {part.split("=")[0].strip() for part in match["bindings"].split(",")}
    return names.pop() if len(names) == 1 else None


def _value(config: str | None, dataset: str, parameter: str) -> float | None:
    for line in (config or "").splitlines():
        name, _, value = line.partition("=")
        if name.strip() == f"{dataset}.{parameter}":
            try:
                return float(value)
            except ValueError:
                return None
    return None


def severity_axes(chosen_runs: pl.DataFrame, runs: pl.DataFrame) -> list[SeverityAxis]:
    """The axes of every dataset with variants in one parameter. chosen_runs: the selection's chosen evaluation
    of each run (dataset, experiment, row, seed, metrics); runs: the index's runs table (dataset_config)."""
    if METRIC not in chosen_runs.columns:
        return []
    frame = chosen_runs.join(runs.select("run", "dataset_config"), on="run", how="left")
    labels = frame["dataset"].unique().to_list()
    axes = []
    for base in sorted({_VARIANT.match(label)["base"] for label in labels if _VARIANT.match(label)}):
        parameter = _varied_parameter(labels, base)
        if parameter is None:
            continue
        mine = frame.filter(
            (pl.col("dataset") == base) | pl.col("dataset").str.starts_with(f"{base} [")
        ).drop_nulls(METRIC)
        curves: dict[tuple[str, str], Curve] = {}
        for row, experiment, config, value in mine.select("row", "experiment", "dataset_config", METRIC).rows():
            at = _value(config, base, parameter)
            if at is None:
                continue
            curve = curves.setdefault((row, experiment), Curve(row, experiment, {}))
            curve.points.setdefault(at, []).append(value)
        ordered = sorted(curves.values(), key=lambda curve: (*row_rank(curve.row), curve.experiment))
        values = sorted({at for curve in ordered for at in curve.points})
        if len(values) > 1:
            axes.append(SeverityAxis(base, parameter, values, ordered))
    return axes


def _cell(seeds: list[float] | None) -> str:
    if not seeds:
        return "-"
    mean = 100 * statistics.fmean(seeds)
    if len(seeds) == 1:
        return f"{mean:.2f} (n=1)"
    return f"{mean:.2f} ± {100 * statistics.stdev(seeds):.2f} (n={len(seeds)})"


def severity_table(axis: SeverityAxis) -> str:
    """Markdown: a row per method (and experiment), a column per parameter value, mean ± std (n) in %."""
    lines = [
        f"| method | source | {' | '.join(f'{axis.parameter} = {value:g}' for value in axis.values)} |",
        f"|---|---|{'---:|' * len(axis.values)}",
    ]
    for curve in axis.curves:
        cells = " | ".join(_cell(curve.points.get(value)) for value in axis.values)
        lines.append(f"| {curve.row} | {curve.experiment} | {cells} |")
    return "\n".join(lines)


def severity_plot(path: Path, axis: SeverityAxis, title: str) -> None:
    """Worst-group accuracy (%) against the parameter: a line of means and a band of the seeds' range per method
    measured at more than one value (the table lists the others).
    Drawn on matplotlib's Agg canvas without pyplot, without the "Software" metadata: same numbers, same bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7.6, 4.4), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    curves = [curve for curve in axis.curves if len(curve.points) > 1]  # a method at one value has no curve
    for index, curve in enumerate(curves):
        colour = f"C{index % 10}"
        xs = sorted(curve.points)
        means = [100 * statistics.fmean(curve.points[x]) for x in xs]
        axes.plot(xs, means, marker="o", color=colour, label=curve.row)
        if any(len(curve.points[x]) > 1 for x in xs):
            axes.fill_between(xs, [100 * min(curve.points[x]) for x in xs], [100 * max(curve.points[x]) for x in xs],
                              color=colour, alpha=0.15, linewidth=0)
    axes.set_xlabel(f"{axis.dataset}.{axis.parameter}")
    axes.set_ylabel("worst-group test accuracy (%)")
    axes.set_xticks(axis.values)
    axes.set_xticklabels([f"{value:g}" for value in axis.values])
    axes.grid(True, alpha=0.3)
    axes.set_title(title, fontsize=10)
    axes.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5), framealpha=0.8)
    figure.tight_layout()
    figure.savefig(path, format="png", metadata={"Software": None})
