"""The papers' own numbers, shown as rows "reported by the paper" beside the measured rows of the same
dataset (matched by the registered dataset name a loader of that dataset will have).

Values are percent strings exactly as printed (the "±" is the paper's own, over runs it does not count).
Sources: the WCL poster (shared/seeds/003_95864738976ae6be.txt, Tables 1 and 2), and shared/ALGORITHMS.md
"Reference numbers" for the CLAD authors' README, the Background Challenge README and JTT's paper.
Column keys are those of the measured tables: "<split>/<metric>", "bg_gap", "biased", "debiased".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_WCL_ROWS = ("JTT", "SimCLR", "DCL", "HCL", "WCL (E_d)", "WCL (E_b)")
_WCL = "Jang and Wang, CVPR 2023 (WCL)"
_CIFAR_COLUMNS = ("test/top1", "test/top5", "test/worst_group")
_BINARY_COLUMNS = ("test/top1", "test/worst_group")


@dataclass(frozen=True)
class Reported:
    """One paper table's rows on one dataset."""

    dataset: str
    source: str
    note: str
    rows: tuple[tuple[str, dict[str, str]], ...]


def _table(columns: tuple[str, ...], printed: tuple[tuple[str, ...], ...]) -> tuple[tuple[str, dict[str, str]], ...]:
    pairs = zip(_WCL_ROWS, printed, strict=True)
    return tuple((label, dict(zip(columns, values, strict=True))) for label, values in pairs)


def _background(label: str, original, only_fg, mixed_rand, mixed_same, gap, only_bg_t) -> tuple[str, dict[str, str]]:
    """A row of the CLAD authors' README (fractions) as percent; biased = Mixed-Same, debiased = Mixed-Rand."""
    values = {
        "test/top1": original, "only_fg/top1": only_fg, "mixed_rand/top1": mixed_rand,
        "mixed_same/top1": mixed_same, "bg_gap": gap, "only_bg_t/top1": only_bg_t,
        "biased": mixed_same, "debiased": mixed_rand,
    }
    return label, {key: f"{100 * value:.1f}" for key, value in values.items()}


REPORTED: tuple[Reported, ...] = (
    Reported("CIFAR10", f"{_WCL}, Table 1", "ACC (worst) is the worst class.", _table(_CIFAR_COLUMNS, (
        ("85.67 ± 0.7", "99.65 ± 0.2", "72.33 ± 0.5"),
        ("89.12 ± 0.6", "99.74 ± 0.1", "75.7 ± 0.4"),
        ("91.66 ± 0.3", "99.78 ± 0.1", "81.2 ± 0.2"),
        ("91.25 ± 0.2", "99.78 ± 0.1", "81.5 ± 0.2"),
        ("92.71 ± 0.3", "99.84 ± 0.1", "83.3 ± 0.8"),
        ("75.61 ± 0.7", "98.61 ± 0.4", "52.6 ± 0.5"),
    ))),
    Reported("CIFAR100", f"{_WCL}, Table 1", "ACC (worst) is the worst class.", _table(_CIFAR_COLUMNS, (
        ("61.66 ± 0.6", "83.53 ± 0.9", "24.00 ± 1.5"),
        ("64.86 ± 0.6", "89.67 ± 0.3", "20.00 ± 0.2"),
        ("68.26 ± 0.3", "91.19 ± 0.1", "20.00 ± 0.2"),
        ("68.73 ± 0.4", "91.19 ± 0.1", "29.00 ± 0.8"),
        ("69.09 ± 0.2", "91.63 ± 0.3", "31.00 ± 0.7"),
        ("41.61 ± 0.3", "69.26 ± 0.2", "1.0 ± 0.5"),
    ))),
    Reported(
        "Waterbirds", f"{_WCL}, Table 2",
        "The authors evaluate on the validation split; the measured rows use the test split.",
        _table(_BINARY_COLUMNS, (
            ("77.81 ± 2.3", "70.00 ± 1.5"),
            ("77.80 ± 1.5", "0.00"),
            ("65.80 ± 1.7", "4.51 ± 1.2"),
            ("69.31 ± 1.2", "5.26 ± 1.1"),
            ("76.92 ± 0.3", "31.58 ± 3.5"),
            ("73.64 ± 1.4", "14.29 ± 1.5"),
        )),
    ),
    Reported(
        "Waterbirds", "Liu et al., ICML 2021 (JTT)",
        "This top-1 is JTT's average accuracy, which weights the groups by their training proportions; the "
        "measured top-1 is over the test images as they come.",
        (("ERM", {"test/top1": "97.3", "test/worst_group": "72.6"}),),
    ),
    Reported(
        "CelebA", f"{_WCL}, Table 2",
        "Target Attractive, spurious attribute Male (the experiments binding CelebA.target = 'Attractive'; not "
        "JTT's Blond_Hair target); the authors evaluate on the validation split, the measured rows on the test "
        "split.",
        _table(_BINARY_COLUMNS, (
            ("76.83 ± 1.3", "67.66 ± 0.5"),
            ("78.61 ± 1.5", "44.30 ± 0.7"),
            ("77.12 ± 1.6", "44.95 ± 0.3"),
            ("76.13 ± 2.1", "52.13 ± 0.8"),
            ("78.11 ± 2.3", "57.40 ± 1.2"),
            ("58.84 ± 2.5", "39.79 ± 1.3"),
        )),
    ),
    Reported(
        "ImageNet9", "Wang et al., arXiv 2210.02748 (CLAD), authors' README", "ResNet-50 trained on Original.",
        (
            _background("ERM", .962, .864, .751, .882, .131, .443),
            _background("CLAD", .958, .944, .888, .910, .022, .345),
            _background("CLAD+", .945, .944, .890, .906, .016, .227),
        ),
    ),
    Reported(
        "ImageNet9", "Xiao et al., ICLR 2021 (Background Challenge), README", "ResNet-50 trained on Original.",
        (("ERM", {
            "test/top1": "95.6", "mixed_same/top1": "86.2", "mixed_rand/top1": "78.9", "bg_gap": "7.3",
            "biased": "86.2", "debiased": "78.9",
        }),),
    ),
)

_NUMBER = re.compile(r"^\s*(-?[0-9.]+)\s*(?:±\s*([0-9.]+))?\s*$")


def reported_for(dataset: str) -> tuple[Reported, ...]:
    return tuple(table for table in REPORTED if table.dataset == dataset)


def value_of(printed: str) -> tuple[float, float | None]:
    """"92.71 ± 0.3" -> (92.71, 0.3); "0.00" -> (0.0, None)."""
    match = _NUMBER.match(printed)
    if match is None:
        raise ValueError(f"not a reported number: {printed!r}")
    return float(match.group(1)), float(match.group(2)) if match.group(2) else None
