"""The Python API: a test builds a world around its own app, drives time and faults, and
asserts on the verdict."""

from __future__ import annotations

import pytest

from simulator import system_world
from simulator.core.errors import LendsimError
from tests.support import systems
from tests.support.scenario_text import scenario_text


def test_a_test_drives_its_platform_through_an_outage() -> None:
    """An app factory given directly passes an outage the test scripts step by step."""
    with system_world(scenario_text(), platform=systems.platform) as world:
        world.fault("outage", link="platform->bank", at="2026-02-01T20:00", for_="2h")
        world.repay("alice", 1, at="2026-02-01T21:00")
        world.advance("2026-02-01T21:30")
        assert world.now.isoformat().startswith("2026-02-01T21:30")
        world.advance_by("2d")
        assert world.verdict().passed, world.verdict().reasons()
        result = world.finish()
    assert result.passed, result.reasons()
    assert result.under_test == "platform=python:tests.support.systems:platform"


def test_the_verdict_names_what_a_buggy_platform_did() -> None:
    """A platform that never retries is seen by the verdict once the forward is overdue."""
    with system_world(scenario_text(), platform=systems.platform_no_retry) as world:
        world.fault("outage", link="platform->bank", at="2026-02-01T20:00", for_="2h")
        world.repay("alice", 1, at="2026-02-01T21:00")
        world.advance("2026-02-04")
        verdict = world.verdict()
    assert "in_transit_bounded" in verdict.violated, verdict.reasons()


@pytest.mark.parametrize(("call", "expected"), [
    (lambda w: w.advance("2025-12-31"), "cannot go back in time"),
    (lambda w: w.repay("alice", at="2025-12-31T10:00"), "is in the past"),
    (lambda w: w.fault("outage", link="platform->bank"), "exactly one of for_ and until"),
    (lambda w: w.fault("outage", for_="1h"), "a link .* or a party"),
    (lambda w: w.advance_by("soon"), "a duration like 30m"),
])
def test_mistakes_in_a_test_are_clear_errors(call: object, expected: str) -> None:
    """Driving a world wrongly raises a LendsimError saying what was expected."""
    with system_world(scenario_text(), platform=systems.platform) as world, \
            pytest.raises(LendsimError, match=expected):
        call(world)  # type: ignore[operator]


def test_exactly_one_system_is_required() -> None:
    """Neither or both systems is a clear error."""
    with pytest.raises(LendsimError, match="exactly one system under test"), \
            system_world(scenario_text()):
        pass
