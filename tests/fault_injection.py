"""Kill a run at 20 named moments of its life, resume it each time, and compare it with a run never killed.

    python -m tests.fault_injection [--out DIR] [--json FILE]

For each kill point (benchsuite/faults.py) a run of a tiny config is started with BENCHSUITE_KILL_AT set, so
that it sends itself SIGKILL exactly there, then started again with the same command, which must resume it
and finish. The resumed run's metrics.jsonl must equal, byte for byte, the uninterrupted run's, and its
record's metrics must be equal too. Beside the kills it tries what a user meets: Ctrl-C and SIGTERM at a
named point, a truncated checkpoint.pt with and without an earlier good one, and a malformed record.json and
resumes.json. It prints one line per case and the totals (the README's "Reliability" figure); tests/
test_fault_injection.py runs it and checks every case.

Each run is a fork of this process, which has imported torch and the suite but computed nothing (so the
forks do not inherit a busy thread pool): a run costs its training, not an interpreter start. All runs use
one thread, so that floating-point sums are the same in every run. The configs are tiny; the data is the
embedded benchmark's, whose contents other changes may alter: only identity with the uninterrupted run is
checked, never a metric's value.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import traceback
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

import benchsuite.cli.report  # noqa: F401
from benchsuite import records
from benchsuite.cli import main
from benchsuite.experiment import components
from benchsuite.faults import ENVIRONMENT
from benchsuite.training import checkpoints

# the built-ins loaded once here, not in every fork (seconds each)
components.load()

REPO = Path(__file__).resolve().parents[1]
_TINY = [
    "SmallCNN.width = 8",
    "Trainer.batch_size = 32",
    "Trainer.progress = False",
    "Trainer.eval_every = 1",
    "SyntheticWaterbirds.image_size = 16",
    "SyntheticWaterbirds.train_size = 128",
    "SyntheticWaterbirds.val_size = 64",
    "SyntheticWaterbirds.test_size = 64",
]
#: config name -> (experiment file, bindings): 3 epochs of ERM; JTT's two stages (1 + 2 epochs); SimCLR for
#: 2 epochs, each evaluated by the authors' epoch-based linear probe (2 epochs), which trains through the
#: suite's loop and so has kill points inside it (the default logistic probe is one scikit-learn call)
CONFIGS = {
    "erm": ("erm_synthetic_waterbirds.gin", [*_TINY, "Trainer.epochs = 3"]),
    "jtt": ("jtt_synthetic_waterbirds.gin", [*_TINY, "Trainer.epochs = 2", "JTT.identification_epochs = 1"]),
    "simclr": ("simclr_synthetic_waterbirds.gin", [
        *_TINY, "Trainer.epochs = 2", "FrozenEncoderEvaluation.probe = @LinearProbe()", "LinearProbe.epochs = 2",
    ]),
}
#: (config, kill point): spread over a run's whole life, in order within each config
KILL_POINTS = [
    ("erm", "run.owned"),  # the folder is taken, nothing written
    ("erm", "record.half"),  # inside the write of the "running" record
    ("erm", "epoch.train:1"),  # an epoch trained, not yet evaluated or checkpointed
    ("erm", "checkpoint.half:1"),  # inside the first checkpoint's write
    ("erm", "checkpoint.written:1"),  # the first checkpoint complete beside the folder, not yet in place
    ("erm", "checkpoint.rotated:2"),  # the old checkpoint moved to .previous, the new one not yet in place
    ("erm", "checkpoint.replaced:2"),  # between an evaluation's checkpoint and its metrics lines
    ("erm", "metrics.half:2"),  # halfway through an evaluation's metrics lines
    ("erm", "metrics.appended:3"),  # training done, the record not yet written
    ("erm", "checkpoint.half:3"),  # inside the last checkpoint's write
    ("erm", "record.half:2"),  # inside the write of the finished record
    ("erm", "record.replaced:2"),  # the finished record written, the process not yet gone
    ("jtt", "epoch.identification:1"),  # JTT's stage 1 trained, not yet checkpointed
    ("jtt", "stage.end:1"),  # between JTT's stages, before its error set
    ("jtt", "stage.start:2"),  # between JTT's stages, the error set computed, stage 2 not started
    ("jtt", "checkpoint.rotated:2"),  # stage 2's first checkpoint replacing stage 1's
    ("jtt", "metrics.half:1"),  # inside stage 2's first metrics lines
    ("simclr", "epoch.linear_probe:1"),  # inside the linear probe of the first evaluation
    ("simclr", "epoch.linear_probe:4"),  # inside the linear probe of the second, last, evaluation
    ("simclr", "checkpoint.replaced:1"),  # SimCLR between a checkpoint and its metrics lines
]


@dataclass
class Case:
    name: str
    config: str
    #: each start's exit status (-9: killed by SIGKILL) and what it printed on stderr
    statuses: list[int] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    #: record.json's status after each start (None: no readable record)
    record_statuses: list[str | None] = field(default_factory=list)
    resumes: int | None = None
    identical: bool = False
    #: metrics lines (evaluations x rows) of the uninterrupted run, each of which must be there once
    evaluations: int = 0
    lost: int = 0
    duplicated: int = 0
    broken_lines: int = 0
    status: str | None = None


def _start(config: str, results: Path, kill: str | None = None, force: bool = False) -> tuple[int, str]:
    """Run `python -m benchsuite run` of `config` in a forked process; its exit status and stderr."""
    gin_file, bindings = CONFIGS[config]
    argv = ["run", "--gin", str(REPO / "gin" / gin_file), "--results", str(results)]
    argv += [arg for binding in bindings for arg in ("--gin-param", binding)]
    argv += ["--force"] if force else []
    log = results.parent / f"{results.name}.{len(list(results.parent.glob(results.name + '.*.log')))}.log"
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: never returns into the parent's code
        status = 99
        try:
            descriptor = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(descriptor, 1)
            os.dup2(descriptor, 2)
            os.environ.pop(ENVIRONMENT, None)
            if kill is not None:
                os.environ[ENVIRONMENT] = kill
            torch.set_num_threads(1)
            status = main(argv)
        except BaseException:  # a traceback is itself a failure of the case: exit status 99 says so
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(status)
    _, wait_status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(wait_status), log.read_text()


def _record_status(results: Path) -> str | None:
    try:
        return records.read_record(_run_dir(results)).get("status")
    except (ValueError, FileNotFoundError, AttributeError):  # no run folder yet, or no readable record
        return None


def _start_case(case: Case, results: Path, kill: str | None = None, force: bool = False) -> None:
    """`_start` within a case: its exit status, stderr and the record's status after it are kept."""
    status, stderr = _start(case.config, results, kill=kill, force=force)
    case.statuses.append(status)
    case.stderr.append(stderr)
    case.record_statuses.append(_record_status(results))


