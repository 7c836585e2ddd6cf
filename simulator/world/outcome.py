"""What a finished world run produced: its digest, the violations, the bureau checks."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from simulator.checks.facts import Violation

__all__ = ["CheckResult", "WorldOutcome"]


@dataclass(frozen=True, slots=True)
class CheckResult:
    """A bureau expectation compared with what the bureau held."""

    borrower: str
    period: str
    expected: str
    actual: str
    at: datetime
    line: int | None

    @property
    def holds(self) -> bool:
        return self.expected == self.actual


@dataclass
class WorldOutcome:
    """What a finished run produced."""

    digest: str
    events: int
    violations: dict[str, list[Violation]]
    checks: list[CheckResult]
    evidence: dict[int, str] = field(default_factory=dict)
    #: why the run stopped early (a contract violation); the invariants were not checked
    error: str | None = None
    #: scripted faults that affected nothing (and were not marked as allowed to)
    unfired: list[str] = field(default_factory=list)
    #: what stopped the run early: ``contract`` (a payload broke its contract) or
    #: ``system`` (a system under test could not go on)
    stopped_by: str = "contract"
    #: lines that explain ``error`` (a system's last stderr lines)
    details: tuple[str, ...] = ()
    #: why the scenario does not apply (a system asked for what it does not offer)
    skipped: str | None = None
