"""Testing your own bank or platform from Python: a world around your app, driven by a test.

README, "Test your own bank or platform"::

    from lendsim import system_world

    def test_repayment_survives_an_outage():
        with system_world("scenarios/my-world.yaml", platform=create_app) as world:
            world.fault("outage", link="platform->bank", at="2026-02-01T20:00", for_="2h")
            world.repay("alice", 1, at="2026-02-01T21:00")
            world.advance("2026-02-03")
            assert world.verdict().passed, world.verdict().reasons()
            result = world.finish()
        assert result.passed, result.reasons()

``system_world`` takes the scenario (a file, YAML text or a
:class:`~simulator.scenarios.model.Scenario`) and the system under test: an app
object or factory (``platform=create_app``), or any target string
(``platform="http://127.0.0.1:8000"``). Instants are local to the scenario's
jurisdiction unless they carry an offset; steps are added at or after now. The
verdict so far is the invariants on what happened until now; :meth:`Experiment.finish`
runs the world to the scenario's end and returns the full
:class:`~simulator.world.runner.ScenarioResult`, judged like ``lendsim run --sut``.
"""

from __future__ import annotations

import time as wall
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from simulator.checks.facts import Violation
from simulator.core.calendars import jurisdiction as jurisdiction_of
from simulator.core.durations import parse_duration, parse_instant
from simulator.core.errors import LendsimError
from simulator.scenarios.loader import load_scenario, load_scenario_text
from simulator.scenarios.model import Dispute, Fault, Repay, Scenario
from simulator.sut.applicability import fit
from simulator.sut.profile import Profile, load_profile
from simulator.sut.targets import DEFAULT_TIMEOUT, Launcher, app_target, parse_target
from simulator.world.runner import ScenarioResult
from simulator.world.world import World

__all__ = ["Experiment", "Verdict", "system_world"]


@dataclass(frozen=True)
class Verdict:
    """The invariants on what happened so far, judged as if the world ended now (a
    repayment still on its way to the bank counts as not posted yet)."""

    violations: dict[str, list[Violation]] = field(default_factory=dict)

    @property
    def violated(self) -> list[str]:
        return [name for name, found in self.violations.items() if found]

    @property
    def passed(self) -> bool:
        return not self.violated

    def reasons(self) -> list[str]:
        """One line per violated invariant, with its first violation."""
        return [f"{name} violated {len(found)} time(s), first: {found[0].message}"
                for name, found in self.violations.items() if found]


