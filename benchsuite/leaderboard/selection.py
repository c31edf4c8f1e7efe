"""Model selection after the fact, then the mean and spread over seeds.

A leaderboard entry is one row label (a method's evaluated model: "ERM", "WCL (E_d)", ...) of one
experiment on one dataset. Its runs differ by seed and possibly by hyperparameter setting (the operative
gin config without the seed). For each run the rule picks one evaluation of the final stage (the last one,
or the best on validation); the setting with the best mean validation score over its seeds is chosen; the
entry then reports the mean, sample std (ddof = 1) and count of each metric over that setting's seeds.
Runs of a rerun of the best setting (`sweep --rerun-best`, `rerun` not null) take no part in choosing the
setting; where the chosen setting has such runs, the entry reports those seeds only (the grid's seeds chose
the setting, so their scores are biased upwards) and `rerun` names the rule the rerun was made for.
Everything below is one lazy polars query over the index, whatever the number of runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from benchsuite.leaderboard.ingest import EVAL_SCHEMA
from benchsuite.leaderboard.rules import Rule

ENTRY = ("dataset", "experiment", "row")


@dataclass
class Selection:
    """entries: one row per entry with `<metric>:mean`, `<metric>:std`, `<metric>:n` columns, `n` (seeds),
    `setting`, `candidates` (every setting compared, best first), `settings` (how many), `ranked` (whether
    validation could rank them) and `rerun` (the rule of the rerun whose seeds are shown, else null);
    runs: the chosen evaluation of every run of the chosen settings; unselectable: per entry, the runs that
    had no validation score under a best-validation rule and were left out."""

    entries: pl.DataFrame
    runs: pl.DataFrame
    unselectable: pl.DataFrame


def select(evaluations: pl.LazyFrame, rule: Rule) -> Selection:
    """Apply `rule` to the index's evaluations (those of the usable runs' final stages) and aggregate."""
    metrics = [name for name in evaluations.collect_schema().names() if name not in EVAL_SCHEMA]
    if rule.metric not in metrics:
        evaluations = evaluations.with_columns(pl.lit(None, pl.Float64).alias(rule.metric))
        metrics.append(rule.metric)
    # a NaN (a diverged model) is no score: NaN would sort above every number
    score = pl.col(rule.metric).fill_nan(None)
    if rule.best_epoch:
        best_score = evaluations.filter(score == score.max().over("run", "row"))
        chosen = best_score.filter(pl.col("epoch").eq_missing(pl.col("epoch").min().over("run", "row")))
        unselectable = (
            evaluations.filter(pl.col("last")).join(chosen.select("run", "row"), on=["run", "row"], how="anti")
            .group_by(ENTRY).agg(runs=pl.len())
        )
    else:
        chosen = evaluations.filter(pl.col("last"))
        unselectable = pl.LazyFrame(schema={**dict.fromkeys(ENTRY, pl.String), "runs": pl.UInt32})
    # Means and stds are taken over sorted lists of each group's values: a parallel group-by sums in an order
    # that can change from one call to the next, and the last bit of a mean can move a cell's rounding or a
    # setting's rank (the optimizer drops a sort before a plain mean, so the lists are explicit).
    best = (
        chosen.filter(pl.col("rerun").is_null())
        .group_by(*ENTRY, "setting").agg(score=score.drop_nulls().sort(), seeds=pl.len())
        .with_columns(pl.col("score").list.mean())
        .sort(["score", "seeds", "setting"], descending=[True, True, False], nulls_last=True)
        .group_by(ENTRY, maintain_order=True)
        .agg(
            pl.col("setting").first(), candidates=pl.col("setting"), settings=pl.len(),
            ranked=pl.col("score").first().is_not_null(),
        )
    )
    kept = (
        chosen.join(best.select(*ENTRY, "setting"), on=[*ENTRY, "setting"])
        .filter(pl.col("rerun").is_not_null() == pl.col("rerun").is_not_null().any().over(ENTRY))
        .with_columns(pl.col(metrics).fill_nan(None))
    )
    kept, best, unselectable = pl.collect_all([kept.sort(*ENTRY, "seed", "run"), best, unselectable.sort(ENTRY)])
    stats = [
        expression
        for name in metrics
        for expression in (
            pl.col(name).list.mean().alias(f"{name}:mean"),
            pl.col(name).list.std(ddof=1).alias(f"{name}:std"),
            pl.col(name).list.len().cast(pl.UInt32).alias(f"{name}:n"),
        )
    ]
    entries = (
        kept.group_by(ENTRY).agg(
            pl.len().alias("n"), pl.col("rerun").drop_nulls().min(),
            *(pl.col(name).drop_nulls().sort() for name in metrics),
        )
        .select(*ENTRY, "n", "rerun", *stats)
        .join(best, on=list(ENTRY))
        .sort(ENTRY)
    )
    return Selection(entries, kept, unselectable)
