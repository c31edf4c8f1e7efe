"""Benchmark variants, severity curves and the papers' orderings in the generated leaderboard, by hand."""

from __future__ import annotations

import math

import matplotlib.colors
import polars as pl
import pytest

from benchsuite.leaderboard.build import generate
from benchsuite.leaderboard.orderings import check
from tests.leaderboard_records import markdown_table, write_run

_T_975_2 = 0.95 / math.sqrt(2 * 0.975 * 0.025)  # Student t quantile, 2 degrees of freedom, closed form


def _run(results, method, experiment, seed, worst, debiased=0.5, agreement=None, run=""):
    setting = "" if agreement is None else f"SyntheticWaterbirds.background_agreement = {agreement}"
    config = f"SyntheticWaterbirds.background_agreement = {agreement if agreement is not None else 0.95}"
    metrics = {"val/top1": 0.8, "test/top1": 0.8, "test/worst_group": worst, "biased": 0.9, "debiased": debiased}
    return write_run(
        results, experiment, f"{method}{seed}{agreement or ''}{run}", dataset="SyntheticWaterbirds", method=method,
        seed=seed, evaluations=[("train", 1, method, metrics)], setting=setting,
        gin_config=f"run.seed = {seed}\n{config}\n{setting}",
    )


def _results(tmp_path):
    results = tmp_path / "results"
    erm = [0.50, 0.60, 0.55]
    jtt = [0.70, 0.75, 0.72]
    for seed in range(3):
        _run(results, "ERM", "erm_synthetic_waterbirds", seed, erm[seed], debiased=0.6)
        _run(results, "JTT", "jtt_synthetic_waterbirds", seed, jtt[seed])
        _run(results, "ERM", "erm_synthetic_waterbirds", seed, erm[seed] - 0.2, agreement=0.99)
    for seed in range(2):  # CLAD below ERM on debiased accuracy, but only 2 seeds
        _run(results, "CLAD", "clad_synthetic_waterbirds", seed, 0.5, debiased=0.3)
    return results


def test_a_bound_dataset_parameter_is_a_benchmark_variant_not_a_setting(tmp_path):
    out = tmp_path / "lb"
    generate(_results(tmp_path), out, formats="md")
    main = markdown_table((out / "SyntheticWaterbirds.md").read_text(), "Accuracy on the test split")
    # the 0.99 runs are not a second "setting" of ERM competing on validation: the main page has the 3 default seeds
    assert main["ERM", "erm_synthetic_waterbirds"]["n"] == "3"
    assert main["ERM", "erm_synthetic_waterbirds"]["worst-group"].startswith("55.00 ± 5.00")
    variant = out / "SyntheticWaterbirds-background_agreement-0.99.md"
    assert variant.is_file(), sorted(path.name for path in out.iterdir())
    table = markdown_table(variant.read_text(), "Accuracy on the test split")
    assert table["ERM", "erm_synthetic_waterbirds"]["worst-group"].startswith("35.00 ± 5.00")


def test_the_severity_section_plots_and_tabulates_worst_group_against_the_parameter(tmp_path):
    out = tmp_path / "lb"
    generate(_results(tmp_path), out, formats="md")
    readme = (out / "README.md").read_text()
    section = readme.split("## Bias severity on SyntheticWaterbirds", 1)[1].split("\n## ", 1)[0]
    assert "![worst-group accuracy against background_agreement](SyntheticWaterbirds-severity.png)" in section
    assert (out / "SyntheticWaterbirds-severity.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = {line.split("|")[1].strip(): [cell.strip() for cell in line.strip("|").split("|")]
            for line in section.splitlines() if line.startswith("| ERM") or line.startswith("| JTT")}
    assert rows["ERM"][2:] == ["55.00 ± 5.00 (n=3)", "35.00 ± 5.00 (n=3)"]  # at 0.95 (from the config) and 0.99
    assert rows["JTT"][2:] == ["72.33 ± 2.52 (n=3)", "-"]


def test_orderings_are_paired_differences_with_their_interval(tmp_path):
    out = tmp_path / "lb"
    generate(_results(tmp_path), out, formats="md")
    readme = (out / "README.md").read_text()
    section = readme.split("## The papers' orderings", 1)[1].split("\n## ", 1)[0]
    lines = {line.split("|")[2].strip(): [c.strip() for c in line.strip("|").split("|")]
             for line in section.splitlines() if line.startswith("| SyntheticWaterbirds |")}
    differences = [0.20, 0.15, 0.17]  # JTT - ERM worst-group, seed by seed
    mean = sum(differences) / 3
    std = math.sqrt(sum((d - mean) ** 2 for d in differences) / 2)
    half = _T_975_2 * std / math.sqrt(3)
    jtt = lines["JTT above ERM (worst-group) (JTT, Table 1)"]
    assert jtt[2] == f"{100 * mean:+.2f} [{100 * (mean - half):+.2f}, {100 * (mean + half):+.2f}]"
    assert jtt[3] == "3" and jtt[4] == "holds"
    clad = lines["CLAD above ERM (debiased accuracy) (CLAD README (Mixed-Rand))"]
    assert clad[2].startswith("-30.00") and clad[3] == "2" and clad[4].startswith("not judged")
    # the variant's ERM has no JTT to compare with: no line for it
    assert not any("0.99" in line for line in section.splitlines() if line.startswith("|"))


