"""Scenarios compared without the file and line positions the loader records."""

from __future__ import annotations

import dataclasses

from simulator.scenarios.model import Check, Fault, Scenario, Step

__all__ = ["positionless"]


def _step(step: Step) -> Step:
    action = step.action
    if isinstance(action, Fault):
        action = dataclasses.replace(action, line=None)
    elif isinstance(action, Check):
        action = Check(tuple(dataclasses.replace(e, line=None) for e in action.bureau))
    return dataclasses.replace(step, action=action, line=None)


def positionless(scenario: Scenario) -> Scenario:
    """``scenario`` without its file and the line numbers the loader records."""
    expect = scenario.expect
    expect = dataclasses.replace(
        expect, violations=tuple(dataclasses.replace(v, line=None) for v in expect.violations),
        bureau=tuple(dataclasses.replace(b, line=None) for b in expect.bureau))
    return dataclasses.replace(scenario, file=None, expect=expect,
                               steps=tuple(_step(step) for step in scenario.steps))
