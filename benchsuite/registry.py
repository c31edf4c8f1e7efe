"""Registries of methods, datasets and backbones.

A registry is a named dict whose decorator also registers the class with gin under the same name, so
that gin files bind it (`run.method = @ERM()`) and `python -m benchsuite list` shows it. Lookups of an
unknown name raise a `ConfigError` that lists the valid choices.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import gin

from benchsuite.errors import ConfigError

T = TypeVar("T")


class Registry:
    """Names -> classes for one kind of component (method, dataset or backbone)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, type] = {}

    def register(self, name: str) -> Callable[[type[T]], type[T]]:
        """Class decorator: register under `name` here and, with the same name, with gin."""

        def decorate(cls: type[T]) -> type[T]:
            if name in self._entries:
                previous = self._entries[name]
                raise ConfigError(
                    f"Two {self.kind}s are registered as '{name}': {previous.__module__}.{previous.__qualname__} "
                    f"and {cls.__module__}.{cls.__qualname__}; rename one of them."
                )
            configurable = gin.configurable(name)(cls)
            configurable.registered_name = name
            self._entries[name] = configurable
            return configurable

        return decorate

    def get(self, name: str) -> type:
        try:
            return self._entries[name]
        except KeyError:
            raise ConfigError(
                f"Unknown {self.kind} '{name}'. Registered {self.kind}s: {', '.join(self.names())}."
            ) from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def items(self) -> list[tuple[str, type]]:
        return sorted(self._entries.items())

    def __contains__(self, name: str) -> bool:
        return name in self._entries


METHODS = Registry("method")
DATASETS = Registry("dataset")
BACKBONES = Registry("backbone")
