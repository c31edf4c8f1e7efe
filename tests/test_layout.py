"""The tree's shape (README, "How a run is put together"): folders by role, every import between them pointing
down the layers below, no import circle between modules, and a small top level. Imports are read from the
source with `ast`, so an import inside a function counts as much as one at the top of a file."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "benchsuite"

#: top to bottom: a layer imports only from the layers after it (and from itself); "core" is the top-level modules
LAYERS = [
    ("__main__",),
    ("cli",),
    ("sweep",),
    ("experiment",),
    ("methods",),
    ("evaluation",),
    ("training",),
    ("models",),
    ("datasets", "losses", "leaderboard"),
    ("core",),
]
#: inside the core, the same rule between its modules
CORE = ["config", "registry", "records", "faults", "errors", "__init__"]


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    """benchsuite module -> the benchsuite modules it imports (`from a import b` counts b when b is a module)."""
    paths = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, *([base] if base else [])])
                for alias in node.names:
                    targets.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in paths else base)
        graph[name] = {target for target in targets if target in paths and target != name}
    return graph


def _layer(module: str) -> tuple[int, str]:
    parts = module.split(".")
    folder = parts[1] if len(parts) > 1 and (PACKAGE / parts[1]).is_dir() else "core"
    folder = "__main__" if module == "benchsuite.__main__" else folder
    index = next(i for i, names in enumerate(LAYERS) if folder in names)
    return index, folder


def test_every_import_between_folders_points_down():
    upward = []
    for module, targets in _imports().items():
        (own, folder) = _layer(module)
        for target in targets:
            (other, target_folder) = _layer(target)
            if target_folder != folder and other <= own:
                upward.append(f"{module} -> {target}")
            if folder == target_folder == "core" and module != "benchsuite":
                source, sink = module.rpartition(".")[2], target.rpartition(".")[2]
                if sink != "benchsuite" and CORE.index(sink) <= CORE.index(source):
                    upward.append(f"{module} -> {target}")
    assert not upward, "imports that point up or sideways: " + "; ".join(sorted(upward))


def test_no_import_circle_between_modules():
    graph = _imports()
    # a package's __init__ importing its own modules is how the package is assembled, not a circle of design
    edges = {m: {t for t in ts if not (m != "benchsuite" and t.startswith(m + "."))} for m, ts in graph.items()}
    state: dict[str, int] = {}
    circles = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(edges[module]):
            if state.get(target) == 1:
                circles.append(" -> ".join([*path[path.index(target):], target]))
            elif target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    assert not circles, "import circles: " + "; ".join(circles)


def test_top_level_holds_at_most_eight_modules():
    modules = sorted(path.name for path in PACKAGE.glob("*.py") if path.name != "__init__.py")
    assert len(modules) <= 8, modules
    assert {name.removesuffix(".py") for name in modules} <= {"__main__", *CORE}


@pytest.mark.parametrize("module", ["registry", "config", "records", "errors", "faults"])
def test_core_imports_nothing_above_it(module):
    for target in _imports()[f"benchsuite.{module}"]:
        assert _layer(target)[1] == "core", f"benchsuite.{module} imports {target}"


def test_the_readme_walk_through_names_files_that_exist():
    """README's "How a run is put together" walks one run file by file; each file it names must exist."""
    readme = (PACKAGE.parent / "README.md").read_text()
    section = readme[readme.index("## How a run is put together"):readme.index("### Methods")]
    named = set(re.findall(r"`(?:benchsuite/)?([\w/]+\.py)`", section))
    assert len(named) > 30
    files = {path.name for path in PACKAGE.rglob("*.py")}

    def exists(name: str) -> bool:  # a bare name is a file of the folder the sentence is about
        return name in files if "/" not in name else any((root / name).is_file() for root in (PACKAGE, PACKAGE.parent))

    missing = [name for name in sorted(named) if not exists(name)]
    assert not missing, missing
