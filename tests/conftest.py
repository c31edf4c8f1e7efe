"""Shared fixtures: a private dataset cache and the bindings that shrink any experiment to a smoke run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
GIN = REPO / "gin"

#: Bindings that make any experiment on an embedded benchmark run in seconds: 16 px images, a few hundred
#: of them, one epoch of the narrow CNN started from a pretraining of one epoch on 64 images, a two-epoch probe.
TINY = [
    "SmallCNN.width = 8",
    "EmbeddedPretraining.images = 64",
    "EmbeddedPretraining.epochs = 1",
    "EmbeddedPretraining.image_size = 16",
    "EmbeddedPretraining.batch_size = 32",
    "Trainer.epochs = 1",
    "Trainer.batch_size = 32",
    "Trainer.progress = False",
    "LinearProbe.epochs = 2",
]
TINY_DATA = {
    name: [f"{name}.image_size = 16", f"{name}.train_size = 128", f"{name}.val_size = 64", f"{name}.test_size = 64"]
    for name in ("SyntheticBackgrounds", "SyntheticWaterbirds", "SyntheticTexture")
}


@pytest.fixture(autouse=True, scope="session")
def _dataset_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    os.environ.setdefault("BENCHSUITE_CACHE", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(autouse=True, scope="session")
def _components_loaded() -> None:
    """The tests are an entry point like the command line: they load the built-ins and plugins once, in the
    one place that does (experiment/components.py); registry lookups and the gin parse load nothing."""
    from benchsuite.experiment import components

    components.load()


@pytest.fixture
def drawn_figures(monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """File name -> the matplotlib Figure saved under it while the test runs (the file is still written), so
    that a test can check what a plot shows and not only that a PNG exists."""
    import matplotlib.figure

    figures: dict[str, object] = {}
    save = matplotlib.figure.Figure.savefig

    def keep(self, path, *args, **kwargs):
        figures[Path(path).name] = self
        return save(self, path, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", keep)
    return figures
