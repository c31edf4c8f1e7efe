"""The leaderboard from hand-written records: every expected number below is worked out by hand from the
fixture's values (mean, sample std with ddof = 1), broken records are skipped and named, the papers' rows
appear on the paper's dataset, and each selection rule picks the evaluation it promises."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchsuite.cli import main
from benchsuite.leaderboard.build import generate
from tests.leaderboard_records import markdown_table, write_run


def _toy10(test_top1, top5, worst, mixed_rand, only_fg, only_bg_t):
    return {
        "val/top1": test_top1, "val/worst_group": worst, "test/top1": test_top1, "test/top5": top5,
        "test/worst_group": worst, "test/group/0": 1.0, "mixed_same/top1": 0.9, "mixed_rand/top1": mixed_rand,
        "only_fg/top1": only_fg, "only_bg_t/top1": only_bg_t, "bg_gap": round(0.9 - mixed_rand, 10),
        "biased": 0.9, "debiased": mixed_rand,
    }


_EARLY = {key: 0.1 for key in _toy10(0, 0, 0, 0, 0, 0)}  # epoch 1: must not show under last-epoch


def _golden(results: Path) -> None:
    for seed, metrics in enumerate([
        _toy10(0.70, 0.95, 0.10, 0.5, 0.4, 0.8),
        _toy10(0.80, 0.97, 0.20, 0.6, 0.5, 0.7),
        _toy10(0.90, 0.99, 0.60, 0.7, 0.6, 0.6),
    ]):
        write_run(results, "erm_toy", f"erm{seed}", dataset="Toy10", method="ERM", seed=seed,
                  evaluations=[("train", 1, "ERM", _EARLY), ("train", 2, "ERM", metrics)],
                  wall_time_s=(10.0, 40.0, 20.0)[seed], peak_memory={"cpu_rss_mib": (100.0, 300.0, 200.0)[seed]})
    good = write_run(results, "erm_toy", "truncated", dataset="Toy10", method="ERM", seed=7,
                     evaluations=[("train", 1, "ERM", _toy10(0, 0, 0, 0, 0, 0))])
    (good / "record.json").write_text((good / "record.json").read_text()[:100])
    bad = results / "erm_toy" / "notjson"
    bad.mkdir()
    (bad / "record.json").write_text("this is not json\n")
    for run_id, overrides in [
        ("future", {"schema_version": 2}),
        ("running", {"status": "running"}),
        ("failed", {"status": "failed", "error": "NonFiniteLoss: the loss became nan"}),
    ]:
        write_run(results, "erm_toy", run_id, dataset="Toy10", method="ERM", seed=9,
                  evaluations=[("train", 1, "ERM", _toy10(0, 0, 0, 0, 0, 0))], **overrides)
    unfinished = results / "erm_toy" / "unfinished"
    unfinished.mkdir()
    (unfinished / "metrics.jsonl").write_text(json.dumps({"row": "ERM", "epoch": 1, "test/top1": 0.0}) + "\n")

    for seed, (top1, worst, biased, debiased) in enumerate([(0.75, 0.30, 0.95, 0.55), (0.85, 0.40, 0.97, 0.65)]):
        metrics = {"val/top1": top1, "val/worst_group": worst, "test/top1": top1, "test/worst_group": worst,
                   "biased": biased, "debiased": debiased}
        write_run(results, "simclr_wb", f"simclr{seed}", dataset="Waterbirds", method="SimCLR", seed=seed,
                  evaluations=[("train", 3, "SimCLR", metrics)])
    write_run(results, "wcl_wb", "wcl0", dataset="Waterbirds", method="WCL", seed=0, evaluations=[
        ("train", 3, "WCL (E_d)", {"test/top1": 0.70, "test/worst_group": 0.20, "biased": 0.8, "debiased": 0.6}),
        ("train", 3, "WCL (E_b)", {"test/top1": 0.60, "test/worst_group": 0.10, "biased": 0.9, "debiased": 0.3}),
    ])


@pytest.fixture
def golden(tmp_path: Path) -> Path:
    _golden(tmp_path / "results")
    return tmp_path


def test_golden_tables_from_hand_computed_values(golden):
    summary = generate(golden / "results", golden / "leaderboards")
    out = golden / "leaderboards"
    assert summary.files == [
        "README.md", "Toy10.csv", "Toy10.md", "Toy10.png", "Toy10.tex",
        "Waterbirds.csv", "Waterbirds.md", "Waterbirds.png", "Waterbirds.tex",
    ]

    toy = (out / "Toy10.md").read_text()
    accuracy = markdown_table(toy, "Accuracy")
    # 95% intervals: t(0.975, 2) = 4.3027 (a t table), half width 4.3027 * std / sqrt(3) = 2.4841 * std
    assert accuracy["ERM", "erm_toy"] == {
        "method": "ERM", "source": "erm_toy", "top-1": "80.00 ± 10.00 [55.16, 104.84]",
        "top-5": "97.00 ± 2.00 [92.03, 101.97]",
        # worst-group .1, .2, .6: mean .3; deviations -.2, -.1, .3: var (.04 + .01 + .09) / 2 = .07; std .26458,
        # half width 2.4841 * 26.458 = 65.72
        "worst-group": "30.00 ± 26.46 [-35.72, 95.72]",
        # wall times 10, 40, 20 s: median 20; peak host 100, 300, 200 MiB: the largest; no GPU recorded: no column
        "time/run (s)": "20.0", "peak host (MiB)": "300", "n": "3",
    }
    background = markdown_table(toy, "Background benchmark")
    assert background["ERM", "erm_toy"] == {
        "method": "ERM", "source": "erm_toy", "Original": "80.00 ± 10.00 [55.16, 104.84]",
        "Only-FG": "50.00 ± 10.00 [25.16, 74.84]", "Mixed-Same": "90.00 ± 0.00 [90.00, 90.00]",
        "Mixed-Rand": "60.00 ± 10.00 [35.16, 84.84]", "Only-BG-T": "70.00 ± 10.00 [45.16, 94.84]",
        "BG-gap": "30.00 ± 10.00 [5.16, 54.84]", "n": "3",
    }
    assert "No-FG" not in toy  # no run measured it: no column
    assert "(selection: last-epoch)" in toy.split("## Accuracy", 1)[1].splitlines()[0]
    assert "| reported by the paper" not in toy and "No paper rows" in toy  # no paper reports on Toy10

    birds = (out / "Waterbirds.md").read_text()
    accuracy = markdown_table(birds, "Accuracy")
    assert "top-5" not in next(iter(accuracy.values()))  # two classes: no top-5 column
    # .75 and .85: mean .8, sample std sqrt(2 * .05^2 / 1) = .0707; t(0.975, 1) = 12.706, half width
    # 12.706 * 7.0711 / sqrt(2) = 63.53
    assert accuracy["SimCLR", "simclr_wb"] == {
        "method": "SimCLR", "source": "simclr_wb", "top-1": "80.00 ± 7.07 [16.47, 143.53]",
        "worst-group": "35.00 ± 7.07 [-28.53, 98.53]", "n": "2"
    }
    assert accuracy["WCL (E_d)", "wcl_wb"]["top-1"] == "70.00"  # n = 1: no ±
    assert accuracy["WCL (E_b)", "wcl_wb"]["worst-group"] == "10.00"
    wcl_paper = "reported by the paper: Jang and Wang, CVPR 2023 (WCL), Table 2"
    assert accuracy["SimCLR", wcl_paper]["top-1"] == "77.80 ± 1.5"
    assert accuracy["SimCLR", wcl_paper]["worst-group"] == "0.00"
    assert accuracy["WCL (E_d)", wcl_paper]["worst-group"] == "31.58 ± 3.5"
    assert accuracy["ERM", "reported by the paper: Liu et al., ICML 2021 (JTT)"]["top-1"] == "97.3"
    order = [method for method, _ in accuracy]
    assert order.index("SimCLR") < order.index("WCL (E_d)") < order.index("WCL (E_b)")
    bias = markdown_table(birds, "Biased and debiased")
    assert bias["SimCLR", "simclr_wb"]["biased"] == "96.00 ± 1.41 [83.29, 108.71]"
    assert bias["SimCLR", "simclr_wb"]["debiased"] == "60.00 ± 7.07 [-3.53, 123.53]"
    # WCL is self-supervised: compared with SimCLR on seed 0 (.70 - .75 = -5 points), one pair: no interval
    difference = markdown_table(birds, "Difference from the family reference")
    assert difference["WCL (E_d)", "wcl_wb - SimCLR (simclr_wb)"]["top-1"] == "-5.00"
    assert difference["WCL (E_b)", "wcl_wb - SimCLR (simclr_wb)"]["n"] == "1"
    assert "Background benchmark" not in birds and "No paper rows" not in birds
    assert "weights the groups by their training proportions" in birds

    readme = (out / "README.md").read_text()
    assert "python -m benchsuite leaderboard" in readme and "**last-epoch**" in readme
    assert "sample standard deviation (ddof = 1)" in readme
    assert "12 run folders: 6 used, 6 skipped." in readme
    assert "best-val-worst-class | each run's evaluation" in readme  # the rules and the labels they read
    assert "oracle-test-worst-group (ORACLE: reads test labels)" in readme
    assert "[Toy10.md](Toy10.md)" in readme and "[Waterbirds.png](Waterbirds.png)" in readme
    assert (out / "Toy10.png").read_bytes().startswith(b"\x89PNG")


def test_the_command_loads_neither_torch_nor_the_built_ins(golden):
    """`python -m benchsuite leaderboard` reads records only: importing torch would cost it seconds."""
    script = (
        "import sys; from benchsuite.cli import main; "
        f"code = main(['leaderboard', '--results', {str(golden / 'results')!r}, '--out', {str(golden / 'out')!r}]); "
        "print(code, sorted(m for m in ('torch', 'torchvision', 'benchsuite.methods') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines()[-1] == "0 []", done.stdout + done.stderr


def test_broken_records_are_skipped_and_named(golden, capsys):
    results, out = golden / "results", golden / "leaderboards"
    assert main(["leaderboard", "--results", str(results), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "12 run folders" in printed and "6 used, 6 skipped" in printed
    reasons = {
        "truncated": "not JSON", "notjson": "not JSON", "future": "unknown schema_version 2",
        "running": "still running", "failed": "failed: NonFiniteLoss: the loss became nan",
        "unfinished": "no record.json",
    }
    lines = {line.split(": ", 1)[0]: line for line in printed.splitlines() if line.startswith("  skipped ")}
    for run_id, reason in reasons.items():
        line = lines[f"  skipped {results / 'erm_toy' / run_id}"]
        assert reason in line, line
    assert "Wrote 9 files" in printed


def test_empty_or_missing_results_folder_is_one_clear_paragraph(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    for folder in ("empty", "missing"):
        status = main(["leaderboard", "--results", str(tmp_path / folder), "--out", str(tmp_path / "out")])
        error = capsys.readouterr().err
        assert status == 2 and error.startswith("error: ") and error.count("\n") == 1
        assert str(tmp_path / folder) in error and "record.json" in error
    assert not (tmp_path / "out").exists()


def test_only_broken_records_is_a_clear_message(tmp_path, capsys):
    write_run(tmp_path / "results", "x", "a", dataset="Toy", method="ERM", seed=0,
              evaluations=[("train", 1, "ERM", {"test/top1": 0.5})], status="running")
    assert main(["leaderboard", "--results", str(tmp_path / "results"), "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert "none usable" in error and "still running" in error


def test_refuses_to_replace_a_folder_it_did_not_write(golden, capsys):
    out = golden / "mine"
    out.mkdir()
    (out / "notes.md").write_text("my notes\n")
    assert main(["leaderboard", "--results", str(golden / "results"), "--out", str(out)]) == 2
    assert "was not written by" in capsys.readouterr().err
    assert (out / "notes.md").read_text() == "my notes\n"


# --- selection rules -------------------------------------------------------------------------------------------

def _scores(val_top1: float, val_worst: float, test_top1: float) -> dict[str, float]:
    return {"val/top1": val_top1, "val/worst_group": val_worst, "test/top1": test_top1, "test/worst_group": 0.1}


def _selection_fixture(results: Path) -> None:
    write_run(results, "jtt_toy", "jtt0", dataset="Toy2", method="JTT", seed=0, evaluations=[
        # stage 1 of JTT is plain ERM: its evaluations are never the method's, however good on validation
        ("identification", 1, "JTT", _scores(0.99, 0.99, 0.99)),
        ("train", 1, "JTT", _scores(0.90, 0.20, 0.61)),
        ("train", 2, "JTT", _scores(0.70, 0.50, 0.72)),
        ("train", 3, "JTT", _scores(0.95, 0.95, 0.44)),  # logged, then the run was interrupted and resumed:
        ("train", 3, "JTT", _scores(0.80, 0.30, 0.93)),  # this later line of epoch 3 replaces it
    ])
    for lr, seed, val, test in [("0.1", 0, 0.80, 0.60), ("0.1", 1, 0.80, 0.62), ("0.01", 0, 0.70, 0.90),
                                ("0.01", 1, 0.72, 0.92)]:
        write_run(results, "erm_sweep", f"lr{lr}-{seed}", dataset="Toy2", method="ERM", seed=seed,
                  setting=f"Trainer.lr = {lr}\n", evaluations=[("train", 1, "ERM", _scores(val, val, test))])
    write_run(results, "noval_toy", "noval0", dataset="Toy2", method="SimCLR", seed=0,
              evaluations=[("train", 1, "SimCLR", {"test/top1": 0.5, "test/worst_group": 0.25})])


@pytest.mark.parametrize(
    ("rule", "jtt_top1"),
    [("last-epoch", "93.00"), ("best-val-worst-group", "72.00"), ("best-val-average", "61.00")],
)
def test_selection_rules_pick_their_epochs(tmp_path, rule, jtt_top1):
    _selection_fixture(tmp_path / "results")
    generate(tmp_path / "results", tmp_path / rule, selection=rule)
    page = (tmp_path / rule / "Toy2.md").read_text()
    table = markdown_table(page, "Accuracy")
    assert table["JTT", "jtt_toy"]["top-1"] == jtt_top1
    assert f"(selection: {rule})" in page
    assert f"**{rule}**" in (tmp_path / rule / "README.md").read_text()
    if rule == "last-epoch":
        assert table["SimCLR", "noval_toy"]["top-1"] == "50.00"
    else:  # no validation score: left out, and the page says so
        assert ("SimCLR", "noval_toy") not in table
        assert f"1 run(s) of SimCLR (noval_toy) had no {rule.replace('best-', '').split('-')[0]}/" in page


def test_setting_is_chosen_on_validation_then_seeds_averaged(tmp_path):
    _selection_fixture(tmp_path / "results")
    generate(tmp_path / "results", tmp_path / "out")
    table = markdown_table((tmp_path / "out" / "Toy2.md").read_text(), "Accuracy")
    (source, row), = [(source, row) for (method, source), row in table.items() if method == "ERM"]
    # lr 0.1 has the better validation top-1 (.80 against .71) although lr 0.01 tests better (.91 against .61)
    assert row["top-1"] == "61.00 ± 1.41 [48.29, 73.71]" and row["n"] == "2"
    assert source == "erm_sweep, `Trainer.lr = 0.1`, chosen by last-epoch among 2 settings"


def test_unknown_rule_is_rejected(tmp_path):
    with pytest.raises(SystemExit):
        main(["leaderboard", "--results", str(tmp_path), "--selection", "best-test"])


# --- the papers' rows -------------------------------------------------------------------------------------------

def test_reported_numbers_parse_and_are_consistent():
    from benchsuite.leaderboard.reported import REPORTED, reported_for, value_of

    assert value_of("92.71 ± 0.3") == (92.71, 0.3) and value_of("0.00") == (0.0, None)
    for table in REPORTED:
        for _, values in table.rows:
            for printed in values.values():
                value_of(printed)
    cifar10, = reported_for("CIFAR10")
    assert dict(cifar10.rows)["WCL (E_d)"] == {"test/top1": "92.71 ± 0.3", "test/top5": "99.84 ± 0.1",
                                              "test/worst_group": "83.3 ± 0.8"}
    for table in reported_for("ImageNet9"):  # BG-gap = Mixed-Same - Mixed-Rand, to the printed precision
        for label, values in table.rows:
            gap = value_of(values["mixed_same/top1"])[0] - value_of(values["mixed_rand/top1"])[0]
            assert abs(gap - value_of(values["bg_gap"])[0]) < 0.051, label


def test_background_table_shows_the_papers_rows_on_their_dataset(tmp_path, drawn_figures):
    metrics = {"test/top1": 0.9, "only_fg/top1": 0.8, "mixed_same/top1": 0.85, "mixed_rand/top1": 0.75,
               "only_bg_t/top1": 0.4, "bg_gap": 0.1, "biased": 0.85, "debiased": 0.75, "test/worst_group": 0.5}
    write_run(tmp_path / "results", "erm_in9", "a", dataset="ImageNet9", method="ERM", seed=0,
              evaluations=[("train", 1, "ERM", metrics)])
    generate(tmp_path / "results", tmp_path / "out")
    table = markdown_table((tmp_path / "out" / "ImageNet9.md").read_text(), "Background benchmark")
    clad = "reported by the paper: Wang et al., arXiv 2210.02748 (CLAD), authors' README"
    assert table["ERM", clad] == {
        "method": "ERM", "source": clad, "Original": "96.2", "Only-FG": "86.4", "Mixed-Same": "88.2",
        "Mixed-Rand": "75.1", "Only-BG-T": "44.3", "BG-gap": "13.1", "n": "",
    }
    assert table["CLAD+", clad]["Mixed-Rand"] == "89.0"
    assert table["ERM", "erm_in9"]["Mixed-Rand"] == "75.00"
    challenge = table["ERM", "reported by the paper: Xiao et al., ICLR 2021 (Background Challenge), README"]
    assert challenge["Only-FG"] == "-" and challenge["BG-gap"] == "7.3"
    assert (tmp_path / "out" / "ImageNet9.png").exists()
    # the plot: the measured run's point, and the papers' (Mixed-Same, Mixed-Rand) as hollow squares
    plot = _bias_plot(drawn_figures["ImageNet9.png"])
    assert [(entry["label"], entry["point"]) for entry in plot["measured"]] == [("ERM, n=1", (85.0, 75.0))]
    assert plot["papers"] == [
        ("ERM (Wang et al.)", (88.2, 75.1)), ("CLAD (Wang et al.)", (91.0, 88.8)),
        ("CLAD+ (Wang et al.)", (90.6, 89.0)), ("ERM (Xiao et al.)", (86.2, 78.9)),
    ]
    assert len(set(plot["colours"])) == 5
    assert plot["legend"] == ["measured: mean ± std, seeds faint", "reported by the paper", "debiased = biased"]


def test_cells_are_percent_with_spread_and_count():
    from benchsuite.leaderboard.tables import percent

    assert percent(0.5, 0.1, 3, 3) == "50.00 ± 10.00"
    assert percent(0.5, 0.1, 2, 3) == "50.00 ± 10.00 (n=2)"  # the metric is missing from one of three runs
    assert percent(0.5, None, 1, 1) == "50.00"
    assert percent(-0.000001, None, 1, 1) == "0.00"  # not "-0.00"
    assert percent(-0.0123, 0.004, 2, 2) == "-1.23 ± 0.40"  # a negative BG-gap is kept
    assert percent(None, None, 0, 3) == "-"


def test_seeds_of_one_command_stay_one_setting_when_the_suite_gains_a_parameter(tmp_path):
    # seed 1 ran after the suite gained a parameter: its operative config lists one more default line, but
    # its command (files and bindings without the seed) is the same, so both seeds average into one setting
    results = tmp_path / "results"
    for seed, extra in ((0, ""), (1, "Trainer.compile = False\n")):
        folder = write_run(results, "erm_toy", f"erm{seed}", dataset="Toy2", method="ERM", seed=seed,
                           evaluations=[("train", 1, "ERM", _scores(0.8, 0.8, 0.6 + seed / 10))])
        record = json.loads((folder / "record.json").read_text())
        record["gin_config"] += extra
        (folder / "record.json").write_text(json.dumps(record))
    generate(results, tmp_path / "out")
    row = markdown_table((tmp_path / "out" / "Toy2.md").read_text(), "Accuracy")["ERM", "erm_toy"]
    # t(0.975, 1) = 12.706: half width 12.706 * 7.07 / sqrt(2) = 63.53
    assert (row["top-1"], row["n"]) == ("65.00 ± 7.07 [1.47, 128.53]", "2")


def test_a_full_disk_while_writing_the_pages_is_one_paragraph_and_the_old_pages_stay(golden, capsys, monkeypatch):
    import errno

    from benchsuite.leaderboard import build

    results, out = golden / "results", golden / "leaderboards"
    assert main(["leaderboard", "--results", str(results), "--out", str(out)]) == 0
    before = {path.name: path.read_bytes() for path in out.iterdir()}
    capsys.readouterr()

    def full_disk(folder, *args):
        raise OSError(errno.ENOSPC, "No space left on device", str(folder / "Toy10.png"))

    monkeypatch.setattr(build, "_write_pages", full_disk)
    assert main(["leaderboard", "--results", str(results), "--out", str(out)]) == 1
    error = capsys.readouterr().err
    assert error.startswith("error: Could not write ") and "Toy10.png: No space left on device" in error, error
    assert error.count("\n") == 1  # one paragraph, no traceback
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before
    assert not [path for path in golden.iterdir() if path.name.startswith(".leaderboards.")]  # no staging left


def _bias_plot(figure):
    """What a bias plot shows: per measured entry (label, mean point, x and y error bar ends, seed dots, colour),
    per paper row (label, point, colour), and the axes."""
    from matplotlib.collections import PathCollection
    from matplotlib.colors import to_rgb

    assert len(figure.axes) == 1
    axes = figure.axes[0]
    texts = [(text.get_text(), tuple(float(v) for v in text.xy), to_rgb(text.get_color())) for text in axes.texts]
    scatters = [c for c in axes.collections if isinstance(c, PathCollection)]
    dots = [c for c in scatters if len(c.get_facecolors())]  # the seeds, filled
    squares = [c for c in scatters if not len(c.get_facecolors())]  # the papers' points, hollow
    measured = []
    for container, seeds in zip(axes.containers, dots, strict=True):
        line, _, (x_bar, y_bar) = container.lines
        measured.append({
            "point": (float(line.get_xdata()[0]), float(line.get_ydata()[0])),
            "x_bar": x_bar.get_segments()[0].tolist(), "y_bar": y_bar.get_segments()[0].tolist(),
            "seeds": sorted(map(tuple, seeds.get_offsets().tolist())),
            "colour": to_rgb(line.get_color()), "seed_colour": to_rgb(seeds.get_facecolors()[0]),
        })
    papers = [(tuple(c.get_offsets().tolist()[0]), to_rgb(c.get_edgecolors()[0]), c.get_paths()) for c in squares]
    assert len(texts) == len(measured) + len(papers)
    for entry, (label, at, colour) in zip(measured, texts, strict=False):
        entry["label"] = label
        assert at == entry["point"] and colour == entry["colour"] == entry["seed_colour"]  # label beside its point
    for (point, colour, _), (_, at, text_colour) in zip(papers, texts[len(measured):], strict=True):
        assert at == point and text_colour == colour
    diagonal = [line for line in axes.lines if type(line).__name__ == "AxLine"]
    assert len(diagonal) == 1 and list(diagonal[0].get_xdata()) == [0, 1] == list(diagonal[0].get_ydata())
    return {
        "measured": measured, "papers": [(label, point) for (label, point, _), _ in
                                         zip(texts[len(measured):], papers, strict=True)],
        "colours": [entry["colour"] for entry in measured] + [colour for _, colour, _ in papers],
        "title": axes.get_title(), "labels": (axes.get_xlabel(), axes.get_ylabel()),
        "limits": (axes.get_xlim(), axes.get_ylim()),
        "legend": [text.get_text() for text in axes.get_legend().get_texts()],
    }


def test_the_bias_plots_show_each_entry_its_seeds_and_its_spread(golden, drawn_figures):
    generate(golden / "results", golden / "leaderboards")
    assert set(drawn_figures) == {"Toy10.png", "Waterbirds.png"}

    toy = _bias_plot(drawn_figures["Toy10.png"])
    # ERM: biased 90 on every seed, debiased (Mixed-Rand) 50, 60, 70: mean 60, std 10
    assert toy["measured"] == [{
        "label": "ERM, n=3", "point": (90.0, 60.0), "x_bar": [[90.0, 60.0], [90.0, 60.0]],
        "y_bar": [[90.0, 50.0], [90.0, 70.0]], "seeds": [(90.0, 50.0), (90.0, 60.0), (90.0, 70.0)],
        "colour": toy["colours"][0], "seed_colour": toy["colours"][0],
    }]
    assert toy["papers"] == []
    assert toy["title"] == "Toy10\ndebiased vs biased accuracy (selection: last-epoch)"
    assert toy["labels"] == ("biased accuracy (%)", "debiased accuracy (%)")
    # x: all 90, widened to 10 points around it, plus 10 %: 84..96; y: 50..70 plus 10 %: 48..72, the top raised
    # to 84 + 0.1 * 12 = 85.2 so that the diagonal crosses the plot
    (x_low, x_high), (y_low, y_high) = toy["limits"]
    assert (x_low, x_high, y_low) == pytest.approx((84.0, 96.0, 48.0)) and y_high == pytest.approx(85.2)
    assert toy["legend"] == ["measured: mean ± std, seeds faint", "debiased = biased"]

    birds = _bias_plot(drawn_figures["Waterbirds.png"])
    spread = 100 * 0.02 / 2**0.5, 100 * 0.1 / 2**0.5  # sample std of (95, 97) and of (55, 65)
    simclr, wcl_d, wcl_b = birds["measured"]
    assert (simclr["label"], wcl_d["label"], wcl_b["label"]) == ("SimCLR, n=2", "WCL (E_d), n=1", "WCL (E_b), n=1")
    assert simclr["point"] == pytest.approx((96.0, 60.0))
    assert simclr["x_bar"] == [pytest.approx([96 - spread[0], 60.0]), pytest.approx([96 + spread[0], 60.0])]
    assert simclr["y_bar"] == [pytest.approx([96.0, 60 - spread[1]]), pytest.approx([96.0, 60 + spread[1]])]
    assert simclr["seeds"] == [pytest.approx((95.0, 55.0)), pytest.approx((97.0, 65.0))]
    assert (wcl_d["point"], wcl_d["seeds"]) == ((80.0, 60.0), [(80.0, 60.0)])  # each row of WCL's run: its own
    assert (wcl_b["point"], wcl_b["seeds"]) == ((90.0, 30.0), [(90.0, 30.0)])
    assert wcl_b["y_bar"] == [[90.0, 30.0], [90.0, 30.0]]  # one seed: no spread
    assert len(set(birds["colours"])) == 3 and birds["papers"] == []  # WCL's paper reports no biased/debiased
    (x_low, x_high), (y_low, y_high) = birds["limits"]
    for entry in birds["measured"]:
        for x, y in [entry["point"], *entry["seeds"], *entry["x_bar"], *entry["y_bar"]]:
            assert x_low < x < x_high and y_low < y < y_high
    assert max(x_low, y_low) < min(x_high, y_high)  # the diagonal crosses the plot
