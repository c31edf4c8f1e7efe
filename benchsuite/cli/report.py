"""The short results table printed at the end of `python -m benchsuite run`."""

from __future__ import annotations

from typing import Any

from rich.table import Table

_DERIVED = (("bg_gap", "BG-gap (Mixed-Same - Mixed-Rand)"), ("biased", "biased"), ("debiased", "debiased"))


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def summary_table(record: dict[str, Any]) -> Table:
    """A column per evaluated model; rows: test top-1/top-5/worst-group, each test variant's top-1, bias metrics."""
    models: dict[str, dict[str, float]] = record["metrics"]
    names = {key for metrics in models.values() for key in metrics}
    variants = sorted({key.split("/")[0] for key in names if "/" in key} - {"val", "test"})
    rows = [(f"test/{m}", f"test {m.replace('_', '-')}") for m in ("top1", "top5", "worst_group")]
    rows += [(f"{v}/top1", f"{v.replace('_', '-')} top1") for v in variants]
    rows += list(_DERIVED)
    table = Table(title=f"{record['experiment']}/{record['run_id']}, seed {record['seed']}: accuracy in %")
    table.add_column("metric")
    for label in models:
        table.add_column(label, justify="right")
    for key, title in rows:
        if key in names:
            table.add_row(title, *(_percent(metrics.get(key)) for metrics in models.values()))
    return table
