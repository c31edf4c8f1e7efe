"""Debiased (y) against biased (x) accuracy, one point per entry with its seeds around it, as the CLAD
poster plots the Background Challenge: each axis fitted to the points with a margin, the y range stretched
where needed so that the diagonal debiased = biased still crosses the plot, each point labelled with its
method beside it, the papers' points hollow squares.

Drawn with matplotlib's Agg canvas directly (no pyplot: no global state, no display) in the default style,
and saved without the "Software" metadata, so that the same numbers give the same PNG bytes. Rendering is
most of a warm regeneration's time, so PNGs are cached in the index folder under a digest of everything
drawn (the numbers, the labels, this file's code and matplotlib's version) and copied when it matches.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

from benchsuite import records
from benchsuite.errors import StorageError
from benchsuite.leaderboard.reported import Reported, value_of

#: cached PNGs kept after a generation (the newest ones: enough for every dataset under every rule)
CACHE_SIZE = 256


def _points(entries: list[dict[str, Any]], seeds: list[dict[str, Any]], tables: tuple[Reported, ...]):
    """(label, mean point, (x std, y std), seed points, color index) per entry and (label, point) per paper row."""
    rows = [entry["row"] for entry in entries]
    measured = []
    for entry in entries:
        own = [run for run in seeds if run["experiment"] == entry["experiment"] and run["row"] == entry["row"]]
        dots = [(100 * run["biased"], 100 * run["debiased"]) for run in own
                if run["biased"] is not None and run["debiased"] is not None]
        spread = tuple(100 * (entry[f"{key}:std"] or 0.0) for key in ("biased", "debiased"))
        # the experiment is named only where the same row comes from several experiments
        label = entry["row"] if rows.count(entry["row"]) == 1 else f"{entry['row']} ({entry['experiment']})"
        measured.append((f"{label}, n={entry['n']}", (100 * entry["biased:mean"], 100 * entry["debiased:mean"]),
                         spread, dots))
    papers = [
        (f"{row} ({table.source.split(',')[0]})", (value_of(values["biased"])[0], value_of(values["debiased"])[0]))
        for table in tables for row, values in table.rows if "biased" in values and "debiased" in values
    ]
    return measured, papers


def fitted_limits(values: list[float], margin: float = 0.1, least: float = 10.0) -> tuple[float, float]:
    """Axis limits around `values` (percent): their range widened to at least `least` points, plus `margin` of
    it on each side, kept within [-1, 101]."""
    low, high = min(values), max(values)
    if high - low < least:
        middle = (low + high) / 2
        low, high = middle - least / 2, middle + least / 2
    pad = margin * (high - low)
    return max(-1.0, low - pad), min(101.0, high + pad)


def keep_diagonal(x: tuple[float, float], y: tuple[float, float], share: float = 0.1) -> tuple[float, float]:
    """The y limits stretched, if needed, so that the diagonal y = x crosses the plot (over at least `share` of
    the x range): points all below it (debiased < biased, the usual case) still show how far below."""
    (x_low, x_high), (y_low, y_high) = x, y
    reach = share * (x_high - x_low)
    return min(y_low, x_high - reach), max(y_high, x_low + reach)


def _draw(path: Path, title: str, entries: list[dict[str, Any]], seeds: list[dict[str, Any]],
          tables: tuple[Reported, ...]) -> None:
    import matplotlib
    import matplotlib.style
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    measured, papers = _points(entries, seeds, tables)
    with matplotlib.style.context("default"):
        figure = Figure(figsize=(6.4, 6.4), dpi=100)
        FigureCanvasAgg(figure)
        axes = figure.add_axes((0.11, 0.09, 0.85, 0.82))
        colors = matplotlib.colormaps["tab10" if len(measured) + len(papers) <= 10 else "tab20"].colors
        xs = [x + sign * dx for _, (x, _), (dx, _), _ in measured for sign in (-1, 1)]
        xs += [a for *_, dots in measured for a, _ in dots] + [x for _, (x, _) in papers]
        ys = [y + sign * dy for _, (_, y), (_, dy), _ in measured for sign in (-1, 1)]
        ys += [b for *_, dots in measured for _, b in dots] + [y for _, (_, y) in papers]
        x_limits = fitted_limits(xs)
        y_limits = keep_diagonal(x_limits, fitted_limits(ys))

        def label_at(point: tuple[float, float], text: str, color, below: bool, **style) -> None:
            # beside the point, on the side with room: left of points in the right third of the plot
            left = point[0] > x_limits[0] + 0.62 * (x_limits[1] - x_limits[0])
            axes.annotate(text, point, xytext=(-7 if left else 7, -12 if below else 5), textcoords="offset points",
                          fontsize=8, color=color, ha="right" if left else "left", **style)

        for number, (label, (x, y), (dx, dy), dots) in enumerate(measured):
            color = colors[number % len(colors)]
            axes.scatter([a for a, _ in dots], [b for _, b in dots], s=12, color=color, alpha=0.35, linewidths=0)
            axes.errorbar(x, y, xerr=dx, yerr=dy, fmt="o", color=color, capsize=3)
            label_at((x, y), label, color, below=False)
        for number, (label, point) in enumerate(papers):
            color = colors[(len(measured) + number) % len(colors)]
            axes.scatter(*point, marker="s", s=44, facecolors="none", edgecolors=color, linewidths=1.3)
            label_at(point, label, color, below=True, style="italic")
        axes.axline((0, 0), (1, 1), color="0.6", linestyle=":", linewidth=1)
        axes.set_xlim(*x_limits)
        axes.set_ylim(*y_limits)
        axes.set_xlabel("biased accuracy (%)")
        axes.set_ylabel("debiased accuracy (%)")
        axes.set_title(title, fontsize=10)
        axes.grid(True, linewidth=0.3)
        key = [
            Line2D([], [], marker="o", color="0.3", linestyle="none", label="measured: mean ± std, seeds faint"),
            Line2D([], [], color="0.6", linestyle=":", label="debiased = biased"),
        ]
        if papers:
            key.insert(1, Line2D([], [], marker="s", markerfacecolor="none", markeredgecolor="0.3", linestyle="none",
                                 label="reported by the paper"))
        axes.legend(handles=key, loc="best", fontsize=8, framealpha=0.8)
        figure.savefig(path, format="png", metadata={"Software": None})


def _digest(title: str, entries: list[dict[str, Any]], seeds: list[dict[str, Any]],
            tables: tuple[Reported, ...]) -> str:
    import matplotlib

    drawn = {
        "title": title,
        "entries": [[e["row"], e["experiment"], e["n"]] + [e[f"{k}:{s}"] for k in ("biased", "debiased")
                                                            for s in ("mean", "std")] for e in entries],
        "seeds": [[s["experiment"], s["row"], s["biased"], s["debiased"]] for s in seeds],
        "papers": [[t.source, list(t.rows)] for t in tables],
        "matplotlib": matplotlib.__version__,
    }
    digest = hashlib.sha256(Path(__file__).read_bytes())
    digest.update(json.dumps(drawn, sort_keys=True).encode())
    return digest.hexdigest()[:24]


def bias_plot(
    path: Path,
    title: str,
    entries: list[dict[str, Any]],
    seeds: list[dict[str, Any]],
    tables: tuple[Reported, ...],
    cache: Path | None = None,
) -> None:
    """entries: the selection's entries of one dataset; seeds: its chosen runs' rows (experiment, row, biased,
    debiased); cache: a folder of PNGs by digest (None: always draw)."""
    if cache is None:
        _draw(path, title, entries, seeds, tables)
        return
    cached = cache / f"{_digest(title, entries, seeds, tables)}.png"
    if cached.exists():
        shutil.copyfile(cached, path)
        os.utime(cached)  # recently used: kept by the pruning below
        return
    _draw(path, title, entries, seeds, tables)
    # a cache folder that cannot be written: the plot is drawn every time
    with contextlib.suppress(OSError, StorageError):
        records.write_atomic(cached, path.read_bytes(), "plot_cache")
        for old in sorted(cache.glob("*.png"), key=lambda file: file.stat().st_mtime_ns)[:-CACHE_SIZE]:
            old.unlink(missing_ok=True)
