"""The `list` command: every registered method, dataset and backbone, and every plugin that failed to load."""

from __future__ import annotations

from benchsuite.experiment import components
from benchsuite.registry import BACKBONES, DATASETS, METHODS


def main() -> int:
    """One line per registered class: kind, name, distribution ("-" if not installed), module, summary;
    then one line per broken plugin: "broken", entry point name, distribution, entry point and error."""
    for registry in (METHODS, DATASETS, BACKBONES):
        for name, cls in registry.items():
            summary = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
            distribution = registry.source(name).distribution or "-"
            print(f"{registry.kind:<9} {name:<22} {distribution:<26} {cls.__module__:<34} {summary}")
    for plugin in components.broken():
        where = f"{plugin.group}: {plugin.name} = {plugin.value}"
        print(f"{'broken':<9} {plugin.name:<22} {plugin.distribution or '-':<26} {where} failed: {plugin.error}")
    return 0
