"""Golden tests of what a paper prints, every number worked out by hand: the 95% interval of a mean, the paired
difference from the family reference and its mark, the worst-class rule choosing another epoch than the
worst-group rule, and the CSV and LaTeX exports of a two-method fixture byte for byte.

Student's t has closed forms for one and two degrees of freedom: t(p, 1) = tan(pi (p - 1/2)) and
t(p, 2) = (2p - 1) / sqrt(2 p (1 - p)); at p = 0.975 they are 12.7062 and 4.30265 (any t table).
"""

from __future__ import annotations

import math

import polars as pl
import pytest

from benchsuite.leaderboard import compare
from benchsuite.leaderboard.build import generate
from benchsuite.leaderboard.ingest import EVAL_SCHEMA
from benchsuite.leaderboard.rules import rule_named
from benchsuite.leaderboard.selection import select
from tests.leaderboard_records import markdown_table, write_run

P = 0.975
T1 = math.tan(math.pi * (P - 0.5))
T2 = (2 * P - 1) / math.sqrt(2 * P * (1 - P))


def test_t_quantiles_and_the_interval_by_hand():
    assert compare.t_quantile(1) == pytest.approx(T1, rel=1e-12)
    assert compare.t_quantile(2) == pytest.approx(T2, rel=1e-12)
    assert compare.t_quantile(4) == pytest.approx(2.776445, rel=1e-6)  # a t table's 2.776
    # .7, .8, .9: mean .8, std .1; half width 4.30265 * .1 / sqrt(3) = .248414
    low, high = compare.interval(0.8, 0.1, 3)
    assert (low, high) == pytest.approx((0.8 - 0.248414, 0.8 + 0.248414), abs=1e-6)
    assert compare.interval(0.8, None, 1) is None  # one seed: no interval (a zero width would be a lie)


def test_paired_difference_and_its_mark_by_hand():
    # differences .10, .12, .14: mean .12, std .02, half width 4.30265 * .02 / sqrt(3) = .049683 -> marked
    shifted = compare.paired({0: 0.6, 1: 0.72, 2: 0.84, 5: 0.9}, {0: 0.5, 1: 0.6, 2: 0.7, 3: 0.8})
    assert shifted.n == 3  # seeds 5 and 3 have no partner
    assert (shifted.mean, shifted.low, shifted.high) == pytest.approx((0.12, 0.070317, 0.169683), abs=1e-6)
    assert shifted.marked
    # differences -.1, .2, 0: mean .033333, std .152753, half width .379458: the interval holds zero
    spread = compare.paired({0: 0.2, 1: 0.5, 2: 0.3}, {0: 0.3, 1: 0.3, 2: 0.3})
    assert (spread.low, spread.high) == pytest.approx((-0.346125, 0.412791), abs=1e-6) and not spread.marked
    # two seeds, differences .2 and .21: [.1415, .2685] excludes zero, but n < 3 is never marked
    two = compare.paired({0: 0.7, 1: 0.81}, {0: 0.5, 1: 0.6})
    assert two.low == pytest.approx(0.205 - T1 * 0.01 / math.sqrt(2) / math.sqrt(2)) and two.low > 0
    assert not two.marked
    assert compare.paired({0: 0.5}, {1: 0.5}) is None  # no shared seed


def _two_methods(results):
    """ERM and CLAD on Toy2, three seeds each, values exact in binary so that every CSV number is known."""
    for seed, (top1, worst, wall, rss) in enumerate([(0.5, 0.25, 10.0, 100.0), (0.625, 0.5, 30.0, 200.0),
                                                       (0.75, 0.75, 20.0, 150.0)]):
        metrics = {"val/top1": top1, "val/worst_group": worst, "test/top1": top1, "test/worst_group": worst}
        write_run(results, "erm_toy", f"erm{seed}", dataset="Toy2", method="ERM", seed=seed,
                  evaluations=[("train", 1, "ERM", metrics)], wall_time_s=wall, peak_memory={"cpu_rss_mib": rss})
    for seed, (top1, worst) in enumerate([(0.75, 0.5), (0.875, 0.25), (1.0, 0.75)]):
        metrics = {"val/top1": top1, "val/worst_group": worst, "test/top1": top1, "test/worst_group": worst}
        write_run(results, "clad_toy", f"clad{seed}", dataset="Toy2", method="CLAD", seed=seed,
                  evaluations=[("train", 1, "CLAD", metrics)])


