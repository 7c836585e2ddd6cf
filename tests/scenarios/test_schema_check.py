"""The scenario schema checked with its references inlined reports what the schema as
written reports (simulator.scenarios.schema_check)."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from simulator.core.errors import ScenarioError, ScenarioErrors
from simulator.core.locator import contract_path, data_path
from simulator.scenarios import schema_check
from simulator.scenarios.loader import discover
from simulator.scenarios.positions import YamlMapping, YamlSequence
from simulator.scenarios.yaml_lines import parse_yaml

DATA = Path(__file__).resolve().parents[1] / "data"


def documents() -> list[YamlMapping]:
    """Every library scenario and test fixture that reads as YAML."""
    found = []
    for path in discover([data_path("scenarios"), DATA]):
        try:
            found.append(parse_yaml(path.read_text(encoding="utf-8"), str(path)))
        except ScenarioError:
            continue
    return found


DOCUMENTS = documents()


@pytest.fixture(scope="module")
def as_written() -> Draft202012Validator:
    """A validator of the scenario schema exactly as the contract file writes it."""
    with contract_path("scenario.schema.json").open(encoding="utf-8") as stream:
        return Draft202012Validator(json.load(stream, parse_float=Decimal))


def reported(document: YamlMapping) -> list[str]:
    """What the loader reports of a document's schema mistakes, one line each."""
    try:
        schema_check.validate_document(document, "s.yaml")
    except ScenarioErrors as errors:
        return [str(error) for error in errors.errors]
    except ScenarioError as error:
        return [str(error)]
    return []


def reported_as_written(document: YamlMapping, validator: Draft202012Validator,
                        monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """:func:`reported`, with the schema as written."""
    with monkeypatch.context() as patched:
        patched.setattr(schema_check, "_validator", lambda name="": validator)
        return reported(document)


def test_same_errors_for_every_file(as_written: Draft202012Validator,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Every library scenario and fixture gets the same messages either way."""
    for document in DOCUMENTS:
        assert reported(document) == reported_as_written(document, as_written, monkeypatch)


def paths(value: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The location of every value in a document."""
    found = [at]
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*at, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths(item, (*at, index))
    return found


_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5_000), st.sampled_from(
        ["", "x", "alice", "bank", "recon", "2026-01-02T00:00", "1h", "0s", "crash", "none",
         "on_due_date", "overdue", "2026-13", Decimal("0.005"), Decimal("-1")]),
    st.builds(lambda: YamlSequence([])))


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.sampled_from(DOCUMENTS), st.data())
def test_same_errors_for_edited_documents(as_written: Draft202012Validator,
                                          monkeypatch: pytest.MonkeyPatch,
                                          document: YamlMapping, data: st.DataObject) -> None:
    """A library document with one value replaced or one key dropped gets the same
    messages either way."""
    document = copy.deepcopy(document)
    where = data.draw(st.sampled_from(paths(document)[1:]))
    parent: Any = document
    for part in where[:-1]:
        parent = parent[part]
    if isinstance(parent, dict) and data.draw(st.booleans()):
        del parent[where[-1]]
    else:
        parent[where[-1]] = data.draw(_VALUES)
    assert reported(document) == reported_as_written(document, as_written, monkeypatch)
