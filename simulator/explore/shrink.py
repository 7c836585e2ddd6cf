"""Shrinking a failing world to a minimal scenario that still violates the same invariant.

Delta debugging (Zeller and Hildebrandt, "Simplifying and Isolating Failure-Inducing
Input", TSE 2002) on the scenario's own parts, then simplification passes, repeated
until nothing more can go:

1. **ddmin** over the borrowers (a borrower goes with their steps), then over the steps —
   repayments, faults, disputes: a 1-minimal set, where removing any one part makes
   the violation disappear;
2. **an earlier end** (binary search on whole days) and **fewer installments**;
3. **defaults**: each contract term and operational setting back to its default;
4. **simpler parts**: fault windows shortened (halved from either end, to whole
   minutes), delays shortened, an error's rate 1 and status 503, a repayment of what is
   due rather than an amount, at the counter → in the app, instants on the hour;
   loans of round principal, rate 0 or 12 %, equal installments, habits closer to 0 days.

A world's declared harms (``expect.violations``) are never dropped to make a candidate
pass, but those the shrunk world no longer shows are, at the end: the file declares only
what happens in it, so ``lendsim run`` fails on the target alone.

Every candidate is written as a scenario file and loaded back
(:func:`~simulator.scenarios.loader.load_scenario_text`) before it is run, so one the
loader would refuse is never kept, and the result is a file ``lendsim run`` reproduces.
Runs are deterministic, so each candidate runs once (answers are cached by text).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TypeVar

from simulator.core.errors import ScenarioError
from simulator.explore.runs import EXCEPTION, SYSTEM_FAILED, Played, play
from simulator.explore.writer import scenario_yaml
from simulator.scenarios.loader import load_scenario_text
from simulator.scenarios.model import (
    BankPolicy,
    Borrower,
    Check,
    ContractTerms,
    Dispute,
    Fault,
    Pays,
    PlatformPolicy,
    Repay,
    Scenario,
    Step,
)
from simulator.sut.runs import SystemRun

__all__ = ["Shrunk", "ddmin", "shrink"]

T = TypeVar("T")
_MINUTE = timedelta(minutes=1)


def ddmin(items: Sequence[T], fails: Callable[[list[T]], bool]) -> list[T]:
    """A 1-minimal sublist of ``items`` (in order) for which ``fails`` still holds, assuming
    it holds for ``items`` itself (Zeller's ddmin, with the empty list tried first)."""
    current = list(items)
    if current and fails([]):
        return []
    granularity = 2
    while len(current) >= 2:
        size = len(current)
        bounds = [size * i // granularity for i in range(granularity + 1)]
        chunks = [current[bounds[i]:bounds[i + 1]] for i in range(granularity)]
        for chunk in chunks:
            if len(chunk) < size and fails(chunk):
                current, granularity = chunk, 2
                break
        else:
            for index in range(granularity):
                rest = [x for i, c in enumerate(chunks) if i != index for x in c]
                if len(rest) < size and fails(rest):
                    current, granularity = rest, max(granularity - 1, 2)
                    break
            else:
                if granularity >= size:
                    break
                granularity = min(size, granularity * 2)
    if len(current) == 1 and fails([]):
        return []
    return current


@dataclass(frozen=True, slots=True)
class Shrunk:
    """A shrunk scenario: its file text, and what the shrinking cost."""

    target: str
    text: str
    scenario: Scenario
    played: Played
    evaluations: int
    seconds: float
    original_lines: int
    #: True when the evaluation budget ran out before a fixpoint
    exhausted: bool

    @property
    def lines(self) -> int:
        return self.text.count("\n")


def _weight(text: str) -> tuple[int, int]:
    """How complex a scenario file reads: its length, then the sum of its digits (so
    14:00 is simpler than 14:09, 1900.00 than 1907.84, 1 month than 3); a simplification
    must lower it, so shrinking never goes round in circles."""
    return len(text), sum(int(char) for char in text if char.isdigit())


class _Budget(Exception):
    """The evaluation budget is spent: keep the best so far."""


class _Shrinker:
    def __init__(self, target: str, defects: tuple[str, ...], budget: int,
                 error_site: str | None, system: SystemRun | None) -> None:
        self.target = target
        self.system = system
        self.defects = defects
        self.budget = budget
        self.error_site = error_site
        self.evaluations = 0
        self.cache: dict[str, bool] = {}
        self.best: tuple[Scenario, str, Played] | None = None

    def holds(self, played: Played) -> bool:
        if self.target == EXCEPTION:
            return played.error_site == self.error_site
        if self.target == SYSTEM_FAILED:
            return played.failure is not None
        return self.target in played.counts

    def fails(self, candidate: Scenario) -> bool:
        """Does ``candidate`` load and still violate the target? (cached by its text)"""
        text = scenario_yaml(candidate)
        known = self.cache.get(text)
        if known is not None:
            return known
        if self.evaluations >= self.budget:
            raise _Budget
        self.evaluations += 1
        try:
            loaded = load_scenario_text(text)
        except ScenarioError:
            self.cache[text] = False
            return False
        played = play(loaded, self.defects, self.system)
        found = self.cache[text] = self.holds(played)
        if found and (self.best is None or len(text) <= len(self.best[1])):
            self.best = (candidate, text, played)
        return found

    def keep(self, current: Scenario, candidates: Iterator[Scenario]) -> Scenario:
        """The first simpler candidate that still fails, else ``current``."""
        weight = _weight(scenario_yaml(current))
        for candidate in candidates:
            if _weight(scenario_yaml(candidate)) < weight and self.fails(candidate):
                return candidate
        return current


def _without_borrowers(scenario: Scenario, keep: list[Borrower]) -> Scenario:
    handles = {b.id for b in keep}

    def kept(step: Step) -> bool:
        action = step.action
        if isinstance(action, Repay | Dispute):
            return action.borrower in handles
        if isinstance(action, Check):
            return all(e.borrower in handles for e in action.bureau)
        return True

    return dataclasses.replace(scenario, borrowers=tuple(keep),
                               steps=tuple(s for s in scenario.steps if kept(s)))


def _later(instant: datetime, by: timedelta) -> datetime:
    return (instant.astimezone(UTC) + by).astimezone(instant.tzinfo)


def _minutes(duration: timedelta) -> timedelta:
    return max(_MINUTE, timedelta(minutes=int(duration.total_seconds() // 60)))


def _fault_variants(step: Step, fault: Fault) -> Iterator[Step]:
    if fault.by is not None and fault.by > _MINUTE:
        shorter = _minutes(fault.by / 2)
        yield dataclasses.replace(step, action=dataclasses.replace(fault, by=shorter))
    if fault.kind == "error":
        if fault.rate is not None and fault.rate != 1:
            yield dataclasses.replace(step, action=dataclasses.replace(fault, rate=Decimal(1)))
        if fault.status != 503:
            yield dataclasses.replace(step, action=dataclasses.replace(fault, status=503))


def _window(step: Step, minutes: int, *, keep_start: bool) -> Step:
    """The fault of ``step`` lasting ``minutes``, from its start or up to its end."""
    fault = step.action
    assert isinstance(fault, Fault)
    length = timedelta(minutes=minutes)
    if keep_start:
        return dataclasses.replace(step, action=dataclasses.replace(
            fault, end=_later(fault.start, length)))
    start = _later(fault.end, -length)
    return dataclasses.replace(step, at=start, action=dataclasses.replace(fault, start=start))


def _on_the_hour(instant: datetime) -> datetime | None:
    local = instant.replace(minute=0, second=0, microsecond=0)
    return local if local != instant else None


def _amount(repay: Repay, amount: int) -> Repay:
    return dataclasses.replace(repay, amount=amount)


def _short_by(repay: Repay, short_by: int) -> Repay:
    return dataclasses.replace(repay, short_by=short_by)


def _step_variants(step: Step) -> Iterator[Step]:
    action = step.action
    if isinstance(action, Fault):
        yield from _fault_variants(step, action)
        return
    if isinstance(action, Repay):
        if action.amount is not None or action.short_by is not None:
            yield dataclasses.replace(step, action=dataclasses.replace(
                action, amount=None, short_by=None))
        for value, simplify in ((action.amount, _amount), (action.short_by, _short_by)):
            if value is not None:
                for simpler in (100 * round(value / 100), 100 * (value // 100), 1):
                    if 0 < simpler != value:
                        yield dataclasses.replace(step, action=simplify(action, simpler))
        if action.via != "platform":
            yield dataclasses.replace(step, action=dataclasses.replace(action, via="platform"))
    hour = _on_the_hour(step.at)
    if hour is not None:
        yield dataclasses.replace(step, at=hour)


def _replace_step(scenario: Scenario, index: int, step: Step) -> Scenario:
    steps = list(scenario.steps)
    steps[index] = step
    return dataclasses.replace(scenario, steps=tuple(steps))


def _with_borrower(scenario: Scenario, index: int, borrower: Borrower) -> Scenario:
    borrowers = list(scenario.borrowers)
    borrowers[index] = borrower
    return dataclasses.replace(scenario, borrowers=tuple(borrowers))


def _in_order(scenario: Scenario) -> Scenario:
    """Steps in the order of their instants, as a person writes them (ties keep their
    order, as the world runs them)."""
    return dataclasses.replace(scenario, steps=tuple(sorted(
        scenario.steps, key=lambda s: s.at.astimezone(UTC))))


def _loan_variants(borrower: Borrower) -> Iterator[Borrower]:
    loan = borrower.loan
    for principal in (100_000, 1_000_000, 100 * round(loan.principal / 100),
                      100_000 * max(1, round(loan.principal / 100_000))):
        if principal != loan.principal:
            yield dataclasses.replace(borrower, loan=dataclasses.replace(loan, principal=principal))
    for rate in ("0", "0.12"):
        if Decimal(rate) != loan.annual_rate:
            yield dataclasses.replace(borrower, loan=dataclasses.replace(
                loan, annual_rate=Decimal(rate)))
    if loan.method != "equal_installment":
        yield dataclasses.replace(borrower, loan=dataclasses.replace(
            loan, method="equal_installment"))
    pays = borrower.pays
    if pays.kind != "manual":
        yield dataclasses.replace(borrower, pays=Pays())
    if pays.days > 1:
        yield dataclasses.replace(borrower, pays=Pays(pays.kind, max(1, pays.days // 2)))
        yield dataclasses.replace(borrower, pays=Pays(pays.kind, pays.days - 1))


def _fewer_months(scenario: Scenario) -> Iterator[Scenario]:
    for index, borrower in enumerate(scenario.borrowers):
        needed = max([1] + [s.action.installment for s in scenario.steps
                            if isinstance(s.action, Repay) and s.action.borrower == borrower.id])
        for months in sorted({needed, (needed + borrower.loan.months) // 2,
                              borrower.loan.months - 1}):
            if needed <= months < borrower.loan.months:
                borrowers = list(scenario.borrowers)
                borrowers[index] = dataclasses.replace(
                    borrower, loan=dataclasses.replace(borrower.loan, months=months))
                yield dataclasses.replace(scenario, borrowers=tuple(borrowers))


def _defaults(scenario: Scenario) -> Iterator[Scenario]:
    for name, default in (("terms", ContractTerms()), ("bank", BankPolicy()),
                          ("platform", PlatformPolicy())):
        current = getattr(scenario, name)
        for field in dataclasses.fields(current):
            value = getattr(default, field.name)
            if getattr(current, field.name) != value:
                yield dataclasses.replace(scenario, **{name: dataclasses.replace(
                    current, **{field.name: value})})


class _Passes(_Shrinker):
    def borrowers(self, scenario: Scenario) -> Scenario:
        kept = ddmin(scenario.borrowers, lambda keep: bool(keep) and self.fails(
            _without_borrowers(scenario, keep)))
        return _without_borrowers(scenario, kept) if kept else scenario

    def steps(self, scenario: Scenario) -> Scenario:
        kept = ddmin(scenario.steps, lambda keep: self.fails(
            dataclasses.replace(scenario, steps=tuple(keep))))
        return dataclasses.replace(scenario, steps=tuple(kept))

    def until(self, scenario: Scenario) -> Scenario:
        """The earliest whole local day the violation still shows by (binary search)."""
        tz = scenario.until.tzinfo
        floor = max([scenario.start] + [s.at for s in scenario.steps]).astimezone(UTC)
        low = floor.astimezone(tz).date() + timedelta(days=1)
        high = scenario.until.astimezone(tz).date()
        best = scenario
        while low < high:
            middle = low + (high - low) // 2
            until = datetime.combine(middle, datetime.min.time(), tzinfo=tz)
            candidate = dataclasses.replace(scenario, until=until.astimezone(UTC).astimezone(tz))
            if self.fails(candidate):
                best, high = candidate, middle
            else:
                low = middle + timedelta(days=1)
        return best

    def windows(self, scenario: Scenario) -> Scenario:
        """Each fault window as short as it can be: from its start, then up to its end
        (binary search on whole minutes)."""
        for index, original in enumerate(scenario.steps):
            if not isinstance(original.action, Fault):
                continue
            for keep_start in (True, False):
                step = scenario.steps[index]
                fault = step.action
                assert isinstance(fault, Fault)
                seconds = int((fault.end.astimezone(UTC) - fault.start.astimezone(UTC))
                              .total_seconds())
                low, high = 1, -(-seconds // 60)  # whole minutes, rounded up
                while low < high:
                    middle = (low + high) // 2
                    candidate = _replace_step(scenario, index, _window(
                        step, middle, keep_start=keep_start))
                    if self.fails(candidate):
                        high, scenario = middle, candidate
                    else:
                        low = middle + 1
        return _in_order(scenario)

    def parts(self, scenario: Scenario) -> Scenario:
        scenario = self.keep(scenario, _fewer_months(scenario))
        scenario = self.keep(scenario, _defaults(scenario))
        for index, step in enumerate(scenario.steps):
            scenario = self.keep(scenario, iter([_replace_step(scenario, index, variant)
                                                 for variant in _step_variants(step)]))
        scenario = _in_order(scenario)
        for index, borrower in enumerate(scenario.borrowers):
            scenario = self.keep(scenario, iter([_with_borrower(scenario, index, variant)
                                                 for variant in _loan_variants(borrower)]))
        return scenario

    def run(self, scenario: Scenario) -> Scenario:
        while True:
            before = scenario
            for shrink_pass in (self.borrowers, self.steps, self.until, self.windows,
                                self.parts):
                scenario = shrink_pass(scenario)
            if scenario == before:
                return scenario


def shrink(scenario: Scenario, target: str, defects: tuple[str, ...] = (), *,
           budget: int = 400, error_site: str | None = None, identity: str | None = None,
           summary: str | None = None, system: SystemRun | None = None) -> Shrunk | None:
    """Shrink ``scenario`` (which violates ``target`` — an invariant, ``exception`` at
    ``error_site``, or ``system_failed``) with ``defects`` planted (and ``system`` in its
    role), in at most ``budget`` runs; the result is renamed ``identity`` with
    ``summary``. None if the scenario does not violate it."""
    began = time.perf_counter()
    renamed = dataclasses.replace(scenario, id=identity or scenario.id,
                                  summary=summary or scenario.summary, file=None)
    shrinker = _Passes(target, defects, budget, error_site, system)
    original = scenario_yaml(renamed)
    if not shrinker.fails(renamed):
        return None
    exhausted = False
    try:
        shrinker.run(renamed)
    except _Budget:
        exhausted = True
    assert shrinker.best is not None
    best, text, played = shrinker.best
    if played.unmet:  # declared harms the shrunk world no longer shows: not declared
        kept = tuple(entry for index, entry in enumerate(best.expect.violations)
                     if index not in played.unmet)
        shrinker.budget += 1
        pruned = dataclasses.replace(best, expect=dataclasses.replace(best.expect,
                                                                      violations=kept))
        if shrinker.fails(pruned):
            best, text, played = shrinker.best
    return Shrunk(target=target, text=text, scenario=best, played=played,
                  evaluations=shrinker.evaluations, seconds=time.perf_counter() - began,
                  original_lines=original.count("\n"), exhausted=exhausted)
