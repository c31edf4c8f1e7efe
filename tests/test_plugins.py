"""Plugins: installed packages' entry points, --plugin and gin import lines, broken plugins, duplicate names.

The example plugin (examples/plugin) is installed with pip into a temporary --target folder that only the
subprocesses see (on their PYTHONPATH), so the test environment itself is never changed. Broken and clashing
plugins are generated: a module and a `.dist-info` folder with `entry_points.txt` in a temporary folder on
PYTHONPATH, which is all importlib.metadata needs to see an installed distribution.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from benchsuite import config
from benchsuite.errors import ConfigError
from benchsuite.registry import DuplicateRegistration, Registry
from tests.conftest import REPO, TINY, TINY_DATA

EXAMPLE = REPO / "examples" / "plugin"
EXAMPLE_DIST = "benchsuite-example-plugin"
BROKEN_ERROR = "the broken plugin fails on purpose"
#: a private registry for the module that test_same_module_executed_again... imports twice
WIDGETS = Registry("widget")


def _params(bindings: list[str]) -> list[str]:
    return [arg for binding in bindings for arg in ("--gin-param", binding)]


def _benchsuite(args: list[str], path: list[Path], *, python: list[str] | None = None):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, path))}
    command = [sys.executable, *(python or ["-m", "benchsuite", *args])]
    return subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=env, timeout=240)


def _listed(stdout: str) -> dict[tuple[str, str], list[str]]:
    return {tuple(line.split()[:2]): line.split() for line in stdout.splitlines() if line.strip()}


def _one_paragraph_error(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
    return done.stderr


def _fake_distribution(root: Path, dist: str, modules: dict[str, str], entry_points: dict[str, dict[str, str]]):
    """A module per entry of `modules` and `<dist>.dist-info` declaring `entry_points` (group -> name -> value)."""
    root.mkdir(parents=True, exist_ok=True)
    for module, source in modules.items():
        (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "".join(f"[{group}]\n" + "".join(f"{n} = {v}\n" for n, v in names.items())
                for group, names in entry_points.items())
    )
    return root


@pytest.fixture(scope="module")
def example_site(tmp_path_factory) -> Path:
    """examples/plugin installed (not editable, no dependencies) into a folder that subprocesses put on PYTHONPATH."""
    work = tmp_path_factory.mktemp("example_plugin")
    source, site = work / "source", work / "site"
    # a copy, so that the build's egg-info and build/ folders never land in the repository
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
         "--disable-pip-version-check", "--target", str(site), str(source)],
        capture_output=True, text=True, timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert list(site.glob("benchsuite_example_plugin-*.dist-info")), "pip installed no metadata"
    yield site
    shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="module")
def broken_site(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("broken_plugin")
    yield _fake_distribution(
        root,
        "benchsuite-broken-plugin",
        {"benchsuite_broken_plugin": f'raise RuntimeError("{BROKEN_ERROR},\\nacross two lines")\n'},
        {"benchsuite.methods": {"BrokenMethod": "benchsuite_broken_plugin"}},
    )
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def uninstalled_example(tmp_path) -> Path:
    """The example's source folder, not installed: only a directory on PYTHONPATH."""
    shutil.copytree(EXAMPLE / "src", tmp_path / "src", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    return tmp_path / "src"


def test_import_and_lookup_load_nothing_until_components_load(broken_site):
    done = _benchsuite([], [broken_site], python=["-c", textwrap.dedent("""
        import sys
        import benchsuite
        from benchsuite.experiment import components
        assert "benchsuite_broken_plugin" not in sys.modules and components._state == "unloaded"
        from benchsuite.registry import METHODS
        assert "ERM" not in METHODS and "torch" not in sys.modules  # a lookup loads nothing
        components.load()  # the one place that loads: the built-ins, then the plugins, surviving the broken one
        assert "ERM" in METHODS
        assert "benchsuite_broken_plugin" not in sys.modules
        assert [p.name for p in components.broken()] == ["BrokenMethod"]
        print("ok")
    """)])
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_installed_plugin_is_listed_with_its_distribution(example_site):
    done = _benchsuite(["list"], [example_site])
    assert done.returncode == 0, done.stderr
    listed = _listed(done.stdout)
    assert listed[("method", "LabelSmoothing")][2:4] == [EXAMPLE_DIST, "benchsuite_example_plugin.label_smoothing"]
    assert listed[("dataset", "SyntheticBackgroundsSevere")][2] == EXAMPLE_DIST
    assert listed[("method", "ERM")][2] == "benchsuite" and ("backbone", "SmallCNN") in listed


def test_installed_plugin_method_runs_on_the_embedded_benchmark(example_site, tmp_path):
    # The entry point, the gin file's `import benchsuite_example_plugin` and --plugin all import the same
    # module: one registration, no duplicate.
    done = _benchsuite(
        ["run", "--gin", str(EXAMPLE / "gin" / "label_smoothing_synthetic.gin"),
         "--plugin", "benchsuite_example_plugin", "--results", str(tmp_path),
         *_params(TINY + TINY_DATA["SyntheticBackgrounds"])],
        [example_site],
    )
    assert done.returncode == 0, done.stderr
    (record_file,) = tmp_path.rglob("record.json")
    record = json.loads(record_file.read_text())
    assert record["status"] == "finished" and record["method"] == "LabelSmoothing"
    assert record["dataset"] == "SyntheticBackgrounds" and record["method_details"] == {"smoothing": 0.1}
    assert 0 <= record["metrics"]["LabelSmoothing"]["mixed_rand/top1"] <= 1
    assert "LabelSmoothing.smoothing = 0.1" in record["gin_config"]


def test_broken_plugin_is_listed_on_one_line_and_breaks_nothing_else(example_site, broken_site, tmp_path):
    listing = _benchsuite(["list"], [example_site, broken_site])
    assert listing.returncode == 0, listing.stderr
    listed = _listed(listing.stdout)
    broken = listed[("broken", "BrokenMethod")]
    assert broken[2] == "benchsuite-broken-plugin"
    line = " ".join(broken)
    assert f"RuntimeError: {BROKEN_ERROR}, across two lines" in line
    assert ("method", "ERM") in listed and ("method", "LabelSmoothing") in listed

    # a built-in method on the plugin's dataset runs, with the broken plugin installed beside it
    severe = [f"SyntheticBackgroundsSevere.{b.split('.', 1)[1]}" for b in TINY_DATA["SyntheticBackgrounds"]]
    done = _benchsuite(
        ["run", "--gin", str(EXAMPLE / "gin" / "erm_synthetic_backgrounds_severe.gin"), "--results", str(tmp_path),
         *_params(TINY + severe)],
        [example_site, broken_site],
    )
    assert done.returncode == 0, done.stderr
    (record_file,) = tmp_path.rglob("record.json")
    assert '"dataset": "SyntheticBackgroundsSevere"' in record_file.read_text()


def test_a_run_that_uses_a_broken_plugin_fails_with_its_error(broken_site, tmp_path):
    done = _benchsuite(
        ["run", "--gin", str(REPO / "gin" / "erm_synthetic_backgrounds.gin"), "--gin-param",
         "run.method = @BrokenMethod()", "--results", str(tmp_path)],
        [broken_site],
    )
    error = _one_paragraph_error(done)
    assert "BrokenMethod" in error and "benchsuite-broken-plugin" in error and "benchsuite.methods" in error
    assert f"RuntimeError: {BROKEN_ERROR}" in error
    assert not any(tmp_path.iterdir())


def test_a_plugin_reusing_a_builtin_name_names_both_sources(tmp_path):
    clash = _fake_distribution(
        tmp_path / "site", "benchsuite-clash-plugin",
        {"benchsuite_clash_plugin": """
            from benchsuite.methods.erm import ERM as BuiltIn
            from benchsuite.registry import METHODS

            @METHODS.register("ERM")
            class ERM(BuiltIn):
                '''Not the built-in ERM.'''
        """},
        {"benchsuite.methods": {"ERM": "benchsuite_clash_plugin:ERM"}},
    )
    for args in (["list"], ["run", "--gin", str(REPO / "gin" / "erm_synthetic_backgrounds.gin")]):
        error = _one_paragraph_error(_benchsuite(args, [clash]))
        assert "'ERM'" in error
        assert "benchsuite.methods.erm.ERM (distribution benchsuite" in error
        assert "benchsuite_clash_plugin.ERM (distribution benchsuite-clash-plugin" in error


def test_two_plugins_with_one_name_name_both_sources(tmp_path):
    module = """
        from benchsuite.methods.erm import ERM
        from benchsuite.registry import METHODS

        @METHODS.register("Twin")
        class Twin(ERM):
            '''A twin.'''
    """
    first = _fake_distribution(tmp_path / "a", "benchsuite-twin-a", {"twin_a": module},
                               {"benchsuite.methods": {"Twin": "twin_a"}})
    second = _fake_distribution(tmp_path / "b", "benchsuite-twin-b", {"twin_b": module},
                                {"benchsuite.methods": {"Twin": "twin_b"}})
    error = _one_paragraph_error(_benchsuite(["list"], [first, second]))
    assert "'Twin'" in error and "twin_a.Twin (distribution benchsuite-twin-a" in error
    assert "twin_b.Twin (distribution benchsuite-twin-b" in error


def test_plugin_flag_loads_a_module_that_is_not_installed(uninstalled_example):
    done = _benchsuite(["list", "--plugin", "benchsuite_example_plugin"], [uninstalled_example])
    assert done.returncode == 0, done.stderr
    listed = _listed(done.stdout)
    assert listed[("method", "LabelSmoothing")][2] == "-"  # not from an installed distribution
    assert ("dataset", "SyntheticBackgroundsSevere") in listed
    without = _listed(_benchsuite(["list"], [uninstalled_example]).stdout)
    assert ("method", "LabelSmoothing") not in without

    missing = _benchsuite(["list", "--plugin", "no_such_plugin_module"], [uninstalled_example])
    assert "no_such_plugin_module" in _one_paragraph_error(missing) and "PYTHONPATH" in missing.stderr


def test_gin_import_line_loads_a_module_that_is_not_installed(uninstalled_example):
    done = _benchsuite([], [uninstalled_example], python=["-c", textwrap.dedent(f"""
        import gin
        from benchsuite import config
        from benchsuite.experiment import components
        from benchsuite.registry import DATASETS, METHODS
        components.load()
        config.parse([{str(EXAMPLE / "gin" / "label_smoothing_synthetic.gin")!r}])
        assert gin.query_parameter("LabelSmoothing.smoothing") == 0.1
        assert METHODS.source("LabelSmoothing").distribution is None and "SyntheticBackgroundsSevere" in DATASETS
        print("ok")
    """)])
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_gin_import_errors_are_one_paragraph(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "plugin_that_raises.py").write_text("raise RuntimeError('plugin import failed\\nbadly')\n")
    for module, expected in (("no_such_module_for_gin", "No module named 'no_such_module_for_gin'"),
                             ("plugin_that_raises", "RuntimeError: plugin import failed badly")):
        file = tmp_path / f"{module}.gin"
        file.write_text(f"import {module}\n")
        with pytest.raises(ConfigError) as caught:
            config.parse([file])
        message = str(caught.value)
        assert "\n" not in message and expected in message and str(file) in message and "line 1" in message
        sys.modules.pop(module, None)


def test_same_module_executed_again_registers_once_and_clashes_name_both(tmp_path, monkeypatch):
    registry = WIDGETS
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr("benchsuite.registry._loading", [])
    (tmp_path / "widget_plugin_module.py").write_text(textwrap.dedent("""
        from tests.test_plugins import WIDGETS

        @WIDGETS.register("TestPluginWidget")
        class Widget:
            pass
    """))
    module = importlib.import_module("widget_plugin_module")
    try:
        first = registry.get("TestPluginWidget")
        importlib.reload(module)  # a second execution of the same module: no duplicate
        assert registry.get("TestPluginWidget") is first and registry.names() == ["TestPluginWidget"]

        class Widget:
            pass

        with pytest.raises(DuplicateRegistration, match=r"widget_plugin_module\.Widget .*test_plugins\..*Widget"):
            registry.register("TestPluginWidget")(Widget)
    finally:
        sys.modules.pop("widget_plugin_module", None)
