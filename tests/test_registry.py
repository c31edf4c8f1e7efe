"""Registries: gin sees what they register; unknown and duplicate names are clear errors."""

from __future__ import annotations

import gin
import pytest

from benchsuite.errors import ConfigError
from benchsuite.registry import METHODS, Registry


def test_registration_lets_gin_bind_the_class_and_leaves_it_plain_python():
    registry = Registry("widget")

    @registry.register("TestWidgetForGin")
    class Widget:
        def __init__(self, size: int = 1) -> None:
            self.size = size

    gin.clear_config()
    gin.parse_config("TestWidgetForGin.size = 7")
    try:
        assert registry.configured("TestWidgetForGin")().size == 7
        # as a gin file binds it
        assert gin.config.parse_value("@TestWidgetForGin()").scoped_configurable_fn().size == 7
        assert registry.get("TestWidgetForGin") is Widget and Widget().size == 1  # in Python, the class ignores gin
        assert registry.names() == ["TestWidgetForGin"]
    finally:
        gin.clear_config()


def test_unknown_name_lists_the_choices():
    with pytest.raises(ConfigError, match=r"Unknown method 'Nope'.*ERM.*SimCLR"):
        METHODS.get("Nope")


def test_duplicate_name_names_both_sources():
    registry = Registry("widget")

    @registry.register("TestWidgetTwice")
    class First:
        pass

    class Second:
        pass

    with pytest.raises(ConfigError, match=r"First.*Second"):
        registry.register("TestWidgetTwice")(Second)
