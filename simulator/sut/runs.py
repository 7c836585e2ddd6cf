"""Scenario runs with a system under test: which apply, and each run with the system in
its role.

:class:`SystemRun` says which system and how (picklable: a worker process of
``lendsim run -j`` builds its own :class:`~simulator.sut.targets.Launcher` from it,
once, and keeps it for every scenario it runs). :func:`run_with_system` runs one
scenario: skipped with its reason when it does not apply
(:mod:`simulator.sut.applicability`), else judged by every invariant with the
bounds of the system's profile.
"""

from __future__ import annotations

import atexit
from collections.abc import Callable
from dataclasses import dataclass

from simulator.core.calendars import jurisdiction as jurisdiction_of
from simulator.scenarios.model import Scenario
from simulator.sut.applicability import fit
from simulator.sut.profile import Profile
from simulator.sut.targets import DEFAULT_TIMEOUT, Launcher, TargetSpec
from simulator.world.runner import ScenarioResult, run_scenario
from simulator.world.world import World

__all__ = ["SystemRun", "launcher_for", "run_with_system"]


@dataclass(frozen=True)
class SystemRun:
    """A system under test, its profile, and how long lendsim waits for it."""

    spec: TargetSpec
    profile: Profile
    timeout: float = DEFAULT_TIMEOUT


_launchers: dict[tuple[TargetSpec, float], Launcher] = {}


def launcher_for(system: SystemRun) -> Launcher:
    """This process's launcher for ``system`` (built once: a ``python:`` app is imported
    once), released when the process exits."""
    key = (system.spec, system.timeout)
    found = _launchers.get(key)
    if found is None:
        if not _launchers:
            atexit.register(close_launchers)
        found = _launchers[key] = Launcher(system.spec, timeout=system.timeout)
    return found


def close_launchers() -> None:
    """Release every launcher of this process."""
    while _launchers:
        _, launcher = _launchers.popitem()
        launcher.close()


def run_with_system(scenario: Scenario, system: SystemRun, defects: tuple[str, ...] = (), *,
                    strict_contracts: bool = False,
                    progress: Callable[[float], None] | None = None,
                    inspect: Callable[[World, ScenarioResult], None] | None = None
                    ) -> ScenarioResult:
    """Run ``scenario`` (with ``defects`` planted in reference parties) with ``system`` in
    its role, or skip it, saying why."""
    spec, profile = system.spec, system.profile
    fitted = fit(scenario, profile, defects)
    if fitted.skip is not None:
        return ScenarioResult(scenario=scenario,
                              defects=tuple(sorted({*scenario.defects, *defects})),
                              digest="", events=0, seconds=0.0, violations={}, checks=[],
                              skipped=fitted.skip, under_test=spec.text)
    launcher = launcher_for(system)
    return run_scenario(
        fitted.scenario, defects, strict_contracts=strict_contracts, progress=progress,
        inspect=inspect, systems={spec.role: launcher.factory},
        limits=profile.limits(jurisdiction_of(scenario.jurisdiction)), under_test=spec.text,
        notes=fitted.notes)