def _run_dir(results: Path) -> Path:
    (experiment,) = results.iterdir()
    (run_dir,) = experiment.iterdir()
    return run_dir


def _keys(text: str) -> tuple[Counter, int]:
    """(stage, epoch, row) of each metrics line, counted; and the number of lines that are not JSON."""
    keys: Counter = Counter()
    broken = 0
    for line in text.splitlines():
        try:
            parsed = json.loads(line)
        except json.JSONDecodeError:
            broken += 1
            continue
        keys[(parsed["stage"], parsed["epoch"], parsed["row"])] += 1
    return keys, broken


def _compare(case: Case, results: Path, baseline: Path) -> None:
    run_dir, whole = _run_dir(results), _run_dir(baseline)
    logged, expected = ((d / records.METRICS).read_text() for d in (run_dir, whole))
    record, expected_record = (json.loads((d / records.RECORD).read_text()) for d in (run_dir, whole))
    keys, case.broken_lines = _keys(logged)
    expected_keys, _ = _keys(expected)
    case.evaluations = sum(expected_keys.values())
    case.lost = sum((expected_keys - keys).values())
    case.duplicated = sum((keys - expected_keys).values())
    case.resumes = record.get("resumes")
    case.status = record.get("status")
    case.identical = logged == expected and record.get("metrics") == expected_record["metrics"]


def _killed_then_resumed(config: str, kill: str, out: Path, baseline: Path) -> Case:
    case = Case(kill, config)
    results = out / f"{config}-{kill.replace(':', '-')}"
    for start in (kill, None):
        _start_case(case, results, kill=start)
    _compare(case, results, baseline)
    return case


