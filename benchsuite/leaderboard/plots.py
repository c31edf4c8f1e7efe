"""Debiased (y) against biased (x) accuracy, one point per entry with its seeds around it, as the CLAD
poster plots the Background Challenge; the papers' points are hollow squares.

Drawn with matplotlib's Agg canvas directly (no pyplot: no global state, no display) in the default style,
and saved without the "Software" metadata, so that the same numbers give the same PNG bytes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchsuite.leaderboard.reported import Reported, value_of


def bias_plot(
    path: Path,
    title: str,
    entries: list[dict[str, Any]],
    seeds: list[dict[str, Any]],
    tables: tuple[Reported, ...],
) -> None:
    """entries: the selection's entries of one dataset; seeds: its chosen runs' rows (biased, debiased)."""
    import matplotlib.style
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with matplotlib.style.context("default"):
        figure = Figure(figsize=(8.5, 4.8), dpi=100, layout="constrained")
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        colors = matplotlib.colormaps["tab10" if len(entries) <= 10 else "tab20"].colors
        experiments = {entry["experiment"] for entry in entries}
        for number, entry in enumerate(entries):
            color = colors[number % len(colors)]
            own = [run for run in seeds if all(run[k] == entry[k] for k in ("experiment", "row"))]
            points = [(run["biased"], run["debiased"]) for run in own if run["biased"] is not None]
            axes.scatter(
                [100 * x for x, y in points if y is not None], [100 * y for x, y in points if y is not None],
                s=12, color=color, alpha=0.35, linewidths=0,
            )
            label = entry["row"] if len(experiments) == 1 else f"{entry['row']} ({entry['experiment']})"

            def spread(key: str, entry: dict[str, Any] = entry) -> float:
                std = entry[f"{key}:std"]
                return 0.0 if std is None else 100 * std

            axes.errorbar(
                100 * entry["biased:mean"], 100 * entry["debiased:mean"],
                xerr=spread("biased"), yerr=spread("debiased"), fmt="o", color=color, capsize=3,
                label=f"{label}, n={entry['n']}",
            )
        marker = 0
        for table in tables:
            for row, values in table.rows:
                if "biased" in values and "debiased" in values:
                    axes.scatter(
                        value_of(values["biased"])[0], value_of(values["debiased"])[0], marker="s", s=40,
                        facecolors="none", edgecolors=colors[(len(entries) + marker) % len(colors)],
                        label=f"{row} (paper: {table.source.split(',')[0]})",
                    )
                    marker += 1
        axes.axline((0, 0), (1, 1), color="0.6", linestyle=":", linewidth=1)
        axes.set_xlabel("biased accuracy (%)")
        axes.set_ylabel("debiased accuracy (%)")
        axes.set_xlim(-2, 102)
        axes.set_ylim(-2, 102)
        axes.set_aspect("equal")
        axes.grid(True, linewidth=0.3)
        axes.set_title(title, fontsize=10)
        figure.legend(loc="outside right upper", fontsize=8, frameon=False)
        figure.savefig(path, format="png", metadata={"Software": None})
