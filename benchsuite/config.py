"""Parsing gin files and bindings, with unknown names rejected and errors turned into one paragraph.

Includes inside gin files are resolved against the `gin/` folder that holds the file (so
`include 'methods/erm.gin'` works from any working directory) and then the working directory.

Parsing loads nothing by itself: the built-ins and the installed plugins are loaded before it, in one place
(`benchsuite.experiment.components.load`, called by the command line and by `execute`), so gin files bind
their classes like the built-ins; a gin `import` line loads a plugin module that is not installed. A name that
a broken plugin would have provided, or an import that fails, is one paragraph saying which plugin or module
and why. This module imports nothing of the suite but `errors` and `registry`.
"""

from __future__ import annotations

import importlib.util  # noqa: F401  gin's include error path needs importlib.util imported
import inspect
import logging
import re
import tokenize
from collections.abc import Sequence
from pathlib import Path

import gin
from gin import config as gin_config

from benchsuite.errors import ConfigError
from benchsuite.registry import BACKBONES, BROKEN, DATASETS, METHODS, failure_hint


class _QuietSearchPaths(logging.Filter):
    """gin logs an error for every search path that lacks an included file, even when a later one has it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Path not found:")


logging.getLogger().addFilter(_QuietSearchPaths())


def gin_root(file: str | Path) -> Path | None:
    """The gin/ folder that holds `file` (gin/sweeps/<name>.gin -> gin/), or None if it lies in none."""
    for parent in Path(file).resolve().parents:
        if parent.name == "gin":
            return parent
    return None


def registered_choices() -> str:
    return (
        f"Registered methods: {', '.join(METHODS.names())}; datasets: {', '.join(DATASETS.names())}; "
        f"backbones: {', '.join(BACKBONES.names())}."
    )


def _parameters_of(name: str) -> str:
    """The parameters a configurable accepts, for an error about a misspelt one."""
    try:
        configurable = gin_config._REGISTRY.get_match(name)
        parameters = inspect.signature(configurable.wrapped).parameters
    except (KeyError, ValueError, TypeError, AttributeError):
        return ""
    names = [p for p in parameters if p not in ("self", "args", "kwargs")]
    return f" '{name}' accepts: {', '.join(names)}."


#: errors that gin raises for a bad config itself; anything else comes from importing a module it names
_GIN_ERRORS = (ValueError, OSError, SyntaxError, tokenize.TokenError, AttributeError, TypeError)


def _explain(error: Exception, where: str) -> ConfigError:
    """One paragraph from a gin error: gin's own message names the file and line; add the valid choices."""
    message = " ".join(line.strip() for line in str(error).splitlines() if line.strip() and line.strip() != "^")
    if not re.search(r'In (file|bindings string)', message):
        message = f"{message} (in {where})"
    if isinstance(error, ConfigError):  # raised by the suite while gin imported a module (a duplicate name)
        return ConfigError(message)
    hint = ""
    owner = re.search(r"Configurable '([\w.]+)' doesn't have a parameter", message)
    unknown = re.search(r"No configurable matching (?:reference )?'@?([\w.]+)", message)
    if isinstance(error, ImportError) or not isinstance(error, _GIN_ERRORS):
        # an `import` line: the module is missing, or importing it raised
        kind = "was not found" if isinstance(error, ImportError) else "failed to import"
        return ConfigError(
            f"Invalid gin configuration: a module named by an import statement {kind}: "
            f"{type(error).__name__}: {message}. Plugin modules that are not "
            "installed must lie in a directory on PYTHONPATH."
        )
    if owner:
        hint = _parameters_of(owner.group(1))
    elif unknown:
        hint = failure_hint(unknown.group(1).rpartition(".")[2]) or " " + registered_choices()
    return ConfigError(f"Invalid gin configuration: {message}.{hint}")


def parse(files: Sequence[str | Path], bindings: Sequence[str] = ()) -> None:
    """Clear gin, then parse `files` in order and `bindings` after them; raise ConfigError on any problem."""
    gin.clear_config()
    for file in map(Path, files):
        if not file.is_file():
            raise ConfigError(f"Gin file '{file}' does not exist (from --gin). Experiments live under gin/.")
        root = gin_root(file)
        if root is not None and str(root) not in gin_config._LOCATION_PREFIXES:
            gin.add_config_file_search_path(str(root))
        try:
            gin.parse_config_file(str(file), skip_unknown=False)
        except Exception as error:  # gin's own errors, and whatever a module named by an `import` line raises
            gin.clear_config()
            raise _explain(error, f'file "{file}"') from None
    for binding in bindings:
        try:
            gin.parse_config(binding, skip_unknown=False)
        except Exception as error:
            gin.clear_config()
            raise _explain(error, f"--gin-param '{binding}'") from None
    try:
        _check_no_broken_plugin_used(gin.config_str())
    except ConfigError:
        gin.clear_config()
        raise


def _check_no_broken_plugin_used(config_str: str) -> None:
    """Raise ConfigError if a parsed gin config uses a class that a broken plugin registered before failing."""
    for plugin in BROKEN:
        for kind, name in plugin.provides:
            if re.search(rf"(?<![\w.]){re.escape(name)}(?![\w])", config_str):
                raise ConfigError(
                    f"The gin config uses the {kind} '{name}' from the plugin {plugin.describe()}, which failed to "
                    f"load: {plugin.error}."
                )
