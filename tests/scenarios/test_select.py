"""Choosing scenarios with ``-k EXPR``: words match ids, tags and folders; and, or, not."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.core.errors import LendsimError
from simulator.scenarios.loader import load_scenario_text
from simulator.scenarios.model import Scenario
from simulator.scenarios.select import selector
from tests.support.scenario_text import scenario_text


def made(scenario_id: str, tags: list[str], folder: str) -> Scenario:
    """A scenario with this id and these tags, in a file under ``folder``."""
    text = scenario_text(scenario=scenario_id, tags=tags)
    return load_scenario_text(text, file=Path("scenarios") / folder / f"{scenario_id}.yaml")


DOCKING = made("docking-failure-us", ["incident", "outage"], "incident")
DST = made("us-dst-ends-on-due-date", ["calendar", "us"], "calendar")
LEAP = made("leap-day-2028", ["calendar"], "calendar")
ALL = (DOCKING, DST, LEAP)


@pytest.mark.parametrize(("expression", "chosen"), [
    ("docking", ["docking-failure-us"]),  # part of an id
    ("DST", ["us-dst-ends-on-due-date"]),  # without regard to case
    ("outage", ["docking-failure-us"]),  # a tag
    ("calendar", ["us-dst-ends-on-due-date", "leap-day-2028"]),  # tag and folder
    ("incident", ["docking-failure-us"]),  # the folder
    ("us and not calendar", ["docking-failure-us"]),
    ("leap or outage", ["docking-failure-us", "leap-day-2028"]),
    ("not (leap or outage)", ["us-dst-ends-on-due-date"]),
    ("calendar and (dst or 2028)", ["us-dst-ends-on-due-date", "leap-day-2028"]),
    ("nothing-like-this", []),
])
def test_expressions_choose_scenarios(expression: str, chosen: list[str]) -> None:
    """Each expression selects exactly the scenarios its words and operators describe."""
    keep = selector(expression)
    assert [s.id for s in ALL if keep(s)] == chosen


@pytest.mark.parametrize(("expression", "complaint"), [
    ("", "the expression is empty"),
    ("a and", "ends too early"),
    ("(a or b", "a parenthesis is not closed"),
    ("a b", "'b' is left over"),
    ("and a", "'and' where a word belongs"),
    ("a )", "')' is left over"),
])
def test_bad_expressions_name_the_mistake(expression: str, complaint: str) -> None:
    """A malformed expression raises a LendsimError quoting it and saying what is wrong."""
    with pytest.raises(LendsimError) as raised:
        selector(expression)
    message = str(raised.value)
    assert f"-k {expression!r}" in message
    assert complaint in message
    assert "and, or, not" in message
