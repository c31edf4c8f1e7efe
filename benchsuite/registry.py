"""Registries of methods, datasets and backbones.

A registry is a named dict whose decorator also registers the class with gin under the same name, so
that gin files bind it (`run.method = @ERM()`) and `python -m benchsuite list` shows it. Lookups of an
unknown name raise a `ConfigError` that lists the valid choices.

The three registries also hold what plugins register. A lookup never loads anything: the built-ins and the
installed plugins are loaded in one place, `benchsuite.experiment.components.load`, by the command line and by
`execute` before their gin parse. This module imports nothing of the suite above `errors`. It keeps what the
loading reports: every entry remembers where it came from (module and distribution), so that two registrations
of one name fail with an error naming both, never silently override each other; and the plugins that failed
to load (`BROKEN`), so that an unknown name is explained by the plugin that would have provided it.
"""

from __future__ import annotations

import functools
import importlib.metadata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

import gin

from benchsuite.errors import ConfigError

T = TypeVar("T")


class DuplicateRegistration(ConfigError):
    """Two classes claim one name in a registry; the message names both sources."""


@dataclass(frozen=True)
class Source:
    """Where a registered class came from: its module and class, its distribution and how it was loaded."""

    module: str
    qualname: str
    #: the installed distribution that provides the module (e.g. "benchsuite"), None when not installed
    distribution: str | None = None
    #: how it was loaded when not by a plain import, e.g. "entry point 'X' in benchsuite.methods"
    via: str | None = None

    def __str__(self) -> str:
        where = f"distribution {self.distribution}" if self.distribution else "not from an installed distribution"
        return f"{self.module}.{self.qualname} ({where}{', ' + self.via if self.via else ''})"


#: what is being loaded right now (an entry point, a --plugin module): attributed to every registration
_loading: list[tuple[str | None, str]] = []


@contextmanager
def loading(distribution: str | None, via: str) -> Iterator[None]:
    """Attribute the registrations made inside this block to `distribution`, loaded `via` something."""
    _loading.append((distribution, via))
    try:
        yield
    finally:
        _loading.pop()


#: top-level package -> distribution, for the packages whose entry points were loaded
KNOWN_DISTRIBUTIONS: dict[str, str] = {}


@functools.lru_cache(maxsize=1)
def _packages_distributions() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()


def distribution_of(module: str) -> str | None:
    """The installed distribution that provides `module`, or None (a module found on PYTHONPATH)."""
    top = module.partition(".")[0]
    if top == "benchsuite":
        return "benchsuite"
    if top in KNOWN_DISTRIBUTIONS:
        return KNOWN_DISTRIBUTIONS[top]
    names = _packages_distributions().get(top)
    return names[0] if names else None


def _source_of(cls: type) -> Source:
    if _loading:
        distribution, via = _loading[-1]
        return Source(cls.__module__, cls.__qualname__, distribution, via)
    return Source(cls.__module__, cls.__qualname__, distribution_of(cls.__module__))


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


#: the plugins that failed to load, as `benchsuite.experiment.components.load` reports them
BROKEN: list[Plugin] = []


def failure_hint(name: str) -> str:
    """For an error about an unknown name: the broken plugins that may have provided it ("" if none)."""
    if not BROKEN:
        return ""
    named = [p for p in BROKEN if p.name == name or any(provided == name for _, provided in p.provides)]
    if named:
        return " " + " ".join(
            f"'{name}' comes from the plugin {p.describe()}, which failed to load: {p.error}." for p in named
        )
    listed = "; ".join(f"{p.describe()}: {p.error}" for p in BROKEN)
    return f" Plugins that failed to load, one of which may provide '{name}': {listed}."


class Registry:
    """Names -> classes for one kind of component (method, dataset or backbone).

    group: the entry-point group whose plugins register here (e.g. "benchsuite.methods"); None for a private
    registry (tests).
    """

    def __init__(self, kind: str, group: str | None = None) -> None:
        self.kind = kind
        self.group = group
        self._entries: dict[str, type] = {}
        self._sources: dict[str, Source] = {}

    def register(self, name: str) -> Callable[[type[T]], type[T]]:
        """Class decorator: register under `name` here and, with the same name, with gin (`gin.register`: gin
        files bind it by reference, `run.method = @ERM()`; calling the class in Python ignores gin)."""

        def decorate(cls: type[T]) -> type[T]:
            source = _source_of(cls)
            if name in self._entries:
                previous = self._sources[name]
                if (previous.module, previous.qualname) == (source.module, source.qualname):
                    # The same module executed again (an import that failed half-way and was retried, a
                    # reload): the same registration, kept once; gin would refuse a second one anyway.
                    return self._entries[name]
                raise DuplicateRegistration(
                    f"Two {self.kind}s are registered as '{name}': {previous} and {source}. Rename one of them, "
                    "or uninstall the plugin you do not want."
                )
            gin.register(name)(cls)  # the class stays plain Python; gin references (@Name, @Name()) bind it
            cls.registered_name = name
            self._entries[name] = cls
            self._sources[name] = source
            return cls

        return decorate

    def get(self, name: str) -> type:
        try:
            return self._entries[name]
        except KeyError:
            raise ConfigError(
                f"Unknown {self.kind} '{name}'. Registered {self.kind}s: {', '.join(self.names())}."
                f"{failure_hint(name)}"
            ) from None

    def source(self, name: str) -> Source:
        """Where the class registered as `name` came from."""
        self.get(name)
        return self._sources[name]

    def names(self) -> list[str]:
        return sorted(self._entries)

    def items(self) -> list[tuple[str, type]]:
        return sorted(self._entries.items())

    def configured(self, name: str) -> type:
        """The class registered as `name` as gin binds it: calling it applies the parsed config's bindings
        (`Waterbirds.root = ...`), as a gin reference `@Name()` does; the class itself stays plain Python."""
        return gin.get_configurable(self.get(name))

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def classes(self) -> list[type]:
        """The registered classes."""
        return list(self._entries.values())


METHODS = Registry("method", "benchsuite.methods")
DATASETS = Registry("dataset", "benchsuite.datasets")
BACKBONES = Registry("backbone", "benchsuite.backbones")
