"""Mutation testing of the numerical core with mutmut: which mutants to run, and the kill rate per module.

mutmut (configured under [tool.mutmut] in pyproject.toml) copies the package to mutants/, plants one small change
per mutant in the modules it is told to mutate (losses/, metrics, methods/, the leaderboard's selection and
aggregation, the sweep's run states) and runs the tests that reach the changed function; a mutant is killed when
one of them fails. Its results live in mutants/**/*.meta. This module reads them:

    python -m tests.mutation sample --per-group 40 --seed 0   # a seeded sample of mutant names per group
    python -m tests.mutation report [--per-group 40 --seed 0] # markdown: killed / survived per group and module
    python -m tests.mutation survivors [--per-group 40 ...]   # the names of the mutants no test killed

A full run (`tox -e mutation`) checks every mutant; on 2 cores that takes hours, so docs/mutation.md reports a
seeded sample, run as `mutmut run $(python -m tests.mutation sample ...)`.
"""

from __future__ import annotations

import argparse
import json
import math
import random
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

#: the groups of the report, by module-name prefix, in the issue's words
GROUPS = {
    "losses/": ("benchsuite.losses.",),
    "metrics": ("benchsuite.evaluation.metrics.",),
    "methods/": ("benchsuite.methods.",),
    "leaderboard selection and aggregation": ("benchsuite.leaderboard.selection.", "benchsuite.leaderboard.compare."),
    "sweep run states": ("benchsuite.sweep.grid.",),
}
#: mutmut's exit codes: 1 and 3 a failing test, the SIGXCPU family a mutant that made the tests run far past
#: their measured time (counted as killed: the suite's own timeout would fail it), 0 survived, 33 and 5 no test
#: reaches the function, None not run yet
KILLED, TIMEOUT, SURVIVED, NO_TESTS = {1, 3}, {-24, 24, 152, 255, 36}, {0}, {33, 5}


def mutants(root: Path = Path("mutants")) -> Iterator[tuple[str, int | None]]:
    """(mutant name, exit code or None) for every mutant mutmut generated."""
    for meta in sorted(root.glob("benchsuite/**/*.meta")):
        yield from json.loads(meta.read_text())["exit_code_by_key"].items()


def group_of(name: str) -> str | None:
    return next((group for group, prefixes in GROUPS.items() if name.startswith(prefixes)), None)


def module_of(name: str) -> str:
    return name.rsplit(".", 1)[0]


def outcome(code: int | None) -> str:
    if code in KILLED:
        return "killed"
    if code in TIMEOUT:
        return "timeout"
    if code in SURVIVED:
        return "survived"
    if code in NO_TESTS:
        return "no tests"
    return "not run" if code is None else f"exit {code}"


def sample(per_group: int, seed: int) -> list[str]:
    """Up to per_group mutant names of each group, drawn uniformly without replacement with the given seed."""
    by_group = defaultdict(list)
    for name, _ in mutants():
        if (group := group_of(name)) is not None:
            by_group[group].append(name)
    chosen = []
    for group in GROUPS:
        names = sorted(by_group[group])
        chosen += random.Random(f"{seed}:{group}").sample(names, min(per_group, len(names)))
    return sorted(chosen)


def _wilson(killed: int, n: int) -> tuple[float, float]:
    """The 95% Wilson score interval of a proportion."""
    if n == 0:
        return (math.nan, math.nan)
    z, p = 1.959964, killed / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def _row(label: str, counts: Counter) -> str:
    checked = counts["killed"] + counts["timeout"] + counts["survived"] + counts["no tests"]
    caught = counts["killed"] + counts["timeout"]
    if checked:
        low, high = _wilson(caught, checked)
        rate = f"{100 * caught / checked:.1f}% [{100 * low:.0f}, {100 * high:.0f}]"
    else:
        rate = "-"
    return (f"| {label} | {checked} | {counts['killed']} | {counts['timeout']} | {counts['survived']} "
            f"| {counts['no tests']} | {rate} |")


def report(only: set[str] | None = None) -> str:
    """Markdown: per group and per module, the mutants checked (of `only`, if given) and how they ended, with the
    kill rate."""
    per_group, per_module = defaultdict(Counter), defaultdict(Counter)
    for name, code in mutants():
        if (group := group_of(name)) is None or code is None or (only is not None and name not in only):
            continue
        per_group[group][outcome(code)] += 1
        per_module[module_of(name)][outcome(code)] += 1
    lines = [
        "| module | checked | killed | timeout | survived | no test reaches it | killed or timed out [95% CI] |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    total = Counter()
    for group in GROUPS:
        lines.append(_row(f"**{group}**", per_group[group]))
        total += per_group[group]
        for module in sorted(m for m in per_module if group_of(m + ".") == group):
            lines.append(_row(f"{module.removeprefix('benchsuite.')}", per_module[module]))
    lines.append(_row("**all**", total))
    return "\n".join(lines)


def survivors(only: set[str] | None = None) -> list[str]:
    return [name for name, code in mutants()
            if group_of(name) and outcome(code) in ("survived", "no tests") and (only is None or name in only)]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.mutation", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    drawn = commands.add_parser("sample", help="a seeded sample of mutant names per group")
    drawn.add_argument("--per-group", type=int, default=40)
    drawn.add_argument("--seed", type=int, default=0)
    for command, what in (("report", "the kill rate per group and module, as markdown"),
                          ("survivors", "the mutants no test killed")):
        reader = commands.add_parser(command, help=what)
        reader.add_argument("--per-group", type=int, help="only the mutants of this sample (with --seed)")
        reader.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.command == "sample":
        print("\n".join(sample(args.per_group, args.seed)))
        return
    only = None if args.per_group is None else set(sample(args.per_group, args.seed))
    print(report(only) if args.command == "report" else "\n".join(survivors(only)))


if __name__ == "__main__":
    main()