def _verdicts(above: list[float], below: list[float]) -> dict[str, str]:
    rows = [("WCL (E_d)", "wcl_x", seed, value) for seed, value in enumerate(above)]
    rows += [(row, f"{row.lower()}_x", seed, value) for row in ("SimCLR", "DCL") for seed, value in enumerate(below)]
    runs = pl.DataFrame(rows, schema=["row", "experiment", "seed", "test/worst_group"], orient="row")
    return {verdict.ordering.below: verdict.judgement for verdict in check("X", runs)}


def test_equal_entries_are_tied_and_both_at_zero_are_at_the_floor_not_reversed():
    assert set(_verdicts([0.0, 0.0, 0.0], [0.0, 0.0, 0.0]).values()) == {
        "not measurable here: both at 0 in every seed (the metric's floor)"}
    assert set(_verdicts([0.3, 0.4, 0.5], [0.3, 0.4, 0.5]).values()) == {"tied: equal in every seed"}
    # differences of 0, +0.25 and -0.25 with spread: unresolved, and no difference in the mean
    assert set(_verdicts([0.5, 0.75, 0.25], [0.5, 0.5, 0.5]).values()) == {
        "unresolved (the interval holds 0): no difference in the mean"}
    assert set(_verdicts([0.25, 0.5, 0.25], [0.5, 0.25, 0.5]).values()) == {
        "unresolved (the interval holds 0): reversed in the mean"}
    assert set(_verdicts([0.5, 0.6, 0.7], [0.1, 0.15, 0.2]).values()) == {"holds"}


def test_the_severity_plot_draws_each_methods_means_and_seed_range(tmp_path, drawn_figures):
    results = _results(tmp_path)
    for seed, worst in enumerate([0.60, 0.70]):  # JTT at 0.99 too (2 seeds): a second curve
        _run(results, "JTT", "jtt_synthetic_waterbirds", seed, worst, agreement=0.99)
    generate(results, tmp_path / "lb", formats="md")
    figure = drawn_figures["SyntheticWaterbirds-severity.png"]
    (axes,) = figure.axes
    # CLAD was measured at 0.95 alone: no curve; ERM and JTT: a line through their means (%)
    lines = {line.get_label(): (list(line.get_xdata()), list(line.get_ydata())) for line in axes.get_lines()}
    assert lines.keys() == {"ERM", "JTT"}
    assert lines["ERM"][0] == [0.95, 0.99] and lines["ERM"][1] == pytest.approx([55.0, 35.0])
    assert lines["JTT"][0] == [0.95, 0.99] and lines["JTT"][1] == pytest.approx([(70 + 75 + 72) / 3, 65.0])
    # the band of each line spans its seeds' lowest to highest value, in the line's colour
    bands = axes.collections
    assert len(bands) == 2
    for band, line, (low, high) in zip(bands, axes.get_lines(), [([50, 30], [60, 40]), ([70, 60], [75, 70])],
                                       strict=True):
        corners = {(round(float(x), 6), round(float(y), 6)) for x, y in band.get_paths()[0].vertices}
        assert corners == {(0.95, low[0]), (0.99, low[1]), (0.95, high[0]), (0.99, high[1])}
        assert tuple(band.get_facecolor()[0][:3]) == pytest.approx(matplotlib.colors.to_rgb(line.get_color()))
    assert len({matplotlib.colors.to_rgb(line.get_color()) for line in axes.get_lines()}) == 2
    assert axes.get_xlabel() == "SyntheticWaterbirds.background_agreement"
    assert axes.get_ylabel() == "worst-group test accuracy (%)"
    assert [float(tick) for tick in axes.get_xticks()] == [0.95, 0.99]
    assert [label.get_text() for label in axes.get_xticklabels()] == ["0.95", "0.99"]
    assert axes.get_title() == ("SyntheticWaterbirds\nworst-group accuracy against background_agreement "
                                "(selection: last-epoch)")
    assert [text.get_text() for text in axes.get_legend().get_texts()] == ["ERM", "JTT"]
