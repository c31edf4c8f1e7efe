"""The exports beside each dataset's markdown: a CSV with every number at full precision and a LaTeX table.

CSV (`<dataset>.csv`): a row per measured entry and per paper row, in the tables' order; accuracies as the
records hold them (fractions; BG-gap a difference of fractions), written with Python's shortest round-trip
repr, so the file reads back to the very floats the leaderboard used. Per metric: mean, std, n, the 95%
interval (ci_low, ci_high) and the paired difference from the family reference (diff, diff_low, diff_high,
diff_n, diff_marked); then the cost columns and the runs' ids. Paper rows carry their printed numbers / 100.
LaTeX (`<dataset>.tex`): one booktabs tabular per markdown table of the page, in percent with two decimals,
the best value of each column in bold (highest; lowest for BG-gap; compared at two decimals, ties all
bold), the papers' numbers as printed, the papers' rows in italics,
† where the paired difference excludes zero. Both are deterministic: same entries, same bytes.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

from benchsuite.leaderboard import tables
from benchsuite.leaderboard.reported import Reported, value_of

#: metrics where a lower value is better (BG-gap: the background's pull on the prediction)
LOWER_IS_BETTER = frozenset({"bg_gap"})
_DIFF = ("diff", "diff_low", "diff_high", "diff_n", "diff_marked")


def _number(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def _fraction(printed: str | None) -> tuple[float | None, float | None]:
    """A paper's printed percent ("85.67 ± 0.7") as fractions, rounded once from the decimal text."""
    if printed is None:
        return None, None
    value_of(printed)  # checks the format
    exact = [float(Decimal(part.strip()) / 100) for part in printed.split("±")]
    return exact[0], exact[1] if len(exact) > 1 else None


def _ordered(entries: list[dict[str, Any]], reported: tuple[Reported, ...]):
    """(label, source, entry or None, paper values or None) in the tables' order: measured rows first."""
    rows = [(e["row"], tables.measured_source(e, ""), e, None) for e in entries]
    rows += [(label, f"reported by the paper: {t.source}", None, values) for t in reported for label, values in t.rows]
    return sorted(rows, key=lambda row: (*tables.row_rank(row[0]), row[2] is None, row[1]))


def to_csv(dataset: str, entries: list[dict[str, Any]], reported: tuple[Reported, ...], keys: list[str],
           rule: str) -> str:
    header = ["dataset", "selection", "method", "source", "experiment", "setting", "reference", "rerun_of", "n",
              "seeds"]
    header += [f"{key}:{part}" for key in keys for part in ("mean", "std", "n", "ci_low", "ci_high", *_DIFF)]
    header += [key for _, key in tables.COST] + ["runs"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for label, source, entry, values in _ordered(entries, reported):
        if entry is not None:
            row = [dataset, rule, label, source, entry["experiment"], entry["setting"], entry.get("reference"),
                   entry.get("rerun"), entry["n"], " ".join(map(str, entry.get("seeds") or []))]
            for key in keys:
                paired = entry.get(f"{key}:diff")
                row += [entry.get(f"{key}:{part}") for part in ("mean", "std", "n", "low", "high")]
                row += [paired.mean, paired.low, paired.high, paired.n, paired.marked] if paired else [None] * 5
            row += [entry.get(key) for _, key in tables.COST] + [" ".join(entry.get("runs") or [])]
        else:
            row = [dataset, None, label, source, None, None, None, None, None, None]
            for key in keys:
                mean, std = _fraction(values.get(key))
                row += [mean, std] + [None] * (3 + len(_DIFF))
            row += [None] * len(tables.COST) + [None]
        writer.writerow([_number(value) if not isinstance(value, str) else value for value in row])
    return buffer.getvalue()


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(char, char) for char in text)


def _latex_cell(mean: float | None, std: float | None, marked: bool, printed: str | None) -> str:
    if printed is not None:  # a paper's number as printed, its precision its own
        return printed.replace("±", r"$\pm$")
    if mean is None:
        return "-"
    text = tables.two_decimals(mean)
    if std is not None:
        text += rf" $\pm$ {tables.two_decimals(std)}"
    return text + (r"$^\dagger$" if marked else "")


def _tabular(dataset: str, title: str, entries: list[dict[str, Any]], reported: tuple[Reported, ...],
             columns: tuple[tuple[str, str], ...]) -> str:
    rows = []  # (label, source, n, paper, {key: (mean %, std %, marked, printed)})
    for label, source, entry, values in _ordered(entries, reported):
        cells = {}
        for _, key in columns:
            if entry is not None and entry.get(f"{key}:mean") is not None:
                std, count, paired = entry.get(f"{key}:std"), entry.get(f"{key}:n") or 0, entry.get(f"{key}:diff")
                cells[key] = (100 * entry[f"{key}:mean"], 100 * std if std is not None and count > 1 else None,
                              paired is not None and paired.marked, None)
            elif entry is None and key in values:
                cells[key] = (value_of(values[key])[0], None, False, values[key])
        if cells:
            short = entry["experiment"] if entry is not None else source.split(": ", 1)[1].split(",")[0]
            rows.append((label, short, str(entry["n"]) if entry is not None else "", entry is None, cells))
    shown = [(header, key) for header, key in columns if any(key in cells for *_, cells in rows)]
    best = {}
    for _, key in shown:
        printed = [round(cells[key][0], 2) for *_, cells in rows if key in cells]
        best[key] = min(printed) if key in LOWER_IS_BETTER else max(printed)
    lines = [
        f"% {latex_escape(dataset)}: {latex_escape(title)}",
        r"\begin{tabular}{ll" + "r" * (len(shown) + 1) + "}",
        r"\toprule",
        " & ".join(["Method", "Source", *(latex_escape(header) for header, _ in shown), "n"]) + r" \\",
        r"\midrule",
    ]
    for label, source, count, paper, cells in rows:
        out = [latex_escape(label), latex_escape(source)]
        for _, key in shown:
            if key not in cells:
                out.append("-")
                continue
            text = _latex_cell(*cells[key])
            out.append(rf"\textbf{{{text}}}" if round(cells[key][0], 2) == best[key] else text)
        out.append(count)
        if paper:
            out = [rf"\textit{{{cell}}}" if cell else cell for cell in out]
        lines.append(" & ".join(out) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def to_latex(dataset: str, sections: list[tuple[str, tuple[tuple[str, str], ...]]], entries: list[dict[str, Any]],
             reported: tuple[Reported, ...], rule: str) -> str:
    """One tabular per (title, columns) section; needs \\usepackage{booktabs}."""
    head = [
        f"% Generated by `python -m benchsuite leaderboard` (selection: {latex_escape(rule)}); needs booktabs.",
        "% Percent: mean $\\pm$ sample std over seeds; bold: the best of the column; italics: the papers' rows;",
        "% $^\\dagger$: the paired 95% interval of the difference from the family reference excludes zero.",
    ]
    body = [_tabular(dataset, title, entries, reported, columns) for title, columns in sections]
    return "\n".join(head) + "\n\n" + "\n".join(body)
