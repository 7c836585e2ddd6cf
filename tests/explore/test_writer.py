"""Scenario files written back from the model: readable, and loaded back as the same scenario."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from simulator.explore.writer import scenario_yaml
from simulator.scenarios.loader import discover, load_scenario, load_scenario_text
from simulator.scenarios.model import Fault, Repay, Scenario, Step
from tests.support.positions import positionless
from tests.support.scenario_text import scenario_text

LIBRARY = Path(__file__).resolve().parents[2] / "scenarios"


def without_personal_data(scenario: Scenario) -> Scenario:
    """The scenario with its borrowers' personal data blanked (the writer leaves it out)."""
    return dataclasses.replace(positionless(scenario), borrowers=tuple(
        dataclasses.replace(b, name="", id_number="", phone="") for b in scenario.borrowers))


def in_utc(value: Any) -> Any:
    """``value`` with every instant in it (in dataclasses and tuples) moved to UTC: an instant
    in New York's repeated hour never equals the same instant with a fixed offset."""
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if isinstance(value, tuple):
        return tuple(in_utc(item) for item in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(value, **{  # type: ignore[misc]
            f.name: in_utc(getattr(value, f.name)) for f in dataclasses.fields(value)
            if f.init})
    return value


#: the library but its scale scenarios (thousands of generated borrowers: slow, and nothing new)
SMALL = [path for path in discover([LIBRARY]) if "scale" not in path.parts]


@pytest.mark.parametrize("path", SMALL, ids=lambda p: p.stem)
def test_every_library_scenario_reads_back_as_itself(path: Path) -> None:
    """Each library scenario, written by the writer and loaded again, is the same scenario
    (personal data aside: a file written from the model never carries it; an instant with
    its offset in the file may read back in the zone, the same instant)."""
    scenario = load_scenario(path)
    again = load_scenario_text(scenario_yaml(scenario))
    assert in_utc(without_personal_data(again)) == in_utc(without_personal_data(scenario))


def test_named_borrowers_get_the_same_personal_data_back() -> None:
    """A borrower without personal data in the file gets, read back, the same generated name,
    ID number and phone (they derive from the handle and the seed)."""
    scenario = load_scenario_text(scenario_text(seed=41))
    again = load_scenario_text(scenario_yaml(scenario))
    assert [(b.name, b.id_number, b.phone) for b in again.borrowers] == \
        [(b.name, b.id_number, b.phone) for b in scenario.borrowers]


def test_defaults_are_left_out_and_money_is_in_major_units() -> None:
    """Only what differs from a default is written; 1 minor unit is 0.01, amounts keep two
    decimals; a step is one line under its instant."""
    scenario = load_scenario_text(scenario_text())
    step = Step(scenario.start + timedelta(days=40), Repay("alice", 1, amount=123456))
    text = scenario_yaml(dataclasses.replace(scenario, steps=(step,)))
    assert "world:" not in text and "expect:" not in text
    assert "    repay: {borrower: alice, installment: 1, amount: 1234.56}\n" in text
    tiny = dataclasses.replace(scenario, steps=(
        Step(step.at, Repay("alice", 1, short_by=1)),))
    assert "short_by: 0.01}" in scenario_yaml(tiny)


def test_the_repeated_hour_gets_its_offset() -> None:
    """When New York falls back (2026-11-01), 01:30 happens twice: the second one is written
    with its offset -05:00, the first without (a local time reads as the first)."""
    scenario = load_scenario_text(scenario_text(jurisdiction="US"))
    first = datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT
    second = datetime(2026, 11, 1, 6, 30, tzinfo=UTC)  # 01:30 EST
    steps = tuple(Step(at, Fault("outage", at, at + timedelta(minutes=10),
                                 link="platform->bank")) for at in (first, second))
    until = datetime(2026, 12, 1, tzinfo=UTC)
    text = scenario_yaml(dataclasses.replace(scenario, steps=steps, until=until))
    assert "  - at: 2026-11-01T01:30\n" in text
    assert "  - at: 2026-11-01T01:30-05:00\n" in text
    again = load_scenario_text(text)
    assert [step.at.astimezone(UTC) for step in again.steps] == [first, second]
