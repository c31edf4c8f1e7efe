"""The one place that loads the suite's parts: the built-in methods, datasets and backbones (with the `run` gin
root, the Trainer and everything else gin files bind) and the plugins.

An installed package declares entry points in the groups `benchsuite.methods`, `benchsuite.datasets` and
`benchsuite.backbones` of its pyproject.toml; each value is a module (or `module:Class`) whose import
registers classes with the suite's decorators (`@METHODS.register("Name")`). A module that is not
installed is loaded by a gin `import` line or by `--plugin module.path` on the command line.

`load()` is called by the command line (every command but `leaderboard`, which reads records only and never
imports torch) and by `execute` (so also by a sweep's worker) before their gin parse; a registry lookup never
loads anything. It loads the built-ins first, then each entry point once. A plugin whose import fails is
recorded as broken (`registry.BROKEN`), with its error on one line: the suite and the other plugins keep
working, `list` shows it, and only a config that names something it would have provided fails, with that
error. Two registrations of one name are the exception: they stop every command, since which class a name
means would otherwise depend on the order of loading.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import sys
from collections.abc import Sequence

from benchsuite.errors import ConfigError
from benchsuite.registry import (
    BACKBONES,
    BROKEN,
    DATASETS,
    KNOWN_DISTRIBUTIONS,
    METHODS,
    DuplicateRegistration,
    Plugin,
    Registry,
    distribution_of,
    loading,
)

#: entry-point group -> the registry its plugins register into
GROUPS: dict[str, Registry] = {registry.group: registry for registry in (METHODS, DATASETS, BACKBONES)}

_plugins: list[Plugin] = []
_state = "unloaded"  # -> "loading" -> "loaded"
_fatal: ConfigError | None = None


def one_line(error: BaseException) -> str:
    """`Type: message` with the message's whitespace (tracebacks' newlines included) folded into spaces."""
    message = " ".join(str(error).split())
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def _load_builtins() -> None:
    """Import every built-in part, which registers it with its registry and with gin."""
    from benchsuite import datasets, methods  # noqa: F401
    from benchsuite.experiment import run  # noqa: F401  the `run` gin root
    from benchsuite.models import backbones  # noqa: F401
    from benchsuite.training import pretraining  # noqa: F401


def _entry_points() -> list[importlib.metadata.EntryPoint]:
    """The suite's entry points, each once (a distribution on sys.path twice lists them twice)."""
    seen, points = set(), []
    for group in GROUPS:
        for point in sorted(importlib.metadata.entry_points(group=group), key=lambda p: p.name):
            key = (point.group, point.name, point.value)
            if key not in seen:
                seen.add(key)
                points.append(point)
    return points


def _registered() -> set[tuple[str, str]]:
    return {(registry.kind, name) for registry in GROUPS.values() for name in registry.names()}


def _load(point: importlib.metadata.EntryPoint) -> Plugin:
    distribution = point.dist.name if point.dist is not None else None
    if distribution is not None:
        KNOWN_DISTRIBUTIONS.setdefault(point.module.partition(".")[0], distribution)
    plugin = Plugin(point.group, point.name, point.value, distribution)
    before = _registered()
    try:
        with loading(distribution, f"entry point '{point.name}' in {point.group}"):
            loaded = point.load()
    except DuplicateRegistration:
        raise
    except Exception as error:
        return _replace(plugin, error=one_line(error), provides=_registered() - before)
    registry = GROUPS[point.group]
    if isinstance(loaded, type) and loaded not in registry.classes():
        error = (
            f"{point.value} is not a registered {registry.kind}: decorate the class with "
            f"@{'METHODS' if registry is METHODS else 'DATASETS' if registry is DATASETS else 'BACKBONES'}"
            f".register(\"{point.name}\")"
        )
        return _replace(plugin, error=error, provides=_registered() - before)
    return _replace(plugin, provides=_registered() - before)


def _replace(plugin: Plugin, **changes) -> Plugin:
    provides = changes.pop("provides", set())
    return Plugin(**{**vars(plugin), **changes, "provides": tuple(sorted(provides))})


def load(modules: Sequence[str] = ()) -> list[Plugin]:
    """Load the built-ins and every installed plugin (once), then the plugin `modules` that are not installed
    (--plugin); return the installed plugins, broken ones included.

    Raises ConfigError, every time it is called, if two registrations claim one name, and if a module of
    `modules` cannot be imported.
    """
    global _state, _fatal
    if _fatal is not None:
        raise _fatal
    if _state == "unloaded":
        _state = "loading"  # a plugin's import may look things up in the registries: no recursion
        try:
            _load_builtins()  # first, so that a clash names the plugin second
            for point in _entry_points():
                plugin = _load(point)
                _plugins.append(plugin)
                if plugin.broken:
                    BROKEN.append(plugin)
        except DuplicateRegistration as error:
            _fatal = error
            raise
        finally:
            _state = "loaded"
    for module in modules:
        load_module(module)
    return list(_plugins)


def load_module(module: str, via: str = "--plugin") -> None:
    """Import a plugin module that is not installed (a directory on PYTHONPATH); ConfigError if it fails."""
    load()
    if module in sys.modules:
        return  # imported already (an entry point, an earlier --plugin): its classes are registered once
    try:
        with loading(distribution_of(module), f"loaded by {via} {module}"):
            importlib.import_module(module)
    except DuplicateRegistration:
        raise
    except ModuleNotFoundError as error:
        raise ConfigError(
            f"Plugin module '{module}' (from {via}) was not found: {one_line(error)}. Give a dotted module path "
            "that Python can import: install its package, or add the directory that holds it to PYTHONPATH."
        ) from None
    except Exception as error:
        raise ConfigError(f"Plugin module '{module}' (from {via}) failed to import: {one_line(error)}.") from None


def broken() -> list[Plugin]:
    """The installed plugins that failed to load (without loading anything)."""
    return list(BROKEN)
