"""Scenario YAML read with libyaml's help gives what PyYAML alone gives: the same values,
the same lines, the same errors (simulator.scenarios.yaml_lines)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.core.errors import ScenarioError
from simulator.core.locator import data_path
from simulator.scenarios.loader import discover
from simulator.scenarios.positions import YamlMapping, YamlSequence
from simulator.scenarios.yaml_lines import _UNREAD, _read_fast, parse_yaml

DATA = Path(__file__).resolve().parents[1] / "data"
LIBRARY = discover([data_path("scenarios")])
FIXTURES = discover([DATA])
TEXTS = [path.read_text(encoding="utf-8") for path in LIBRARY + FIXTURES]

needs_libyaml = pytest.mark.skipif(not yaml.__with_libyaml__, reason="PyYAML without libyaml")


def shape(value: Any) -> Any:
    """A value with everything the loader remembers of it: types, key and item lines."""
    if isinstance(value, YamlMapping):
        return ("mapping", value.repeated, [(key, value.key_lines[key], shape(item))
                                            for key, item in value.items()])
    if isinstance(value, YamlSequence):
        return ("sequence", [(line, shape(item))
                             for line, item in zip(value.item_lines, value, strict=True)])
    return (type(value).__name__, value)


def read(text: str, *, libyaml: bool) -> Any:
    """The shape of the document, or the error as it prints (file, line, key, message)."""
    try:
        return shape(parse_yaml(text, "s.yaml", libyaml=libyaml))
    except ScenarioError as error:
        return ("error", str(error))


@needs_libyaml
@pytest.mark.parametrize("path", LIBRARY + FIXTURES, ids=lambda path: path.name)
def test_every_file_reads_the_same(path: Path) -> None:
    """Every library scenario and test fixture reads the same with libyaml as without."""
    text = path.read_text(encoding="utf-8")
    assert read(text, libyaml=True) == read(text, libyaml=False)


@needs_libyaml
def test_the_library_is_read_by_libyaml() -> None:
    """No library scenario is left to PyYAML alone (which is ten times slower)."""
    left = [path.name for path in LIBRARY
            if _read_fast(path.read_text(encoding="utf-8"), str(path)) is _UNREAD]
    assert left == []


@needs_libyaml
@pytest.mark.parametrize("text", [
    pytest.param("a: 1\n\tb: 2\n", id="tab-indent"),
    pytest.param("a: x\t\n", id="trailing-tab"),
    pytest.param("a: {b: 2026-? 01-01}\n", id="question-mark-in-flow"),
    pytest.param("a: !\n", id="empty-tag"),
    pytest.param("!!binary YQ==: !*x!b c\n", id="odd-tag"),
    pytest.param("a: >#\n  x\n", id="comment-after-block-indicator"),
    pytest.param("a: 1\n\ufeff\nb: 2\n", id="byte-order-mark-inside"),
    pytest.param("a: " + "[" * 2000 + "]" * 2000 + "\n", id="deeper-than-libyaml-allows"),
    pytest.param("a: [1, 2\n", id="unclosed"),
    pytest.param("a: *nowhere\n", id="unknown-alias"),
    pytest.param("a: 1\n---\nb: 2\n", id="two-documents"),
    pytest.param("a: 1\x07\n", id="control-character"),
    pytest.param("", id="empty"),
])
def test_texts_libyaml_reads_otherwise(text: str) -> None:
    """Texts that libyaml alone reads otherwise than PyYAML, or refuses with other words,
    read (or fail) exactly as with PyYAML alone."""
    assert read(text, libyaml=True) == read(text, libyaml=False)


_PIECES = ["\n", " ", "  ", "- ", ": ", "a", "[", "]", "{", "}", ",", "'", '"', "#", "|", ">",
           "&x ", "*x", "<<: *x", "1.5", "010", "~", "---", "...", "\r\n", "\x85", "\u2028",
           "é", "中", "\\", "%YAML 1.1\n", "key: [1, {b: c}]\n"]


@needs_libyaml
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(TEXTS), st.lists(st.tuples(st.floats(0, 1), st.integers(0, 3),
                                                  st.sampled_from(_PIECES)),
                                        min_size=1, max_size=3))
def test_edited_files_read_the_same(text: str, edits: list[tuple[float, int, str]]) -> None:
    """A library file or fixture with a few pieces of YAML syntax written over it reads (or
    fails) exactly as with PyYAML alone."""
    for where, cut, piece in edits:
        at = int(where * len(text))
        text = text[:at] + piece + text[at + cut:]
    assert read(text, libyaml=True) == read(text, libyaml=False)
