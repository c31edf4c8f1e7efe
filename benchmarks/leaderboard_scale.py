"""Leaderboard at scale: a cold build and a warm regeneration over 100,000 small synthetic run records.

Writes N run folders (record.json + metrics.jsonl of three evaluations, as runs write them; 0.1% of the
records truncated) into a temporary folder, then times, in this process (imports excluded):
  cold         generate() with no index: every record and metrics file read, the parquet index written;
  warm         generate() again: one stat per run folder, nothing read, nothing re-indexed;
  incremental  generate() after one record rewritten and one run added;
and, as a subprocess, the whole warm command (interpreter start and imports included).
Goal (issue 7): the warm regeneration under 2 s on 2 CPU cores. Figures and the command: benchmarks/README.md.

    python benchmarks/leaderboard_scale.py [--runs 100000] [--repeats 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATASETS = {  # name -> the evaluation splits its runs log
    "ToyBackgrounds": ("val", "test", "mixed_same", "mixed_rand", "only_fg", "only_bg_t"),
    "ToyWaterbirds": ("val", "test"),
    "ToyTexture": ("val", "test", "cue_aligned", "cue_conflict"),
}
METHODS = {"ERM": ("ERM",), "JTT": ("JTT",), "SimCLR": ("SimCLR",), "DCL": ("DCL",), "HCL": ("HCL",),
           "WCL": ("WCL (E_d)", "WCL (E_b)")}
REPO = Path(__file__).resolve().parents[1]
SEEDS = 5
EPOCHS = (2, 4, 6)


def _metrics(rng: random.Random, splits: tuple[str, ...]) -> dict[str, float]:
    metrics = {}
    for split in splits:
        top1 = round(rng.uniform(0.3, 1.0), 4)
        metrics |= {f"{split}/top1": top1, f"{split}/worst_group": round(top1 * rng.uniform(0, 1), 4)}
        if not split.startswith("val") and len(splits) > 2:
            metrics[f"{split}/top5"] = round(min(1.0, top1 + 0.1), 4)
    if "mixed_same" in splits:
        metrics |= {"biased": metrics["mixed_same/top1"], "debiased": metrics["mixed_rand/top1"],
                    "bg_gap": round(metrics["mixed_same/top1"] - metrics["mixed_rand/top1"], 4)}
    else:
        metrics |= {"biased": round(rng.uniform(0.8, 1.0), 4), "debiased": round(rng.uniform(0.0, 0.8), 4)}
    return metrics


def write_records(results: Path, runs: int, seed: int = 0) -> int:
    """`runs` run folders spread over every (method, dataset) experiment; returns how many are truncated."""
    rng = random.Random(seed)
    experiments = [(method, dataset) for method in METHODS for dataset in DATASETS]
    truncated = 0
    for number in range(runs):
        method, dataset = experiments[number % len(experiments)]
        slot = number // len(experiments)
        run_seed, setting = slot % SEEDS, slot // SEEDS
        config = (f"import benchsuite\n\nrun.dataset = @{dataset}()\nrun.method = @{method}()\n"
                  f"run.seed = {run_seed}\nTrainer.lr = {0.001 * (1 + setting)}\nTrainer.epochs = {EPOCHS[-1]}\n")
        folder = results / f"{method.lower()}_{dataset.lower()}" / f"{number:012x}"
        folder.mkdir(parents=True)
        lines, final = [], {}
        for epoch in EPOCHS:
            for row in METHODS[method]:
                metrics = _metrics(rng, DATASETS[dataset])
                lines.append(json.dumps({"epoch": epoch, "row": row, "stage": "train", "train_loss": 0.5, **metrics},
                                        sort_keys=True))
                final[row] = metrics
        (folder / "metrics.jsonl").write_text("\n".join(lines) + "\n")
        record = json.dumps({
            "schema_version": 1, "run_id": folder.name, "experiment": folder.parent.name, "status": "finished",
            "error": None, "method": method, "dataset": dataset, "backbone": "SmallCNN", "seed": run_seed,
            "metrics": final, "gin_config": config, "gin_files": [], "gin_bindings": [f"run.seed = {run_seed}"],
            "git": {"commit": "0" * 40, "dirty": False},
        }, indent=2, sort_keys=True)
        if number % 1000 == 999:
            record, truncated = record[: len(record) // 2], truncated + 1
        (folder / "record.json").write_text(record)
    return truncated


def _timed(call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3, help="warm regenerations timed (the best and all shown)")
    parser.add_argument("--keep", metavar="DIR", help="write the records here and keep them (default: a temp folder)")
    args = parser.parse_args()

    sys.path.insert(0, str(REPO))  # the checkout this script belongs to, whatever is installed
    from benchsuite.leaderboard.build import generate
    from benchsuite.leaderboard.discover import walk
    from benchsuite.leaderboard.index import INDEX_DIR

    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="leaderboard-scale-"))
    results, out = root / "results", root / "leaderboards"
    try:
        print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start; folder {root}")
        if not results.exists():
            start = time.perf_counter()
            truncated = write_records(results, args.runs)
            took = time.perf_counter() - start
            print(f"wrote {args.runs} run folders ({truncated} truncated records) in {took:.1f} s")
        # a kept folder from an earlier run: back to the records alone
        shutil.rmtree(results / INDEX_DIR, ignore_errors=True)
        shutil.rmtree(results / "added", ignore_errors=True)
        shutil.rmtree(out, ignore_errors=True)
        cold = _timed(lambda: generate(results, out))
        warm = [_timed(lambda: generate(results, out)) for _ in range(args.repeats)]
        walking = min(_timed(lambda: walk(results)) for _ in range(args.repeats))
        changed = next((results / "erm_toywaterbirds").iterdir()) / "record.json"
        changed.write_text(changed.read_text().replace('"seed"', '"seed" ', 1))  # a new size: a changed record
        write_records(results / "_added", 1, seed=1)  # one new run, in its own experiment
        shutil.move(results / "_added" / "erm_toybackgrounds", results / "added")
        shutil.rmtree(results / "_added")
        incremental = _timed(lambda: generate(results, out))
        command = [sys.executable, "-m", "benchsuite", "leaderboard", "--results", str(results), "--out", str(out)]
        cli = _timed(lambda: subprocess.run(command, check=True, capture_output=True, cwd=REPO))
        print(f"cold build:            {cold:6.2f} s")
        print(f"warm regeneration:     {min(warm):6.2f} s (best of {len(warm)}: {', '.join(f'{t:.2f}' for t in warm)})")
        print(f"  of which the walk (one stat per run folder): {walking:6.2f} s (best of {args.repeats})")
        print(f"incremental (1 changed, 1 added): {incremental:6.2f} s")
        print(f"warm command, whole process (interpreter, imports): {cli:6.2f} s")
        print(f"load average {os.getloadavg()[0]:.2f} at the end")
    finally:
        if not args.keep:
            shutil.rmtree(root)


if __name__ == "__main__":
    main()
