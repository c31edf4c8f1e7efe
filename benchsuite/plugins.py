"""Plugins: methods, datasets and backbones from other packages, registered like the built-ins.

An installed package declares entry points in the groups `benchsuite.methods`, `benchsuite.datasets` and
`benchsuite.backbones` of its pyproject.toml; each value is a module (or `module:Class`) whose import
registers classes with the suite's decorators (`@METHODS.register("Name")`). A module that is not
installed is loaded by a gin `import` line or by `--plugin module.path` on the command line.

Entry points are loaded once, on the first lookup in a registry (`list`, gin parsing, a run), never at
`import benchsuite`. A plugin whose import fails is recorded as broken, with its error on one line: the
suite and the other plugins keep working, `list` shows it, and only a config that names something it
would have provided fails, with that error. Two registrations of one name are the exception: they stop
every command, since which class a name means would otherwise depend on the order of loading.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import re
import sys
from dataclasses import dataclass

from benchsuite.errors import ConfigError
from benchsuite.registry import BACKBONES, DATASETS, METHODS, DuplicateRegistration, Registry, loading

#: entry-point group -> the registry its plugins register into
GROUPS: dict[str, Registry] = {registry.group: registry for registry in (METHODS, DATASETS, BACKBONES)}


@dataclass(frozen=True)
class Plugin:
    """One entry point of an installed distribution, after trying to load it."""

    group: str
    name: str
    value: str
    distribution: str | None
    #: the import error on one line ("RuntimeError: ..."); None when it loaded
    error: str | None = None
    #: (kind, name) of what its loading registered
    provides: tuple[tuple[str, str], ...] = ()

    @property
    def broken(self) -> bool:
        return self.error is not None

    def describe(self) -> str:
        return f"entry point '{self.name} = {self.value}' in {self.group} of distribution {self.distribution or '?'}"


_plugins: list[Plugin] = []
_state = "unloaded"  # -> "loading" -> "loaded"
_fatal: ConfigError | None = None
#: top-level package -> distribution, for the packages whose entry points were loaded
_known_distributions: dict[str, str] = {}


def one_line(error: BaseException) -> str:
    """`Type: message` with the message's whitespace (tracebacks' newlines included) folded into spaces."""
    message = " ".join(str(error).split())
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


@functools.lru_cache(maxsize=1)
def _packages_distributions() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()


def distribution_of(module: str) -> str | None:
    """The installed distribution that provides `module`, or None (a module found on PYTHONPATH)."""
    top = module.partition(".")[0]
    if top == "benchsuite":
        return "benchsuite"
    if top in _known_distributions:
        return _known_distributions[top]
    names = _packages_distributions().get(top)
    return names[0] if names else None


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
    return {(registry.kind, name) for registry in GROUPS.values() for name in registry._entries}


def _load(point: importlib.metadata.EntryPoint) -> Plugin:
    distribution = point.dist.name if point.dist is not None else None
    if distribution is not None:
        _known_distributions.setdefault(point.module.partition(".")[0], distribution)
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
    if isinstance(loaded, type) and loaded not in registry._entries.values():
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


def load_entry_points() -> list[Plugin]:
    """Load every installed plugin once (built-ins first); return them all, broken ones included.

    Raises ConfigError, every time it is called, if two registrations claim one name.
    """
    global _state, _fatal
    if _fatal is not None:
        raise _fatal
    if _state != "unloaded":
        return list(_plugins)
    _state = "loading"  # a plugin's import may look things up in the registries: no recursion
    try:
        import benchsuite.builtins  # noqa: F401  the built-ins register first, so a clash names the plugin second

        for point in _entry_points():
            _plugins.append(_load(point))
    except DuplicateRegistration as error:
        _fatal = error
        raise
    finally:
        _state = "loaded"
    return list(_plugins)


def load_module(module: str, via: str = "--plugin") -> None:
    """Import a plugin module that is not installed (a directory on PYTHONPATH); ConfigError if it fails."""
    load_entry_points()
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
    return [plugin for plugin in _plugins if plugin.broken]


def failure_hint(name: str) -> str:
    """For an error about an unknown name: the broken plugins that may have provided it ("" if none)."""
    failed = broken()
    if not failed:
        return ""
    named = [p for p in failed if p.name == name or any(provided == name for _, provided in p.provides)]
    if named:
        return " " + " ".join(
            f"'{name}' comes from the plugin {p.describe()}, which failed to load: {p.error}." for p in named
        )
    listed = "; ".join(f"{p.describe()}: {p.error}" for p in failed)
    return f" Plugins that failed to load, one of which may provide '{name}': {listed}."


def check_config(config_str: str) -> None:
    """Raise ConfigError if a parsed gin config uses a class that a broken plugin registered before failing."""
    for plugin in broken():
        for kind, name in plugin.provides:
            if re.search(rf"(?<![\w.]){re.escape(name)}(?![\w])", config_str):
                raise ConfigError(
                    f"The gin config uses the {kind} '{name}' from the plugin {plugin.describe()}, which failed to "
                    f"load: {plugin.error}."
                )
