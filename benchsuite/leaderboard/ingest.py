"""Reading the run folders that are new or changed since the index was last updated.

Each record is checked on its own, so that one truncated or foreign file costs only its own run: a run
that cannot be used gets a `problem` (one line: what is wrong) instead of its facts, and is counted in the
summary. Only the metrics that tables and selection use are kept (per-split top1, top5 and worst_group,
and biased, debiased and bg_gap); per-group accuracies stay in the run folders.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from benchsuite.records import _PRESENTATION_ONLY, METRICS, RECORD, SCHEMA_VERSION

#: one row per run folder (valid or not): the index's runs table
RUN_SCHEMA = {
    "run": pl.String,
    "mtime_ns": pl.Int64,
    "size": pl.Int64,
    "inode": pl.Int64,
    "problem": pl.String,
    "experiment": pl.String,
    "dataset": pl.String,
    "method": pl.String,
    "seed": pl.Int64,
    "setting": pl.String,
    "commit": pl.String,
    "family": pl.String,
    "dataset_config": pl.String,
    "wall_time_s": pl.Float64,
    "cpu_rss_mib": pl.Float64,
    "gpu_mib": pl.Float64,
}
#: the fixed columns of the evaluations table (the run's facts repeated on each line, so that selection needs
#: no join; `last` marks a row's last evaluation); every kept metric adds a Float64 column named by its key
_LINE_SCHEMA = {
    "run": pl.String, "line": pl.Int64, "stage": pl.String, "epoch": pl.Int64, "row": pl.String,
    "dataset": pl.String, "experiment": pl.String, "setting": pl.String, "seed": pl.Int64, "rerun": pl.String,
}
EVAL_SCHEMA = {**_LINE_SCHEMA, "last": pl.Boolean}

_KEPT_METRIC = re.compile(r"^(?:[^/\s]+/(?:top1|top5|worst_group|worst_class)|biased|debiased|bg_gap)$")
_REQUIRED = ("dataset", "method", "seed", "gin_config", "metrics")
#: gin lines that do not define a hyperparameter setting: the seed, the mark of a rerun of the best setting (a
#: rerun's runs are more seeds of the setting it reruns), and the bindings that run ids also leave out (how a
#: run is displayed or how fast its images load)
_NOT_SETTING = ("run.seed =", "run.seed=", "run.rerun_of =", "run.rerun_of=", *_PRESENTATION_ONLY)
#: the method family of the suite's built-in methods, for records written before runs recorded their family
_FAMILIES = {
    **dict.fromkeys(("ERM", "JTT", "CLAD", "CLADPlus"), "supervised"),
    **dict.fromkeys(("SimCLR", "DCL", "HCL", "WCL"), "self-supervised"),
}


class BrokenRun(ValueError):
    """A run folder that cannot be used; the message is the one-line reason shown in the summary."""


#: the settings table: a row per hyperparameter setting, its id and its bindings (config lines, seed removed)
SETTING_SCHEMA = {"setting": pl.String, "bindings": pl.String}


def setting_bindings(record: dict) -> str:
    """The hyperparameter setting of a run: the command that made it without its seed, i.e. the gin files after
    the experiment file (overrides) and the --gin-param bindings, the seed and presentation bindings removed.

    Not the operative config: that lists every parameter's value, defaults included, so a parameter added to
    the suite between two seeds of one sweep would split the same command into two settings.
    """
    files = [f"--gin {file}" for file in (record.get("gin_files") or [])[1:]]
    lines = (str(line).strip() for line in record.get("gin_bindings") or [])
    variant = _variant_prefix(record)
    return "\n".join([
        *files, *(line for line in lines if line and not line.startswith(("#", *_NOT_SETTING, variant)))
    ])


def dataset_config(record: dict) -> str:
    """The dataset's parameters as the run's operative config gives them, one `<Dataset>.<name> = value` a line
    (the value of a bias severity for a run whose command did not bind it, for the severity plots)."""
    prefix = _variant_prefix(record)
    return "\n".join(sorted(line for line in record["gin_config"].splitlines() if line.startswith(prefix)))


def _variant_prefix(record: dict) -> str:
    return f"{record.get('dataset')}."


def dataset_variant(record: dict) -> str:
    """The benchmark a run is on: its dataset, and the dataset's own parameters that its command binds (a bias
    severity such as `SyntheticWaterbirds.background_agreement = 0.99`), which make another benchmark rather
    than another hyperparameter setting: `SyntheticWaterbirds [background_agreement = 0.99]`."""
    prefix = _variant_prefix(record)
    bound = sorted(
        " ".join(line.strip()[len(prefix):].split())
        for line in record.get("gin_bindings") or [] if str(line).strip().startswith(prefix)
    )
    return f"{record['dataset']} [{', '.join(bound)}]" if bound else str(record["dataset"])


def setting_id(bindings: str) -> str:
    """12 hex digits naming a setting (see setting_bindings)."""
    return hashlib.sha256(bindings.encode()).hexdigest()[:12]


def _load_json(text: str, what: str) -> Any:
    if not text.strip():
        raise BrokenRun(f"{what} is empty")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise BrokenRun(
            f"{what} is not JSON ({error.msg} at line {error.lineno}, column {error.colno}; truncated?)"
        ) from None


@functools.lru_cache(maxsize=4096)
def _is_kept(key: str) -> bool:
    """Memoised: the same few hundred keys recur on every line of every run."""
    return _KEPT_METRIC.match(key) is not None


def _kept_metrics(metrics: Any, where: str) -> dict[str, float]:
    if not isinstance(metrics, dict):
        raise BrokenRun(f"{where}: metrics are not a JSON object")
    kept = {}
    for key, value in metrics.items():
        if value is None or not _is_kept(key):  # null: not measured, like a key left out
            continue
        if type(value) is not float:
            if isinstance(value, bool) or not isinstance(value, int):
                raise BrokenRun(f"{where}: metric {key!r} is {value!r}, not a number")
            value = float(value)
        kept[key] = value
    return kept


def check_record(record: Any) -> dict[str, Any]:
    """The record if the leaderboard can use it; else BrokenRun saying why (unknown schema, not finished...)."""
    if not isinstance(record, dict):
        raise BrokenRun("record.json is not a JSON object")
    version = record.get("schema_version")
    if version != SCHEMA_VERSION:
        raise BrokenRun(f"unknown schema_version {version!r} (this suite reads {SCHEMA_VERSION})")
    status = record.get("status")
    if status == "running":
        raise BrokenRun("still running (status 'running')")
    if status == "failed":
        raise BrokenRun(f"failed: {record.get('error') or 'no error recorded'}")
    if status != "finished":
        raise BrokenRun(f"status {status!r}, not 'finished'")
    missing = [key for key in _REQUIRED if key not in record]
    if missing:
        raise BrokenRun(f"record.json lacks {', '.join(missing)}")
    if not isinstance(record["seed"], int) or isinstance(record["seed"], bool):
        raise BrokenRun(f"seed is {record['seed']!r}, not an integer")
    if not isinstance(record["gin_config"], str):
        raise BrokenRun("gin_config is not a string")
    return record


def _evaluations(run: str, folder: Path, record: dict[str, Any]) -> list[dict[str, Any]]:
    """metrics.jsonl's lines (kept metrics only); a run without one contributes its record's final metrics."""
    try:
        text = (folder / METRICS).read_text()
    except FileNotFoundError:
        text = ""
    rows: list[dict[str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        entry = _load_json(line, f"metrics.jsonl line {number}")
        if not isinstance(entry, dict) or not isinstance(entry.get("row"), str):
            raise BrokenRun(f"metrics.jsonl line {number} is not an evaluation (no 'row')")
        epoch = entry.get("epoch")
        rows.append({
            "run": run, "line": number, "stage": entry.get("stage"), "row": entry["row"],
            "epoch": epoch if isinstance(epoch, int) else None,
            **_kept_metrics(entry, f"metrics.jsonl line {number}"),
        })
    if rows:
        return rows
    # older or imported runs may have no metrics.jsonl: their record's metrics are the last evaluation
    final = record["metrics"]
    if not isinstance(final, dict) or not final:
        raise BrokenRun("no metrics.jsonl and no metrics in record.json")
    return [
        {"run": run, "line": 0, "stage": None, "epoch": None, "row": row, **_kept_metrics(metrics, f"metrics of {row}")}
        for row, metrics in final.items()
    ]


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _cost(record: dict[str, Any]) -> dict[str, float | None]:
    """Wall time and peak memory as the run recorded them (null where a record has none)."""
    memory = record.get("peak_memory") if isinstance(record.get("peak_memory"), dict) else {}
    return {
        "wall_time_s": _number(record.get("wall_time_s")),
        "cpu_rss_mib": _number(memory.get("cpu_rss_mib")),
        "gpu_mib": _number(memory.get("gpu_max_allocated_mib")),
    }


@dataclass
class Ingested:
    """The runs and evaluations tables' rows for a batch of run folders."""

    runs: pl.DataFrame
    evaluations: pl.DataFrame
    settings: pl.DataFrame
    metric_columns: list[str] = field(default_factory=list)