class Experiment:
    """A running world with your system in a role; see :func:`system_world`."""

    def __init__(self, world: World, scenario: Scenario, under_test: str) -> None:
        self.world = world
        self.scenario = scenario
        self.under_test = under_test
        self._began = wall.perf_counter()
        self._finished: ScenarioResult | None = None

    @property
    def now(self) -> datetime:
        """The world's instant, in the jurisdiction's time zone."""
        return self.world.clock.local()

    def _instant(self, value: datetime | str | None, what: str) -> datetime:
        if value is None:
            return self.world.clock.now
        if isinstance(value, datetime):
            if value.tzinfo is None:
                return value.replace(tzinfo=self.world.clock.tz)
            return value
        try:
            return parse_instant(value, self.world.clock.tz, what=what)
        except ValueError as error:
            raise LendsimError(str(error)) from None

    def advance(self, to: datetime | str) -> None:
        """Run the world until ``to``."""
        self.world.advance(self._instant(to, "to"))
        self._raise_failure()

    def advance_by(self, duration: str) -> None:
        """Run the world for ``duration`` (``30m``, ``6h``, ``3d``)."""
        try:
            step = parse_duration(duration, what="duration")
        except ValueError as error:
            raise LendsimError(str(error)) from None
        self.advance(self.world.clock.now + step)

    def repay(self, borrower: str, installment: int = 1, *, at: datetime | str | None = None,
              via: str = "platform", amount: Decimal | str | None = None) -> None:
        """The borrower repays (all that is due, unless ``amount`` in major units)."""
        if via not in ("platform", "bank"):
            raise LendsimError(f"via must be platform or bank (got {via!r})")
        minor = None if amount is None else int(Decimal(str(amount)).scaleb(2))
        self.world.plan(Repay(borrower, installment, via=via,  # type: ignore[arg-type]
                              amount=minor), self._instant(at, "at"))

    def dispute(self, borrower: str, period: str, *, at: datetime | str | None = None) -> None:
        """The borrower disputes a period (``YYYY-MM``) of their credit file."""
        self.world.plan(Dispute(borrower, period), self._instant(at, "at"))

    def fault(self, kind: str, *, link: str | None = None, party: str | None = None,
              at: datetime | str | None = None, for_: str | None = None,
              until: datetime | str | None = None, status: int | None = None,
              by: str | None = None, rate: str | None = None) -> None:
        """A fault from ``at`` (default now) ``for_`` a duration or ``until`` an instant."""
        start = self._instant(at, "at")
        if (for_ is None) == (until is None):
            raise LendsimError("a fault needs exactly one of for_ and until")
        try:
            end = start + parse_duration(for_, what="for") if for_ is not None else \
                self._instant(until, "until")
            delay = parse_duration(by, what="by") if by is not None else None
        except ValueError as error:
            raise LendsimError(str(error)) from None
        if (link is None) == (party is None):
            raise LendsimError("a fault needs a link (outage, error, …) or a party (crash)")
        self.world.plan(Fault(kind, start, end, link=link, party=party,  # type: ignore[arg-type]
                              by=delay, status=status,
                              rate=Decimal(rate) if rate is not None else None), start)

    def verdict(self) -> Verdict:
        """The invariants on what happened until now."""
        self._raise_failure()
        return Verdict(self.world.judge(self.scenario.expect.invariants))

    def finish(self) -> ScenarioResult:
        """Run to the scenario's end; the result, judged like ``lendsim run --sut``."""
        if self._finished is not None:
            return self._finished
        world = self.world
        world.advance(self.scenario.until)
        self._raise_failure()
        outcome = world.finish(self.scenario.expect.invariants)
        self._finished = ScenarioResult(
            scenario=self.scenario, defects=tuple(sorted(world.defects)),
            digest=outcome.digest, events=outcome.events,
            seconds=wall.perf_counter() - self._began, violations=outcome.violations,
            checks=outcome.checks, evidence=outcome.evidence, unfired=outcome.unfired,
            under_test=self.under_test)
        return self._finished

    def _raise_failure(self) -> None:
        for party in self.world.parties.values():
            failure = getattr(party, "failure", None)
            if failure is not None:
                raise failure


def _scenario(source: Scenario | Path | str) -> Scenario:
    if isinstance(source, Scenario):
        return source
    if isinstance(source, Path) or "\n" not in source:
        return load_scenario(Path(source))
    return load_scenario_text(source)


@contextmanager
def system_world(scenario: Scenario | Path | str, *, bank: Any = None, platform: Any = None,
                 profile: Profile | Path | str | None = None,
                 timeout: float = DEFAULT_TIMEOUT) -> Iterator[Experiment]:
    """A world of ``scenario`` with your bank or platform in its role (an app, a factory, or
    a target string), started and ready to drive; released at the end of the block."""
    systems = {role: given for role, given in (("bank", bank), ("platform", platform))
               if given is not None}
    if len(systems) != 1:
        raise LendsimError("give exactly one system under test: bank=… or platform=…")
    ((role, given),) = systems.items()
    spec = parse_target(role, given) if isinstance(given, str) else app_target(role, given)
    chosen = profile if isinstance(profile, Profile) else \
        load_profile(Path(profile), role=role) if profile is not None else Profile.default(role)
    loaded = _scenario(scenario)
    fitted = fit(loaded, chosen)
    if fitted.skip is not None:
        raise LendsimError(f"the scenario {fitted.skip}")
    launcher = Launcher(spec, timeout=timeout, app=None if isinstance(given, str) else given)
    try:
        world = World(fitted.scenario, systems={role: launcher.factory},
                      limits=chosen.limits(jurisdiction_of(loaded.jurisdiction)))
        try:
            world.begin()
            yield Experiment(world, fitted.scenario, spec.text)
        finally:
            world.close()
            world.journal.close()
    finally:
        launcher.close()
