"""Registries of methods, datasets and backbones.

A registry is a named dict whose decorator also registers the class with gin under the same name, so
that gin files bind it (`run.method = @ERM()`) and `python -m benchsuite list` shows it. Lookups of an
unknown name raise a `ConfigError` that lists the valid choices.

The three registries of the suite also hold what plugins register (see `benchsuite.plugins`): their first
lookup loads the installed plugins' entry points, so `import benchsuite` stays cheap and a broken plugin
breaks nothing until something asks for it. Every entry remembers where it came from (module and
distribution), so that two registrations of one name fail with an error naming both, never silently
override each other.
"""

from __future__ import annotations

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


def _source_of(cls: type) -> Source:
    if _loading:
        distribution, via = _loading[-1]
        return Source(cls.__module__, cls.__qualname__, distribution, via)
    from benchsuite.plugins import distribution_of  # here: plugins imports this module

    return Source(cls.__module__, cls.__qualname__, distribution_of(cls.__module__))


class Registry:
    """Names -> classes for one kind of component (method, dataset or backbone).

    group: the entry-point group whose plugins register here (e.g. "benchsuite.methods"); lookups load
    the installed plugins first. None for a private registry (tests).
    """

    def __init__(self, kind: str, group: str | None = None) -> None:
        self.kind = kind
        self.group = group
        self._entries: dict[str, type] = {}
        self._sources: dict[str, Source] = {}

    def register(self, name: str) -> Callable[[type[T]], type[T]]:
        """Class decorator: register under `name` here and, with the same name, with gin."""

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
            configurable = gin.configurable(name)(cls)
            configurable.registered_name = name
            self._entries[name] = configurable
            self._sources[name] = source
            return configurable

        return decorate

    def _load_plugins(self) -> None:
        if self.group is not None:
            from benchsuite import plugins  # here: plugins imports this module

            plugins.load_entry_points()

    def get(self, name: str) -> type:
        self._load_plugins()
        try:
            return self._entries[name]
        except KeyError:
            from benchsuite import plugins

            raise ConfigError(
                f"Unknown {self.kind} '{name}'. Registered {self.kind}s: {', '.join(self.names())}."
                f"{plugins.failure_hint(name)}"
            ) from None

    def source(self, name: str) -> Source:
        """Where the class registered as `name` came from."""
        self._load_plugins()
        self.get(name)
        return self._sources[name]

    def names(self) -> list[str]:
        self._load_plugins()
        return sorted(self._entries)

    def items(self) -> list[tuple[str, type]]:
        self._load_plugins()
        return sorted(self._entries.items())

    def __contains__(self, name: str) -> bool:
        self._load_plugins()
        return name in self._entries


METHODS = Registry("method", "benchsuite.methods")
DATASETS = Registry("dataset", "benchsuite.datasets")
BACKBONES = Registry("backbone", "benchsuite.backbones")
