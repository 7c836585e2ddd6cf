"""Scenario documents that remember where each value was written, and how to name it.

A *location* is the path of keys and indexes to a value (``("steps", 2,
"fault", "for")``, written ``steps[2].fault.for``); :func:`line_of` finds its
line in a document read by :mod:`~simulator.scenarios.yaml_lines`, and the
other helpers word a value or its name for a message.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

__all__ = ["Location", "YamlMapping", "YamlSequence", "describe", "key_path", "line_of",
           "show_value", "value_name"]

Location = tuple[str | int, ...]


class YamlMapping(dict[str, Any]):
    """A YAML mapping that remembers the (1-based) line of each of its keys.

    ``repeated`` is the first key written twice in it, with both lines.
    """

    __slots__ = ("key_lines", "repeated")

    def __init__(self) -> None:
        super().__init__()
        self.key_lines: dict[str, int] = {}
        self.repeated: tuple[str, int, int] | None = None


class YamlSequence(list[Any]):
    """A YAML sequence that remembers the (1-based) line of each of its items."""

    __slots__ = ("item_lines",)

    def __init__(self, item_lines: list[int]) -> None:
        super().__init__()
        self.item_lines = item_lines


def line_of(document: YamlMapping, location: Location) -> int:
    """The line of the key or item at ``location`` (of its nearest existing ancestor)."""
    node: Any = document
    line = 1
    for part in location:
        if isinstance(node, YamlMapping) and isinstance(part, str) and part in node:
            line, node = node.key_lines[part], node[part]
        elif isinstance(node, YamlSequence) and isinstance(part, int) and part < len(node):
            line, node = node.item_lines[part], node[part]
        else:
            break
    return line


def key_path(location: Location) -> str | None:
    """``("steps", 2, "fault", "for")`` → ``steps[2].fault.for``."""
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else part
    return text or None


def value_name(location: Location) -> str:
    """How a message names the value at ``location``: ``for``, ``invariants[1]``."""
    if not location:
        return "the scenario"
    last = location[-1]
    if isinstance(last, int):
        return f"{value_name(location[:-1])}[{last}]"
    return last


def show_value(value: object, depth: int = 0) -> str:
    """A value as the user wrote it, shortened."""
    if value is None:
        text = "nothing"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int | Decimal):
        text = str(value)
    elif isinstance(value, str):
        text = repr(value)
    elif isinstance(value, dict):
        text = "{…}" if depth > 1 else "{" + ", ".join(
            f"{key}: {show_value(item, depth + 1)}" for key, item in value.items()) + "}"
    elif isinstance(value, list):
        text = "[…]" if depth > 1 else "[" + ", ".join(show_value(item, depth + 1)
                                                     for item in value) + "]"
    else:
        text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"


def describe(value: object) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return show_value(value)
