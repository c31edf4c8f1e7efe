"""Saliency maps: the gradient against independent computations, and the command on finished tiny runs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from benchsuite import records
from benchsuite.cli import main
from benchsuite.cli.saliency import load_run, saliency_maps
from benchsuite.evaluation import preprocess
from benchsuite.evaluation.metrics import split_metrics
from benchsuite.experiment.execute import execute
from tests.conftest import GIN, TINY, TINY_DATA


def test_linear_model_saliency_is_the_absolute_weight_row_of_the_label() -> None:
    torch.manual_seed(0)
    linear = nn.Linear(3 * 4 * 5, 6)
    images, labels = torch.rand(7, 3, 4, 5), torch.randint(6, (7,))
    maps = saliency_maps(lambda x: linear(x.flatten(1)), images, labels)
    # d (W x + b)_y / d x = W_y, whatever x
    expected = linear.weight.detach()[labels].view(7, 3, 4, 5).abs().amax(dim=1)
    torch.testing.assert_close(maps, expected)


def test_nonlinear_model_saliency_matches_central_differences_in_float64() -> None:
    torch.manual_seed(1)
    model = nn.Sequential(
        nn.Conv2d(2, 3, 3, padding=1), nn.Tanh(), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(12, 4)
    ).double()
    images, labels = torch.rand(3, 2, 4, 4, dtype=torch.float64), torch.tensor([0, 3, 1])
    maps = saliency_maps(model, images, labels)
    h = 1e-6
    expected = torch.zeros(3, 2, 4, 4, dtype=torch.float64)
    with torch.no_grad():
        for b in range(3):
            for c, i, j in torch.cartesian_prod(torch.arange(2), torch.arange(4), torch.arange(4)).tolist():
                plus, minus = images[b : b + 1].clone(), images[b : b + 1].clone()
                plus[0, c, i, j] += h
                minus[0, c, i, j] -= h
                y = labels[b]
                expected[b, c, i, j] = (model(plus)[0, y] - model(minus)[0, y]) / (2 * h)
    torch.testing.assert_close(maps, expected.abs().amax(dim=1), rtol=1e-6, atol=1e-9)


def _tiny_run(tmp_path, experiment: str):
    return execute([GIN / f"{experiment}.gin"], [*TINY, *TINY_DATA["SyntheticBackgrounds"]], results=tmp_path)


def test_command_rebuilds_runs_and_writes_the_grid(tmp_path, drawn_figures) -> None:
    erm, clad = _tiny_run(tmp_path, "erm_synthetic_backgrounds"), _tiny_run(tmp_path, "clad_synthetic_backgrounds")
    loaded = load_run(clad.run_dir)
    # the rebuilt model is the trained one: its test accuracy is the record's
    test = loaded.dataset.split("test")
    with torch.no_grad():
        logits = loaded.method.logits(preprocess(test.images, loaded.dataset))
    metrics = split_metrics({"test": (logits, test.labels, test.groups)}, loaded.dataset)
    assert metrics["test/top1"] == pytest.approx(clad.record["metrics"]["CLAD"]["test/top1"])

    output = tmp_path / "grid.png"
    code = main(["saliency", str(erm.run_dir), str(clad.run_dir), "--output", str(output), "--images", "3",
                 "--split", "mixed_rand"])
    assert code == 0 and output.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # what the grid shows: a row per image (the first 3 of Mixed-Rand), the image, then each run's saliency of
    # it for its label, |d logit_y / d x| at the [0, 1] image maxed over channels, taken here by autograd
    assert loaded.dataset.mean == loaded.dataset.std == (0.5, 0.5, 0.5)
    split = loaded.dataset.split("mixed_rand")
    images, labels = split.images[:3], split.labels[:3]
    maps = []
    for run in (erm, clad):
        method = load_run(run.run_dir).method
        x = (images.float() / 255).requires_grad_(True)
        logits = method.logits((x - 0.5) / 0.5)  # SyntheticBackgrounds' mean and std: 0.5 per channel
        (gradient,) = torch.autograd.grad(logits[torch.arange(3), labels].sum(), x)
        maps.append(gradient.abs().amax(dim=1))
    assert not torch.allclose(maps[0], maps[1])  # the two runs' maps differ: a swapped column would show
    panels = {}
    for axis in drawn_figures["grid.png"].axes:
        spec = axis.get_subplotspec()
        (image,) = axis.get_images()
        panels[spec.rowspan.start, spec.colspan.start] = (np.asarray(image.get_array()), axis.get_title())
    assert set(panels) == {(row, column) for row in range(3) for column in range(3)}
    for row in range(3):
        array, title = panels[row, 0]
        assert np.array_equal(array, images[row].permute(1, 2, 0).numpy())
        assert title == f"mixed_rand #{row}, label {int(labels[row])}"
        for column, (run, row_label) in enumerate([(erm, "ERM"), (clad, "CLAD")], start=1):
            array, title = panels[row, column]
            np.testing.assert_allclose(array, maps[column - 1][row].numpy(), rtol=1e-5, atol=1e-7)
            assert title == (f"{row_label}, seed {run.record['seed']}\nrun {run.run_dir.name}" if row == 0 else "")


def test_command_refuses_runs_it_cannot_explain(tmp_path, capsys) -> None:
    simclr = _tiny_run(tmp_path, "simclr_synthetic_backgrounds")
    assert main(["saliency", str(simclr.run_dir), "--output", str(tmp_path / "s.png")]) == 2
    assert "no classifier of its own" in capsys.readouterr().err
    erm = _tiny_run(tmp_path, "erm_synthetic_backgrounds")
    (erm.run_dir / records.CHECKPOINT).unlink()
    assert main(["saliency", str(erm.run_dir), "--output", str(tmp_path / "e.png")]) == 2
    assert "has no checkpoint.pt" in capsys.readouterr().err
    assert main(["saliency", str(tmp_path / "nowhere")]) == 2
    assert not (tmp_path / "s.png").exists() and not (tmp_path / "e.png").exists()
