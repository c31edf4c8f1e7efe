"""`generate`: update the index of a results folder, select and aggregate, and write the leaderboards folder.

The folder is written whole into a temporary sibling and then swapped in, so that readers never see half a
leaderboard; the folder it replaces must be one this command wrote (its README carries the marker).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from benchsuite import records
from benchsuite.errors import ConfigError
from benchsuite.leaderboard import exports, orderings, tables
from benchsuite.leaderboard import index as run_index
from benchsuite.leaderboard.compare import annotate
from benchsuite.leaderboard.pages import MARKER, Page, dataset_page, file_stem, readme
from benchsuite.leaderboard.plots import bias_plot
from benchsuite.leaderboard.reported import reported_for
from benchsuite.leaderboard.rules import Rule, rule_named
from benchsuite.leaderboard.selection import ENTRY, Selection, select
from benchsuite.leaderboard.severity import severity_axes, severity_plot, severity_table


@dataclass
class Summary:
    """What a generation read and wrote, for the command's printed summary."""

    out: Path
    rule: str
    folders: int
    used: int
    skipped: list[tuple[str, str]]
    changed: int
    removed: int
    files: list[str] = field(default_factory=list)
    note: str | None = None


def source_commit() -> str:
    """The suite's commit, and whether its package (not results/ or leaderboards/) has uncommitted changes."""
    commit = records.git("rev-parse", "HEAD")
    if not commit:
        return "unknown (not a git checkout)"
    dirty = records.git("status", "--porcelain", "--untracked-files=no", "--", ".")  # the package folder only
    return f"`{commit}`" + (" (the benchsuite package had uncommitted changes)" if dirty else "")


def _check_results(results: Path) -> None:
    if not results.is_dir():
        raise ConfigError(
            f"The results folder {results} does not exist (--results). Run experiments first "
            "(python -m benchsuite run --gin gin/default.gin) or pass the folder that holds "
            "<experiment>/<run_id>/record.json."
        )


def _check_out(out: Path) -> None:
    """The output folder is replaced whole: it must be new, empty, or one that this command wrote."""
    readme_path = out / "README.md"
    if out.is_dir() and any(out.iterdir()):
        if not (readme_path.is_file() and MARKER in readme_path.read_text(errors="replace")):
            raise ConfigError(
                f"The output folder {out} (--out) exists and was not written by `python -m benchsuite leaderboard` "
                "(its README.md lacks the generated marker); it is replaced whole, so pass a new or generated folder."
            )
    elif out.exists() and not out.is_dir():
        raise ConfigError(f"The output path {out} (--out) is a file, not a folder; pass a folder to write into.")


def _replace_folder(out: Path, written: Path) -> None:
    old = None
    if out.exists():
        old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.old-"))
        os.replace(out, old / out.name)
    os.replace(written, out)
    if old is not None:
        shutil.rmtree(old)


#: the files a generation can write per dataset, by --format; markdown (and the plots) always
FORMATS = ("md", "csv", "tex")


def check_formats(formats: str) -> tuple[str, ...]:
    """--format's comma-separated list, checked; md is always written (the README links the pages)."""
    chosen = tuple(part.strip() for part in formats.split(",") if part.strip())
    unknown = [part for part in chosen if part not in FORMATS]
    if unknown or not chosen:
        raise ConfigError(
            f"--format {formats!r}: {'unknown format ' + ', '.join(map(repr, unknown)) if unknown else 'no format'}; "
            f"give a comma-separated list of {', '.join(FORMATS)} (e.g. --format md,csv,tex)."
        )
    return tuple(dict.fromkeys(("md", *chosen)))