def _user_cases(out: Path, baselines: dict[str, Path]) -> list[Case]:
    """Ctrl-C, SIGTERM, truncated checkpoints and malformed records, each resumed (or --force'd) after."""
    cases = []

    def case(name: str, starts: list[tuple[str | None, bool]], damage=None, damage_after: int = 0) -> None:
        current = Case(name, "erm")
        results = out / f"user-{name}"
        for index, (kill, force) in enumerate(starts):
            _start_case(current, results, kill=kill, force=force)
            if damage is not None and index == damage_after:
                damage(_run_dir(results))
        _compare(current, results, baselines["erm"])
        cases.append(current)

    def truncate(path_name: str):
        def damage(run_dir: Path) -> None:
            path = run_dir / path_name
            path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])

        return damage

    def overwrite(path_name: str, text: str):
        return lambda run_dir: (run_dir / path_name).write_text(text)

    case("sigint", [("checkpoint.replaced:2:INT", False), (None, False)])
    case("sigterm", [("epoch.train:2:TERM", False), (None, False)])
    case("truncated-checkpoint", [("metrics.appended:2", False), (None, False)], truncate(records.CHECKPOINT))
    case("truncated-only-checkpoint", [("metrics.appended:1", False), (None, False), (None, True)],
         truncate(records.CHECKPOINT))
    case("malformed-record", [("metrics.appended:2", False), (None, False)], overwrite(records.RECORD, '{"status": '))
    case("malformed-resumes", [("metrics.appended:1", False), ("metrics.appended:2", False), (None, False)],
         overwrite(records.RESUMES, "[]"), damage_after=1)
    return cases


def run_all(out: Path) -> dict:
    baselines = {}
    for config in CONFIGS:
        baselines[config] = out / f"{config}-uninterrupted"
        status, stderr = _start(config, baselines[config])
        if status != 0:
            raise SystemExit(f"the uninterrupted {config} run failed (exit status {status}):\n{stderr}")
    kills = [_killed_then_resumed(config, kill, out, baselines[config]) for config, kill in KILL_POINTS]
    users = _user_cases(out, baselines)
    every = kills + users
    return {
        "kill_points": len(kills),
        "killed_at_the_point": sum(case.statuses[0] == -9 for case in kills),
        "resumes": sum(case.resumes or 0 for case in every),
        "identical": sum(case.identical for case in every),
        "cases": len(every),
        "evaluations_checked": sum(case.evaluations for case in every),
        "evaluations_lost": sum(case.lost for case in every),
        "evaluations_duplicated": sum(case.duplicated for case in every),
        "broken_lines": sum(case.broken_lines for case in every),
        "kill_cases": [asdict(case) for case in kills],
        "user_cases": [asdict(case) for case in users],
        "corrupt_checkpoint_kept": sorted(
            str(path.relative_to(out)) for path in out.rglob(checkpoints.CORRUPT)
        ),
    }


def main_command(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fault_injection", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="folder for the runs (default: a temporary one, deleted)")
    parser.add_argument("--json", type=Path, help="write the summary and every case here")
    args = parser.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="benchsuite-faults-"))
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("BENCHSUITE_CACHE", str(out / "cache"))
    try:
        summary = run_all(out)
    finally:
        if args.out is None:
            shutil.rmtree(out, ignore_errors=True)
    for case in summary["kill_cases"] + summary["user_cases"]:
        print(f"{case['config']:<7} {case['name']:<26} exit statuses {case['statuses']!s:<13} "
              f"resumes {case['resumes']}  identical {case['identical']}  evaluations {case['evaluations']}  "
              f"lost {case['lost']}  duplicated {case['duplicated']}")
    print(f"kill points tried: {summary['kill_points']} (each killed there: {summary['killed_at_the_point']}); "
          f"cases: {summary['cases']}; resumes: {summary['resumes']}; identical to the uninterrupted run: "
          f"{summary['identical']}/{summary['cases']}; evaluations checked: {summary['evaluations_checked']}, "
          f"lost: {summary['evaluations_lost']}, "
          f"duplicated: {summary['evaluations_duplicated']}; broken lines: {summary['broken_lines']}")
    if args.json is not None:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main_command())