def test_csv_and_latex_of_two_methods_byte_for_byte(tmp_path):
    _two_methods(tmp_path / "results")
    generate(tmp_path / "results", tmp_path / "out", formats="csv,tex")
    # ERM top-1 .5, .625, .75: mean .625, std .125; worst-group .25, .5, .75: mean .5, std .25.
    # CLAD top-1 .75, .875, 1: mean .875, std .125; worst-group .5, .25, .75: mean .5, std .25.
    # CLAD - ERM per seed: top-1 .25, .25, .25 (std 0: the interval is the point, marked);
    # worst-group .25, -.25, 0: mean 0, std .25, the interval +-T2 * .25 / sqrt(3) (not marked).
    # ERM's cost: median wall time of 10, 30, 20 s = 20; peak host memory max(100, 200, 150) = 200 MiB.
    h125, h25 = T2 * 0.125 / math.sqrt(3), T2 * 0.25 / math.sqrt(3)
    parts = ["mean", "std", "n", "ci_low", "ci_high", "diff", "diff_low", "diff_high", "diff_n", "diff_marked"]
    header = ",".join(
        ["dataset", "selection", "method", "source", "experiment", "setting", "reference", "rerun_of", "n", "seeds"]
        + [f"{key}:{part}" for key in ("test/top1", "test/worst_group") for part in parts]
        + ["cost:wall_time_s", "cost:cpu_rss_mib", "cost:gpu_mib", "runs"]
    )
    no_setting = "e3b0c44298fc"  # the setting id of no binding besides the seed: sha256 of ""
    erm = (f"Toy2,last-epoch,ERM,erm_toy,erm_toy,{no_setting},,,3,0 1 2,"
           f"0.625,0.125,3,{0.625 - h125!r},{0.625 + h125!r},,,,,,"
           f"0.5,0.25,3,{0.5 - h25!r},{0.5 + h25!r},,,,,,"
           "20.0,200.0,,erm_toy/erm0 erm_toy/erm1 erm_toy/erm2")
    clad = (f"Toy2,last-epoch,CLAD,clad_toy,clad_toy,{no_setting},ERM (erm_toy),,3,0 1 2,"
            f"0.875,0.125,3,{0.875 - h125!r},{0.875 + h125!r},0.25,0.25,0.25,3,true,"
            f"0.5,0.25,3,{0.5 - h25!r},{0.5 + h25!r},0.0,{-h25!r},{h25!r},3,false,"
            ",,,clad_toy/clad0 clad_toy/clad1 clad_toy/clad2")
    assert (tmp_path / "out" / "Toy2.csv").read_text() == "\n".join([header, erm, clad]) + "\n"

    # best of each column in bold: CLAD's top-1, and both worst-group cells (a tie); † on CLAD's top-1
    assert (tmp_path / "out" / "Toy2.tex").read_text() == (
        "% Generated by `python -m benchsuite leaderboard` (selection: last-epoch); needs booktabs.\n"
        "% Percent: mean $\\pm$ sample std over seeds; bold: the best of the column; italics: the papers' rows;\n"
        "% $^\\dagger$: the paired 95% interval of the difference from the family reference excludes zero.\n"
        "\n"
        "% Toy2: Accuracy on the test split\n"
        "\\begin{tabular}{llrrr}\n"
        "\\toprule\n"
        "Method & Source & top-1 & worst-group & n \\\\\n"
        "\\midrule\n"
        "ERM & erm\\_toy & 62.50 $\\pm$ 12.50 & \\textbf{50.00 $\\pm$ 25.00} & 3 \\\\\n"
        "CLAD & clad\\_toy & \\textbf{87.50 $\\pm$ 12.50$^\\dagger$} & \\textbf{50.00 $\\pm$ 25.00} & 3 \\\\\n"
        "\\bottomrule\n"
        "\\end{tabular}\n"
    )
    # the markdown says the same: the interval in brackets, † on the marked cell, the differences in points
    page = (tmp_path / "out" / "Toy2.md").read_text()
    accuracy = markdown_table(page, "Accuracy")
    # half width 100 * 4.30265 * .125 / sqrt(3) = 31.052
    assert accuracy["CLAD", "clad_toy"]["top-1"] == "87.50 ± 12.50 [56.45, 118.55]†"
    assert accuracy["ERM", "erm_toy"]["top-1"] == "62.50 ± 12.50 [31.45, 93.55]"  # the reference: no mark
    difference = markdown_table(page, "Difference from the family reference")
    assert difference["CLAD", "clad_toy - ERM (erm_toy)"] == {
        "method": "CLAD", "source": "clad_toy - ERM (erm_toy)", "top-1": "+25.00 [+25.00, +25.00]†",
        # 62.10 = 100 * 4.30265 * .25 / sqrt(3)
        "worst-group": "0.00 [-62.10, +62.10]", "n": "3",
    }
    assert ("ERM", "erm_toy - ERM (erm_toy)") not in difference  # the reference is not compared with itself
    # the same records give the same bytes
    generate(tmp_path / "results", tmp_path / "again", formats="csv,tex")
    for name in ("Toy2.csv", "Toy2.tex", "Toy2.md"):
        assert (tmp_path / "again" / name).read_bytes() == (tmp_path / "out" / name).read_bytes()


