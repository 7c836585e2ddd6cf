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
from importlib import import_module as _import_module

if _typing.TYPE_CHECKING:
    from simulator.core.errors import LendsimError, ScenarioError, UnknownDefectError
    from simulator.scenarios.defects import DEFECTS
    from simulator.scenarios.loader import discover, load_scenario, load_scenario_text
    from simulator.scenarios.model import INVARIANTS, Scenario
    from simulator.sut.api import system_world
    from simulator.world.runner import ScenarioResult, run_scenario
    from simulator.world.world import World

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

#: the module of each public name: imported on first use, so that a command (or a worker
#: process) pays only for the layers it uses — ``lendsim --version`` none, loading
#: scenarios not the engine, ``system_world`` alone its transports, freezegun and responses
_HOMES = {
    "DEFECTS": "simulator.scenarios.defects",
    "INVARIANTS": "simulator.scenarios.model",
    "LendsimError": "simulator.core.errors",
    "Scenario": "simulator.scenarios.model",
    "ScenarioError": "simulator.core.errors",
    "ScenarioResult": "simulator.world.runner",
    "UnknownDefectError": "simulator.core.errors",
    "World": "simulator.world.world",
    "discover": "simulator.scenarios.loader",
    "load_scenario": "simulator.scenarios.loader",
    "load_scenario_text": "simulator.scenarios.loader",
    "run_scenario": "simulator.world.runner",
    "system_world": "simulator.sut.api",
}


def __getattr__(name: str) -> _typing.Any:
    """A public name, from its module (:data:`_HOMES`) on first use."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'simulator' has no attribute {name!r}")
    value = getattr(_import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