def generate(
    results: Path, out: Path, selection: str = "last-epoch", command: str = "python -m benchsuite leaderboard",
    formats: str = "md,csv,tex",
) -> Summary:
    """Write the leaderboards of `results` into `out` under the named selection rule; `command` is quoted."""
    rule = rule_named(selection)
    written = check_formats(formats)
    out = Path(out)
    _check_results(results)
    _check_out(out)
    index = run_index.update(results)
    runs = index.runs
    skipped = runs.filter(pl.col("problem").is_not_null()).select("run", "problem").sort("run").rows()
    used = len(runs) - len(skipped)
    if used == 0:
        found = (
            f"{len(runs)} run folder(s), none usable ({len(skipped)} skipped: e.g. {skipped[0][0]}: {skipped[0][1]})"
            if skipped else "no run folders"
        )
        raise ConfigError(
            f"No finished run records under {results}: found {found}. A leaderboard needs at least one "
            "<experiment>/<run_id>/record.json with status 'finished'; run experiments first "
            "(python -m benchsuite run --gin gin/default.gin) or pass another --results folder."
        )
    chosen = select(index.evaluations, rule)
    chosen.entries = chosen.entries.with_columns(
        pl.Series("setting_text", _setting_texts(chosen.entries, index.settings), dtype=pl.String)
    )
    if chosen.entries.is_empty():
        raise ConfigError(
            f"None of the {used} finished runs under {results} has a {rule.metric} score, which the selection rule "
            f"{rule.name} needs; choose --selection last-epoch, or evaluate a validation split."
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.new-"))
    try:
        pages = _write_pages(staging, chosen, rule, results / run_index.INDEX_DIR / "plots", runs, written)
        commits = runs.filter(pl.col("problem").is_null()).group_by("commit").len().sort(
            ["len", "commit"], descending=[True, False], nulls_last=True
        ).rows()
        sections = (*_severity_sections(staging, chosen, runs, rule), _orderings_section(chosen, rule))
        (staging / "README.md").write_text(readme(
            command, source_commit(), rule, pages, len(runs), [p for _, p in skipped], commits, written, sections
        ))
        staging.chmod(0o755)
        files = sorted(path.name for path in staging.iterdir())
        _replace_folder(out, staging)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return Summary(out, rule.name, len(runs), used, skipped, index.added, index.removed, files, index.note)


def _severity_sections(folder: Path, chosen: Selection, runs: pl.DataFrame, rule: Rule) -> list[str]:
    """A plot and a table per dataset whose variants differ in one bias parameter (severity.py)."""
    sections = []
    for axis in severity_axes(chosen.runs, runs):
        title = f"{axis.dataset}\nworst-group accuracy against {axis.parameter} (selection: {rule.title})"
        severity_plot(folder / f"{axis.stem}.png", axis, title)
        sections.append(
            f"## Bias severity on {axis.dataset}\n\nWorst-group test accuracy (%) against `{axis.dataset}."
            f"{axis.parameter}`, one line per method measured at more than one value: the mean over seeds, with the "
            f"seeds' range as a band (plot), and mean ± std (n) in the table; selection: {rule.title}.\n\n"
            f"![worst-group accuracy against {axis.parameter}]({axis.stem}.png)\n\n{severity_table(axis)}"
        )
    return sections


def _orderings_section(chosen: Selection, rule: Rule) -> str:
    verdicts = [
        verdict
        for (dataset,), frame in sorted(chosen.runs.partition_by("dataset", as_dict=True).items())
        for verdict in orderings.check(dataset, frame)
    ]
    head = (
        "## The papers' orderings\n\nEach ordering a paper reports, checked on every benchmark where both methods "
        f"ran (selection: {rule.title}): the paired difference over the seeds both have (mean of the per-seed "
        "differences, in points, with its 95% Student-t interval). It holds where the interval lies above 0, is "
        "reversed where it lies below, and is unresolved where it holds 0."
    )
    body = orderings.orderings_table(verdicts) if verdicts else "No pair of methods to compare."
    return f"{head}\n\n{body}"


#: bindings named in a table cell for a chosen setting; more are summarised as "..."
SHOWN_BINDINGS = 3


def _setting_texts(entries: pl.DataFrame, settings: pl.LazyFrame) -> list[str | None]:
    """For each entry with several settings, the chosen setting's bindings that not every setting shares."""
    compared = entries.filter(pl.col("settings") > 1)
    needed = compared["candidates"].explode().unique()
    bindings = dict(settings.filter(pl.col("setting").is_in(needed.implode())).collect().iter_rows())
    texts: list[str | None] = []
    for setting, candidates, count in entries.select("setting", "candidates", "settings").iter_rows():
        if count < 2:
            texts.append(None)
            continue
        shared = set.intersection(*(set(bindings.get(other, "").splitlines()) for other in candidates))
        own = [line for line in bindings.get(setting, "").splitlines() if line not in shared]
        more = ", ..." if len(own) > SHOWN_BINDINGS else ""
        texts.append(", ".join(f"`{line}`" for line in own[:SHOWN_BINDINGS]) + more if own else None)
    return texts


#: the metrics that tables show, in the order of the CSV's columns
SHOWN = tuple(dict.fromkeys(key for _, key in tables.ACCURACY + tables.BACKGROUND + tables.BIAS))


def _write_pages(
    folder: Path, chosen: Selection, rule: Rule, cache: Path | None, costs: pl.DataFrame, formats: tuple[str, ...]
) -> list[Page]:
    pages = []
    entries_by_dataset = chosen.entries.partition_by("dataset", as_dict=True, maintain_order=True)
    runs_by_dataset = chosen.runs.partition_by("dataset", as_dict=True, maintain_order=True)
    unselectable = chosen.unselectable.partition_by("dataset", as_dict=True, maintain_order=True)
    for (dataset,), frame in sorted(entries_by_dataset.items()):
        entries = frame.to_dicts()
        runs = runs_by_dataset[(dataset,)]
        missing = unselectable.get((dataset,))
        annotate(entries, runs, costs, [key for key in SHOWN if key in runs.columns])
        page = dataset_page(
            dataset, entries, missing.to_dicts() if missing is not None else [], reported_for(dataset), rule,
            runs["run"].n_unique(),
        )
        stem = file_stem(dataset)
        (folder / f"{stem}.md").write_text(page.text)
        keys = [key for key in SHOWN if any(entry.get(f"{key}:n") for entry in entries)
                or any(key in values for table in reported_for(dataset) for _, values in table.rows)]
        if "csv" in formats:
            (folder / f"{stem}.csv").write_text(
                exports.to_csv(dataset, entries, reported_for(dataset), keys, rule.title)
            )
        if "tex" in formats:
            (folder / f"{stem}.tex").write_text(
                exports.to_latex(dataset, page.sections, entries, reported_for(dataset), rule.title)
            )
        if page.plot:
            measured = sorted(
                (entry for entry in entries if entry.get("biased:n") and entry.get("debiased:n")),
                key=lambda entry: (*tables.row_rank(entry["row"]), entry["experiment"]),
            )
            both = {"biased", "debiased"} <= set(runs.columns)
            seeds = runs.select(*ENTRY[1:], "biased", "debiased").to_dicts() if both else []
            bias_plot(
                folder / f"{stem}.png", f"{dataset}\ndebiased vs biased accuracy (selection: {rule.title})",
                measured, seeds, reported_for(dataset), cache,
            )
        pages.append(page)
    return pages
