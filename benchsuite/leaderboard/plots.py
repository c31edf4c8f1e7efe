"""Debiased (y) against biased (x) accuracy, one point per entry with its seeds around it, as the CLAD
poster plots the Background Challenge; the papers' points are hollow squares.

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

from benchsuite.leaderboard.reported import Reported, value_of

#: cached PNGs kept after a generation (the newest ones: enough for every dataset under every rule)
CACHE_SIZE = 256


def _draw(path: Path, title: str, entries: list[dict[str, Any]], seeds: list[dict[str, Any]],
          tables: tuple[Reported, ...]) -> None:
    import matplotlib
    import matplotlib.style
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with matplotlib.style.context("default"):
        figure = Figure(figsize=(8.5, 4.8), dpi=100)
        FigureCanvasAgg(figure)
        # a fixed layout: the legend in the right half, the square axes in the left
        axes = figure.add_axes((0.08, 0.11, 0.44, 0.78))
        colors = matplotlib.colormaps["tab10" if len(entries) <= 10 else "tab20"].colors
        experiments = {entry["experiment"] for entry in entries}
        for number, entry in enumerate(entries):
            color = colors[number % len(colors)]
            own = [run for run in seeds if run["experiment"] == entry["experiment"] and run["row"] == entry["row"]]
            points = [(run["biased"], run["debiased"]) for run in own]
            points = [(100 * x, 100 * y) for x, y in points if x is not None and y is not None]
            axes.scatter([x for x, _ in points], [y for _, y in points], s=12, color=color, alpha=0.35, linewidths=0)
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
        axes.set_xlim(-2, 102)
        axes.set_ylim(-2, 102)
        axes.set_xlabel("biased accuracy (%)")
        axes.set_ylabel("debiased accuracy (%)")
        axes.set_title(title, fontsize=10)
        axes.grid(True, linewidth=0.3)
        figure.legend(loc="upper left", bbox_to_anchor=(0.55, 0.89), fontsize=8, frameon=False)
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
    staged = cache / f".{cached.name}.{os.getpid()}.tmp"
    try:
        cache.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, staged)
        os.replace(staged, cached)
        for old in sorted(cache.glob("*.png"), key=lambda file: file.stat().st_mtime_ns)[:-CACHE_SIZE]:
            old.unlink(missing_ok=True)
    except OSError:  # a cache folder that cannot be written: the plot is drawn every time
        with contextlib.suppress(OSError):
            staged.unlink(missing_ok=True)