def ingest(results: Path, stats: pl.DataFrame) -> Ingested:
    """Read the run folders named in `stats` (a walk's rows) and return their index rows."""
    runs: list[dict[str, Any]] = []
    evaluations: list[dict[str, Any]] = []
    settings: dict[str, str] = {}
    for run, mtime, size, inode in stats.iter_rows():
        folder = results / run
        facts: dict[str, Any] = {"run": run, "mtime_ns": mtime, "size": size, "inode": inode}
        try:
            if mtime is None:
                raise BrokenRun("no record.json (still running, or stopped before finishing)")
            record = check_record(_load_json((folder / RECORD).read_text(errors="replace"), "record.json"))
            rows = _evaluations(run, folder, record)
        except BrokenRun as broken:
            runs.append({**facts, "problem": str(broken)})
            continue
        except OSError as error:
            runs.append({**facts, "problem": f"cannot be read: {error.strerror or error}"})
            continue
        git = record.get("git") if isinstance(record.get("git"), dict) else {}
        bindings = setting_bindings(record)
        setting = setting_id(bindings)
        settings[setting] = bindings
        rerun = record.get("rerun_of")
        entry = {
            "experiment": run.split("/")[0], "dataset": dataset_variant(record), "seed": record["seed"],
            "setting": setting, "rerun": rerun if isinstance(rerun, str) else None,
        }
        runs.append({
            **facts, **entry, "problem": None, "method": str(record["method"]),
            "commit": git.get("commit") if isinstance(git.get("commit"), str) else None,
            **_cost(record), "family": record.get("family") or _FAMILIES.get(str(record["method"])),
            "dataset_config": dataset_config(record),
        })
        evaluations.extend({**row, **entry} for row in rows)
    metric_columns = sorted({key for row in evaluations for key in row} - set(_LINE_SCHEMA))
    schema = {**_LINE_SCHEMA, **dict.fromkeys(metric_columns, pl.Float64)}
    lines = pl.from_dicts(evaluations, schema=schema) if evaluations else pl.DataFrame(schema=schema)
    return Ingested(
        runs=pl.from_dicts(runs, schema=RUN_SCHEMA) if runs else pl.DataFrame(schema=RUN_SCHEMA),
        evaluations=method_evaluations(lines).select(*EVAL_SCHEMA, *metric_columns),
        settings=pl.DataFrame({"setting": list(settings), "bindings": list(settings.values())}, schema=SETTING_SCHEMA),
        metric_columns=metric_columns,
    )


def method_evaluations(lines: pl.DataFrame) -> pl.DataFrame:
    """The lines that evaluate the method's own model, with `last` marking each row's last evaluation.

    Only the final stage counts (JTT's first stage is plain ERM), and of an epoch logged twice the later line
    (a run resumed after logging an evaluation but before its checkpoint logs that epoch again).
    """
    return (
        lines.filter(pl.col("stage").eq_missing(pl.col("stage").sort_by("line").last().over("run")))
        .filter(pl.col("line") == pl.col("line").max().over("run", "stage", "epoch", "row"))
        .with_columns(last=pl.col("line") == pl.col("line").max().over("run", "row"))
    )
