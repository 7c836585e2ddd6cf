"""Running scenarios: a world per scenario, then the verdict against its expectations.

A scenario **passes** when the listed invariants hold except for the violations
``expect.violations`` demands — each entry must be met (at least one violation in
its scope, or exactly ``count``), and any violation outside every entry's scope
fails the scenario — when every bureau expectation (at a ``check`` step or at
the end) holds, and when every scripted fault fired (affected a call or an
event) unless it is marked ``may_not_fire``. Under ``strict_contracts`` a payload
that breaks its contract stops the run, and the scenario fails with the
violation as its ``error``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulator.checks.facts import Limits, Violation
from simulator.scenarios.model import Scenario
from simulator.world.roles import SystemFactory, SystemFailure
from simulator.world.world import CheckResult, World

__all__ = ["ScenarioResult", "run_scenario"]


@dataclass
class ScenarioResult:
    """The verdict on one scenario run, with the evidence behind it."""

    scenario: Scenario
    defects: tuple[str, ...]
    digest: str
    events: int
    seconds: float
    violations: dict[str, list[Violation]]
    checks: list[CheckResult]
    evidence: dict[int, str] = field(default_factory=dict)
    #: why the run stopped early (a contract violation under strict contracts)
    error: str | None = None
    #: scripted faults that affected nothing though they were meant to
    unfired: list[str] = field(default_factory=list)
    #: what stopped the run early: ``contract`` or ``system`` (a system under test)
    stopped_by: str = "contract"
    #: lines that explain ``error`` (a system's last stderr lines)
    details: tuple[str, ...] = ()
    #: why the scenario does not apply to the system under test (it did not run)
    skipped: str | None = None
    #: the system under test, as given (``platform=python:shop.app:app``); None: the
    #: reference parties only
    under_test: str | None = None
    #: how the scenario was adapted to the system under test, worded
    notes: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return self.scenario.id

    @property
    def violated(self) -> list[str]:
        """Invariants that were violated, in catalogue order."""
        return [name for name, found in self.violations.items() if found]

    def is_expected(self, violation: Violation) -> bool:
        """Is the violation within the scope of an entry of ``expect.violations``?"""
        return any(entry.invariant == violation.invariant
                   and entry.covers(violation.borrower, violation.installment)
                   for entry in self.scenario.expect.violations)

    @property
    def unexpected_violations(self) -> dict[str, list[Violation]]:
        """Violations outside every expected scope, by invariant."""
        found: dict[str, list[Violation]] = {}
        for name, violations in self.violations.items():
            outside = [v for v in violations if not self.is_expected(v)]
            if outside:
                found[name] = outside
        return found

    @property
    def unexpected(self) -> list[str]:
        """Invariants violated outside the scope the scenario declared, in catalogue order."""
        return list(self.unexpected_violations)

    @property
    def missing(self) -> list[str]:
        """Declared violations that did not happen as declared, worded (a system under test
        may do better than the reference parties: none are required of it)."""
        if self.under_test is not None:
            return []
        lines = []
        for entry in self.scenario.expect.violations:
            found = sum(1 for v in self.violations.get(entry.invariant, ())
                        if entry.covers(v.borrower, v.installment))
            if entry.count is not None and found != entry.count:
                lines.append(f"{entry.describe()} was expected, but it was violated {found} "
                             "time(s) in that scope")
            elif found == 0:
                lines.append(f"{entry.describe()} was expected to be violated but held")
        return lines

    @property
    def failed_checks(self) -> list[CheckResult]:
        return [check for check in self.checks if not check.holds]

    @property
    def passed(self) -> bool:
        return self.skipped is None and not (
            self.error or self.unexpected or self.missing or self.failed_checks
            or (self.unfired and self.under_test is None))

    @property
    def failed(self) -> bool:
        """Did it run and fail? (A skipped scenario neither passed nor failed.)"""
        return self.skipped is None and not self.passed

    @property
    def status(self) -> str:
        """``pass``, ``FAIL`` or ``skip``."""
        return "skip" if self.skipped is not None else "pass" if self.passed else "FAIL"

    def reasons(self) -> list[str]:
        """Why it failed, one line each, most important first."""
        lines = []
        if self.skipped is not None:
            return [f"skipped: the scenario {self.skipped}"]
        if self.error:
            lines.append(f"{self.error_label}: {self.error}")
            lines.extend(self.details)
        for name, found in self.unexpected_violations.items():
            lines.append(f"{name} violated {len(found)} time(s), first: {found[0].message}")
        lines.extend(self.unmet_expectations())
        return lines

    @property
    def error_label(self) -> str:
        """What ``error`` is: ``contract violated`` or ``system under test failed``."""
        return "system under test failed" if self.stopped_by == "system" else \
            "contract violated"

    def unmet_expectations(self) -> list[str]:
        """Declared violations that did not happen and bureau expectations that failed."""
        lines = [*self.missing, *(self.unfired if self.under_test is None else ())]
        for check in self.failed_checks:
            where = f" (line {check.line})" if check.line else ""
            lines.append(f"bureau {check.borrower} {check.period}: expected {check.expected}, "
                         f"got {check.actual} at {check.at.isoformat()}{where}")
        return lines

    def as_dict(self) -> dict[str, Any]:
        """The report shape of README, "Command line" (plus detail fields)."""
        file = self.scenario.file
        return {
            "scenario": self.id,
            "file": str(file) if isinstance(file, Path) else file,
            "passed": self.passed,
            "status": self.status,
            "error": self.error,
            "stopped_by": self.stopped_by if self.error else None,
            "details": list(self.details),
            "skipped": self.skipped,
            "under_test": self.under_test,
            "notes": list(self.notes),
            "defects": list(self.defects),
            "violations": [
                {**v.as_dict(), "expected": self.is_expected(v),
                 "entries": [self.evidence[s] for s in v.evidence if s in self.evidence]}
                for name, found in self.violations.items() for v in found
            ],
            "unexpected": self.unexpected,
            "missing": self.missing,
            "unfired": self.unfired,
            "checks": [
                {"borrower": c.borrower, "period": c.period, "expected": c.expected,
                 "actual": c.actual, "at": c.at.isoformat(), "holds": c.holds}
                for c in self.checks
            ],
            "digest": self.digest,
            "events": self.events,
            "seconds": round(self.seconds, 3),
        }


def run_scenario(scenario: Scenario, defects: tuple[str, ...] = (), *,
                 strict_contracts: bool = False,
                 progress: Callable[[float], None] | None = None,
                 inspect: Callable[[World, ScenarioResult], None] | None = None,
                 systems: Mapping[str, SystemFactory] | None = None,
                 limits: Limits | None = None, under_test: str | None = None,
                 notes: tuple[str, ...] = ()) -> ScenarioResult:
    """Build a world for ``scenario`` (with ``defects`` planted too) and run it; with
    ``strict_contracts`` every payload is checked against its contract.

    ``progress`` is told the share of the virtual time run so far (see
    :meth:`World.run`); ``inspect`` sees the finished world and the verdict while the
    journal is still open (a report reads the journal there), before it is closed.
    ``systems`` put systems under test in roles (``under_test`` names them, ``limits``
    are the bounds their profile promises, ``notes`` how the scenario was adapted).
    """
    began = time.perf_counter()
    try:
        world = World(scenario, defects, strict_contracts=strict_contracts, systems=systems,
                      limits=limits)
    except SystemFailure as failure:  # the system could not even be brought in
        return ScenarioResult(
            scenario=scenario, defects=tuple(sorted(defects)), digest="", events=0,
            seconds=time.perf_counter() - began, violations={}, checks=[],
            error=failure.message, stopped_by="system", details=failure.details,
            under_test=under_test, notes=notes)
    try:
        outcome = world.run(scenario.expect.invariants, progress=progress)
        result = ScenarioResult(
            scenario=scenario, defects=tuple(sorted(world.defects)), digest=outcome.digest,
            events=outcome.events, seconds=time.perf_counter() - began,
            violations=outcome.violations, checks=outcome.checks, evidence=outcome.evidence,
            error=outcome.error, unfired=outcome.unfired, stopped_by=outcome.stopped_by,
            details=outcome.details, skipped=outcome.skipped, under_test=under_test,
            notes=notes,
        )
        if inspect is not None:
            inspect(world, result)
    finally:
        world.journal.close()
    return result
