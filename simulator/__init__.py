"""lendsim: a lender-integration simulator and contract-test harness.

A simulated bank, credit bureau and platform run time-travelling scenarios;
lendsim checks that no borrower is falsely reported overdue, no repayment is
lost or posted twice, and every true delinquency is still reported::

    from simulator import load_scenario, run_scenario

    scenario = load_scenario(Path("scenarios/incident/docking-failure-correct-bank.yaml"))
    result = run_scenario(scenario)
    assert result.passed, result.reasons()

and put your own bank or platform in a world (README, "Test your own bank or platform")::

    from simulator import system_world

    with system_world("scenarios/my-world.yaml", platform=create_app) as world:
        world.repay("alice", 1, at="2026-02-01T21:00")
        assert world.finish().passed
"""

import typing as _typing

from simulator.core.errors import LendsimError, ScenarioError, UnknownDefectError
from simulator.scenarios.defects import DEFECTS
from simulator.scenarios.loader import discover, load_scenario, load_scenario_text
from simulator.scenarios.model import INVARIANTS, Scenario
from simulator.world.runner import ScenarioResult, run_scenario
from simulator.world.world import World

if _typing.TYPE_CHECKING:
    from simulator.sut.api import system_world

__all__ = [
    "DEFECTS",
    "INVARIANTS",
    "LendsimError",
    "Scenario",
    "ScenarioError",
    "ScenarioResult",
    "UnknownDefectError",
    "World",
    "discover",
    "load_scenario",
    "load_scenario_text",
    "run_scenario",
    "system_world",
]


def __getattr__(name: str) -> _typing.Any:
    """``system_world`` is imported on first use, so its layer (transports, freezegun,
    responses) is not paid for by every command that never runs a system under test."""
    if name == "system_world":
        from simulator.sut.api import system_world

        globals()[name] = system_world
        return system_world
    raise AttributeError(f"module 'simulator' has no attribute {name!r}")
