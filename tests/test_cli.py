"""Bad input gives one paragraph naming the file, line or binding and the valid choices, exit status 2,
and nothing under results/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from benchsuite.cli import main
from tests.conftest import GIN, REPO, TINY, TINY_DATA


def _as_params(bindings: list[str]) -> list[str]:
    return [arg for binding in bindings for arg in ("--gin-param", binding)]


def _fails_cleanly(capsys, tmp_path: Path, argv: list[str]) -> str:
    results = tmp_path / "results"
    status = main(["run", *argv, "--results", str(results)])
    error = capsys.readouterr().err
    assert status == 2
    assert error.startswith("error: ")
    assert error.count("\n") == 1, f"not one paragraph: {error!r}"
    assert not results.exists() or not any(results.iterdir()), "bad input left output under results/"
    return error


def _write(tmp_path: Path, text: str) -> Path:
    file = tmp_path / "bad.gin"
    file.write_text(text)
    return file


def test_unknown_method_names_file_line_and_choices(capsys, tmp_path):
    bad = _write(tmp_path, f"include '{GIN}/base.gin'\ninclude '{GIN}/datasets/synthetic_backgrounds.gin'\n"
                           "run.method = @NotAMethod()\n")
    error = _fails_cleanly(capsys, tmp_path, ["--gin", str(bad)])
    assert str(bad) in error and "line 3" in error and "NotAMethod" in error
    assert "ERM" in error and "SimCLR" in error and "SyntheticBackgrounds" in error


def test_unknown_dataset_in_binding(capsys, tmp_path):
    error = _fails_cleanly(
        capsys, tmp_path, ["--gin", str(GIN / "erm_synthetic_backgrounds.gin"), "--gin-param", "run.dataset = @Nope()"]
    )
    assert "Nope" in error and "bindings" in error and "SyntheticWaterbirds" in error


def test_misspelt_parameter_lists_the_valid_ones(capsys, tmp_path):
    error = _fails_cleanly(
        capsys, tmp_path, ["--gin", str(GIN / "erm_synthetic_backgrounds.gin"), "--gin-param", "Trainer.epoch = 3"]
    )
    assert "'epoch'" in error and "epochs" in error and "batch_size" in error


def test_malformed_gin_file(capsys, tmp_path):
    bad = _write(tmp_path, "run.seed = (3\n")
    error = _fails_cleanly(capsys, tmp_path, ["--gin", str(bad)])
    assert str(bad) in error


def test_missing_gin_file(capsys, tmp_path):
    error = _fails_cleanly(capsys, tmp_path, ["--gin", str(tmp_path / "absent.gin")])
    assert "absent.gin" in error and "does not exist" in error


def test_dataset_bound_where_a_method_belongs(capsys, tmp_path):
    error = _fails_cleanly(
        capsys,
        tmp_path,
        ["--gin", str(GIN / "erm_synthetic_backgrounds.gin"), "--gin-param", "run.method = @SyntheticTexture()",
         *_as_params(TINY + TINY_DATA["SyntheticTexture"])],
    )
    assert "run.method" in error and "ERM" in error


def test_missing_required_binding(capsys, tmp_path):
    bad = _write(tmp_path, f"include '{GIN}/base.gin'\n")
    error = _fails_cleanly(capsys, tmp_path, ["--gin", str(bad)])
    assert "method" in error and "ERM" in error


def test_list_shows_every_registered_component_one_line_each():
    done = subprocess.run(
        [sys.executable, "-m", "benchsuite", "list"], capture_output=True, text=True, cwd=REPO, check=True
    )
    lines = done.stdout.splitlines()
    for kind, name in [("method", "ERM"), ("method", "SimCLR"), ("dataset", "SyntheticBackgrounds"),
                       ("dataset", "SyntheticWaterbirds"), ("dataset", "SyntheticTexture"),
                       ("backbone", "ResNet18"), ("backbone", "ResNet50"), ("backbone", "SmallCNN")]:
        assert sum(line.split()[:2] == [kind, name] for line in lines) == 1, (kind, name)


#: the method each experiment file's name starts with (longest first: clad_plus before clad)
_FILE_METHODS = {"clad_plus": "CLADPlus", "clad": "CLAD", "erm": "ERM", "jtt": "JTT", "simclr": "SimCLR",
                 "dcl": "DCL", "hcl": "HCL", "wcl": "WCL"}


@pytest.mark.parametrize("gin_file", sorted(p.relative_to(GIN) for p in GIN.rglob("*.gin")), ids=str)
def test_every_gin_file_parses_with_unknown_names_rejected(gin_file):
    """Every file parses (config.parse raises on an unknown name), and the files that bind the method or the
    dataset bind the ones their name says: `hcl_cifar10.gin` trains HCL on CIFAR10, `methods/jtt.gin` binds
    JTT, `datasets/celeba_attractive_male.gin` binds CelebA; `default.gin` is the README's ERM on
    SyntheticBackgrounds."""
    import gin

    from benchsuite import config

    def names(words: str, dataset: str | None) -> bool:
        """Whether the leading words of `words` ("celeba_attractive_male") spell `dataset` ("CelebA")."""
        parts = words.split("_")
        return any("".join(parts[:k]) == str(dataset).lower() for k in range(1, len(parts) + 1))

    def bound(parameter: str) -> str | None:
        try:
            return gin.query_parameter(parameter).configurable.name
        except ValueError:
            return None

    try:
        config.parse([GIN / gin_file])
        method, dataset = bound("run.method"), bound("run.dataset")
    finally:
        gin.clear_config()  # the parsed bindings must not reach the tests that run after this one
    folder, stem = gin_file.parent.name, gin_file.stem
    if folder == "methods":
        assert method == _FILE_METHODS[stem]
    elif folder == "datasets":
        named = {"huggingface": "HuggingFaceDataset", "textures": "TextureSets"}  # not the file name's words
        assert dataset == named[stem] if stem in named else names(stem, dataset)
    elif stem == "default":
        assert (method, dataset) == ("ERM", "SyntheticBackgrounds")
    elif folder == "" and stem != "base":  # an experiment (gin/ itself): <method>_<dataset>[_<variant>]
        prefix = next(prefix for prefix in _FILE_METHODS if stem.startswith(f"{prefix}_"))
        assert method == _FILE_METHODS[prefix]
        assert names(stem[len(prefix) + 1:], dataset)