def test_worst_class_rule_picks_another_epoch_than_worst_group(tmp_path):
    # validation worst-group is best at epoch 2, worst-class at epoch 3; test top-1 tells which epoch was shown
    epochs = [(1, 0.2, 0.6, 0.61), (2, 0.5, 0.4, 0.62), (3, 0.3, 0.7, 0.63), (4, 0.1, 0.1, 0.64)]
    evaluations = [
        ("train", epoch, "ERM", {"val/top1": 0.5, "val/worst_group": group, "val/worst_class": klass,
                                 "test/top1": top1, "test/worst_group": 0.1})
        for epoch, group, klass, top1 in epochs
    ]
    write_run(tmp_path / "results", "erm_toy", "r0", dataset="Toy2", method="ERM", seed=0, evaluations=evaluations)
    shown = {}
    for rule in ("best-val-worst-group", "best-val-worst-class", "last-epoch"):
        generate(tmp_path / "results", tmp_path / rule, rule, formats="md")
        shown[rule] = markdown_table((tmp_path / rule / "Toy2.md").read_text(), "Accuracy")["ERM", "erm_toy"]["top-1"]
    assert shown == {"best-val-worst-group": "62.00", "best-val-worst-class": "63.00", "last-epoch": "64.00"}


def test_an_oracle_rule_is_marked_wherever_it_is_named(tmp_path):
    _two_methods(tmp_path / "results")
    generate(tmp_path / "results", tmp_path / "out", "oracle-test-worst-group", formats="md,tex")
    oracle = "oracle-test-worst-group (ORACLE: reads test labels)"
    page = (tmp_path / "out" / "Toy2.md").read_text()
    headings = [line for line in page.splitlines() if line.startswith("## ") and "selection" in line]
    assert headings and all(oracle in line for line in headings)
    assert f"Selection: **{oracle}**" in page
    assert oracle in (tmp_path / "out" / "Toy2.tex").read_text()
    assert f"Selection rule: **{oracle}**" in (tmp_path / "out" / "README.md").read_text()


