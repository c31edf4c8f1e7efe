"""Markdown tables of one dataset's entries: accuracy (WCL Tables 1-2), the background benchmark (CLAD's
tables) and biased / debiased accuracy, with the papers' rows beside the measured ones.

Measured cells are mean ± sample std (ddof = 1) over seeds, in percent (BG-gap in points), then the 95%
Student-t interval of the mean in brackets, and † where the paired difference from the family reference
excludes zero (compare.py); a cell whose metric is missing from some of the entry's runs says on how many it
rests. The accuracy table also gives each entry's cost: median wall time per run and peak memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from benchsuite.leaderboard.reported import Reported

#: the suite's methods in the order the papers list them; other row labels follow alphabetically
ROW_ORDER = ("ERM", "JTT", "SimCLR", "DCL", "HCL", "WCL (E_d)", "WCL (E_b)", "CLAD", "CLAD+")

ACCURACY = (("top-1", "test/top1"), ("top-5", "test/top5"), ("worst-group", "test/worst_group"))
BACKGROUND = (
    ("Original", "test/top1"), ("Only-FG", "only_fg/top1"), ("Mixed-Same", "mixed_same/top1"),
    ("Mixed-Rand", "mixed_rand/top1"), ("Only-BG-T", "only_bg_t/top1"), ("No-FG", "no_fg/top1"), ("BG-gap", "bg_gap"),
)
BIAS = (("biased", "biased"), ("debiased", "debiased"))
COST = (
    ("time/run (s)", "cost:wall_time_s"), ("peak host (MiB)", "cost:cpu_rss_mib"), ("peak GPU (MiB)", "cost:gpu_mib"),
)
#: the mark of a cell whose paired difference from the family reference excludes zero
MARK = "†"


@dataclass(frozen=True)
class Line:
    """One table row: a measured entry (a dict of the selection's entry columns) or a paper's row."""

    label: str
    source: str
    cells: dict[str, str]
    n: str
    measured: bool


def two_decimals(value: float) -> str:
    text = f"{value:.2f}"
    return "0.00" if text == "-0.00" else text  # a BG-gap of -0.001 points is no gap, not a negative zero


def percent(
    mean: float | None, std: float | None, count: int, seeds: int,
    low: float | None = None, high: float | None = None, marked: bool = False,
) -> str:
    if mean is None:
        return "-"
    text = two_decimals(100 * mean)
    if std is not None and count > 1:
        text += f" ± {two_decimals(100 * std)}"
    if low is not None and high is not None:
        text += f" [{two_decimals(100 * low)}, {two_decimals(100 * high)}]"
    if count != seeds:
        text += f" (n={count})"
    return text + (MARK if marked else "")


def _signed(value: float) -> str:
    text = two_decimals(value)
    return text if text.startswith("-") or text == "0.00" else f"+{text}"


def difference(paired: Any) -> str:
    """A paired difference (compare.Paired) in points: "+2.31 [0.52, 4.10]†"; "-" without one."""
    if paired is None:
        return "-"
    text = _signed(100 * paired.mean)
    if paired.low is not None:
        text += f" [{_signed(100 * paired.low)}, {_signed(100 * paired.high)}]"
    return text + (MARK if paired.marked else "")


def _cost(key: str, value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}" if key == "cost:wall_time_s" else f"{value:.0f}"


def measured_source(entry: dict[str, Any], rule: str) -> str:
    """Where an entry's numbers come from: its experiment, the chosen setting and how, and a rerun's seeds."""
    source = entry["experiment"]
    if entry["settings"] > 1:
        how = f"by {rule}" if entry["ranked"] else "by setting id: no validation score ranked them"
        named = entry.get("setting_text") or f"setting {entry['setting']}"
        source += f", {named}, chosen {how} among {entry['settings']} settings"
    if entry.get("rerun"):
        seeds = ", ".join(map(str, entry.get("seeds") or []))
        source += f"; seeds {seeds} of a rerun of the setting chosen by {entry['rerun']} (the grid's seeds not shown)"
    return source


def measured_line(entry: dict[str, Any], columns: tuple[tuple[str, str], ...], rule: str) -> Line:
    cells = {}
    for _, key in columns:
        if key.startswith("cost:"):
            cells[key] = _cost(key, entry.get(key))
            continue
        paired = entry.get(f"{key}:diff")
        cells[key] = percent(
            entry.get(f"{key}:mean"), entry.get(f"{key}:std"), entry.get(f"{key}:n") or 0, entry["n"],
            entry.get(f"{key}:low"), entry.get(f"{key}:high"), paired is not None and paired.marked,
        )
    return Line(entry["row"], measured_source(entry, rule), cells, str(entry["n"]), measured=True)


def difference_line(entry: dict[str, Any], columns: tuple[tuple[str, str], ...]) -> Line | None:
    """The paired differences of an entry from its family reference, or None for a reference or no family."""
    if not entry.get("reference"):
        return None
    pairs = [entry.get(f"{key}:diff") for _, key in columns]
    cells = {key: difference(paired) for (_, key), paired in zip(columns, pairs, strict=True)}
    count = max((paired.n for paired in pairs if paired is not None), default=0)
    return Line(entry["row"], f"{entry['experiment']} - {entry['reference']}", cells, str(count), measured=True)


def reported_lines(tables: tuple[Reported, ...], columns: tuple[tuple[str, str], ...]) -> list[Line]:
    keys = {key for _, key in columns}
    return [
        Line(label, f"reported by the paper: {table.source}", {k: values.get(k, "-") for k in keys}, "", False)
        for table in tables
        for label, values in table.rows
        if keys & values.keys()
    ]


def row_rank(label: str) -> tuple[int, str]:
    """Sort key of a row label: the papers' order first, then alphabetical."""
    return (ROW_ORDER.index(label) if label in ROW_ORDER else len(ROW_ORDER)), label


def _order(line: Line) -> tuple:
    return *row_rank(line.label), not line.measured, line.source


def _escape(text: str) -> str:
    return text.replace("|", "\\|")


def render(lines: list[Line], columns: tuple[tuple[str, str], ...]) -> str:
    """A markdown table; columns that no row fills are left out (a dataset without top-5 or No-FG)."""
    shown = [(header, key) for header, key in columns if any(line.cells.get(key, "-") != "-" for line in lines)]
    header = ["method", "source", *(title for title, _ in shown), "n"]
    rows = [
        [line.label, line.source, *(line.cells.get(key, "-") for _, key in shown), line.n]
        for line in sorted(lines, key=_order)
    ]
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(["---", "---", *["---:"] * (len(shown) + 1)]) + "|"]
    out += ["| " + " | ".join(_escape(cell) for cell in row) + " |" for row in rows]
    return "\n".join(out) + "\n"


def has_data(entries: list[dict[str, Any]], tables: tuple[Reported, ...], keys: tuple[str, ...]) -> bool:
    """Whether every key in `keys` is measured for some entry or reported by some paper row."""
    return all(
        any(entry.get(f"{key}:n") for entry in entries) or any(key in values for t in tables for _, values in t.rows)
        for key in keys
    )