def test_unknown_format_is_one_clear_paragraph(tmp_path, capsys):
    from benchsuite.cli import main

    _two_methods(tmp_path / "results")
    code = main(["leaderboard", "--results", str(tmp_path / "results"), "--out", str(tmp_path / "out"),
                 "--format", "md,xlsx"])
    assert code == 2
    assert "unknown format 'xlsx'" in capsys.readouterr().err


def test_plot_axes_fit_the_points_with_a_margin_and_keep_the_diagonal():
    from benchsuite.leaderboard.plots import fitted_limits, keep_diagonal

    # points from 80 to 97: a margin of a tenth of the range (1.7) on each side, not the fixed 0-100 of old
    assert fitted_limits([80.0, 97.0, 90.0]) == pytest.approx((78.3, 98.7))
    assert fitted_limits([50.0, 52.0]) == pytest.approx((45.0, 57.0))  # a range under 10 points is widened
    assert fitted_limits([0.0, 100.0]) == (-1.0, 101.0)  # never past what an accuracy can be
    # debiased 30-67 against biased 78-99: y stretched up to 78 + 2.1 so that y = x crosses the corner
    assert keep_diagonal((78.0, 99.0), (30.0, 67.0)) == pytest.approx((30.0, 80.1))
    assert keep_diagonal((0.0, 50.0), (10.0, 60.0)) == (10.0, 60.0)  # already crossed: unchanged


def _evaluations(rows):
    """The index's evaluations table from (run, seed, epoch, last, val/top1, test/top1) tuples of one entry."""
    columns = {name: [] for name in (*EVAL_SCHEMA, "val/top1", "test/top1")}
    for line, (run, seed, epoch, last, val, test) in enumerate(rows):
        values = dict(run=run, line=line, stage="train", epoch=epoch, row="ERM", dataset="D", experiment="erm_d",
                      setting="", seed=seed, rerun=None, last=last, **{"val/top1": val, "test/top1": test})
        for name in columns:
            columns[name].append(values[name])
    return pl.LazyFrame(columns, schema={**EVAL_SCHEMA, "val/top1": pl.Float64, "test/top1": pl.Float64})


def test_best_validation_picks_each_runs_own_best_epoch_not_the_entrys_best():
    # run a (seed 1) peaks at epoch 2 (val 0.8), run b (seed 0) at epoch 1 (val 0.7, below a's best): both runs
    # count, each at its own peak, listed in seed order
    rows = [("a", 1, 1, False, 0.6, 0.50), ("a", 1, 2, False, 0.8, 0.60), ("a", 1, 3, True, 0.7, 0.70),
            ("b", 0, 1, False, 0.7, 0.40), ("b", 0, 2, True, 0.5, 0.90)]
    chosen = select(_evaluations(rows), rule_named("best-val-average"))
    assert chosen.runs.select("run", "epoch").rows() == [("b", 1), ("a", 2)]
    assert chosen.entries["test/top1:mean"].item() == pytest.approx(0.5)
    assert chosen.unselectable.height == 0
    last = select(_evaluations(rows), rule_named("last-epoch"))
    assert last.runs.select("run", "epoch").rows() == [("b", 2), ("a", 3)]


def test_the_family_reference_is_the_one_whose_experiment_shares_the_longest_ending():
    assert compare.shared_ending("jtt_waterbirds", "erm_waterbirds") == len("_waterbirds")
    assert compare.shared_ending("waterbirds", "erm_waterbirds") == len("waterbirds")  # one ends the other
    assert compare.shared_ending("abc", "abd") == 0
    entry = {"row": "JTT", "family": "supervised", "experiment": "jtt_celeba_blond_male"}
    references = [{"row": "ERM", "experiment": name} for name in
                  ("erm_celeba_attractive_male", "erm_celeba_blond_male", "erm_waterbirds")]
    assert compare.reference_of(entry, references)["experiment"] == "erm_celeba_blond_male"
    assert compare.reference_of({**entry, "row": "ERM"}, references) is None  # a reference has none
