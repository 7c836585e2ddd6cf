"""Random worlds from a seed: borrowers with payment habits, loan terms, dates where bugs live.

:func:`generate_world` turns ``(seed, run)`` into a :class:`~simulator.scenarios.model.Scenario`
the way a scenario file would give it (README, "Explore"), deterministically: every choice
is drawn from a :class:`random.Random` seeded by :func:`~simulator.core.rng.derive_seed`.

A world is small — one to three borrowers, their first installments — and set where
bugs live: a due date on or beside a daylight-saving change, a holiday, a make-up working
day, a month's end (a 31st clamped to a shorter month), a leap day or a year's end
(:mod:`~simulator.explore.spots`), in China or the United States. Each borrower has a
habit: on time, at 23:59 local on the last day, just after midnight, early, late,
partial, over, at the bank's counter, never, or a mix. Faults come from
:mod:`~simulator.explore.swarm`; a share of worlds also has the docking link down
beyond the bank's wait, declaring the harm that does (:mod:`~simulator.explore.harms`).

An explored world has no expectations: every invariant must hold. So a world is *fair*:
nothing the reference parties could not have got right — no repayment before its loan
is disbursed, no bank that waits for a reconciliation file longer than the
jurisdiction allows, no platform that retries slower than the in-transit bound, and
faults the parties can outlast (:mod:`~simulator.explore.swarm`).
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Literal

from simulator.core.amortization import schedule
from simulator.core.calendars import Jurisdiction, add_months, local_midnight
from simulator.core.calendars import jurisdiction as jurisdiction_of
from simulator.core.rng import derive_seed
from simulator.explore.harms import SHARE, beyond_the_wait
from simulator.explore.spots import spots
from simulator.explore.swarm import Hotspot, swarm_faults
from simulator.scenarios.borrowers import default_personal_data
from simulator.scenarios.model import (
    BankPolicy,
    Borrower,
    ContractTerms,
    Dispute,
    Expect,
    LoanTerms,
    Pays,
    PlatformPolicy,
    Repay,
    Scenario,
    Step,
)

__all__ = ["HABITS", "due_end", "generate_world", "world_seed"]

#: the payment habits a generated borrower may have
HABITS: tuple[str, ...] = ("on_due_date", "early", "late", "never", "at_2359",
                           "after_midnight", "partial", "over", "counter", "mixed")
#: what one installment of a ``mixed`` borrower may be
_MIXED = ("on_time", "at_2359", "after_midnight", "partial", "over", "counter", "skip")
_HANDLES = ("alice", "bob", "carol")
_RATES = ("0", "0.0365", "0.0799", "0.12", "0.18", "0.24", "0.36")


def world_seed(seed: int, run: int) -> int:
    """The seed of run ``run``'s world (its streams: link draws, payment times, ids): at most
    8 digits, so that no report masks it as if it were a phone number."""
    return derive_seed(seed, f"explore:world-seed:{run}") % 100_000_000


def _due_date(loan: LoanTerms, number: int, terms: ContractTerms,
              jurisdiction: Jurisdiction) -> date:
    """Installment ``number``'s due date (shifted past holidays if the contract says so)."""
    due = add_months(loan.disbursed, number)
    if terms.holiday_shift == "next_working_day":
        due = jurisdiction.next_working_day(due)
    return due


def due_end(loan: LoanTerms, number: int, terms: ContractTerms,
            jurisdiction: Jurisdiction) -> datetime:
    """When installment ``number`` becomes late under the contract: local midnight after its
    due date (shifted past holidays if the contract says so) plus the grace days."""
    due = _due_date(loan, number, terms, jurisdiction)
    return local_midnight(due + timedelta(days=terms.grace_days + 1), jurisdiction.tz)


def _local(day: date, minutes: int, tz: object) -> datetime:
    """``day`` at ``minutes`` past local midnight, as an aware instant (through UTC, as a
    scenario file's local time is read)."""
    naive = datetime.combine(day, time(minutes // 60, minutes % 60))
    return naive.replace(tzinfo=tz).astimezone(UTC).astimezone(tz)  # type: ignore[arg-type]


def _anchor(rng: random.Random, code: str) -> tuple[date, int]:
    """A due date where bugs live, and which installment falls due on it."""
    found = spots(code)
    kind = rng.choice(sorted(found))
    day = rng.choice(found[kind]) + timedelta(days=rng.choice((0, 0, 0, -1, 1, -2, 2)))
    return day, rng.choice((1, 1, 2))


def _disbursed(rng: random.Random, due: date, number: int) -> date:
    """A disbursement that makes installment ``number`` fall due on ``due`` — or, sometimes,
    on the 29th–31st of a month, so that later due dates are clamped to shorter months."""
    index = due.year * 12 + due.month - 1 - number
    year, month = divmod(index, 12)
    month += 1
    last = (date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)).day
    if rng.random() < 0.15:
        return date(year, month, rng.randint(min(29, last), last))
    return date(year, month, min(due.day, last))


def _loan(rng: random.Random, disbursed: date, months: int) -> LoanTerms:
    principal = rng.randint(5, 300) * 10_000
    if rng.random() < 0.5:
        principal += rng.randint(1, 9_999)
    return LoanTerms(principal=principal, annual_rate=Decimal(rng.choice(_RATES)),
                     months=months, method=rng.choice(("equal_installment", "equal_principal")),
                     disbursed=disbursed)


def _terms(rng: random.Random) -> tuple[ContractTerms, BankPolicy, PlatformPolicy]:
    terms = ContractTerms(
        grace_days=0 if rng.random() < 0.7 else rng.randint(1, 3),
        arrears_tolerance=0 if rng.random() < 0.6 else rng.choice((1, 50, 100, 500)),
        holiday_shift=rng.choice(("none", "next_working_day")))
    # the bank waits at most the jurisdiction's 3 days for a reconciliation file
    bank = BankPolicy(
        batch_at=rng.choice((time(0, 30), time(0, 30), time(0, 5), time(0, 59), time(1, 30),
                             time(2, 0), time(23, 30))),
        recon_max_wait=rng.choice((timedelta(hours=12), timedelta(days=1), timedelta(days=2),
                                   timedelta(days=3), timedelta(days=3))))
    # the platform forwards well within the 1-day in-transit bound
    platform = PlatformPolicy(
        forward_after=rng.choice((timedelta(minutes=10), timedelta(minutes=1),
                                  timedelta(minutes=30), timedelta(hours=2))),
        retry_first=rng.choice((timedelta(minutes=1), timedelta(seconds=30),
                                timedelta(minutes=5))),
        retry_max=rng.choice((timedelta(hours=1), timedelta(minutes=10),
                              timedelta(minutes=30))))
    return terms, bank, platform


def _pays(rng: random.Random, habit: str, code: str) -> Pays:
    if habit == "on_due_date":
        return Pays("on_due_date")
    if habit == "early":
        return Pays("early", rng.randint(1, 10))
    if habit == "late":
        return Pays("late", rng.randint(1, 10 if code == "CN" else 45))
    if habit == "never":
        return Pays("never")
    return Pays("manual")


def _repayment(rng: random.Random, way: str, borrower: Borrower, number: int,
               terms: ContractTerms, jurisdiction: Jurisdiction) -> Step | None:
    """One scripted repayment of installment ``number`` in the way ``way`` (None: skipped)."""
    end = due_end(borrower.loan, number, terms, jurisdiction)
    last_day = (end - timedelta(days=1)).astimezone(jurisdiction.tz).date()
    tz = jurisdiction.tz
    handle = borrower.id
    if way == "at_2359":
        at = end.astimezone(UTC) - timedelta(minutes=rng.choice((1, 1, 5, 30)))
        return Step(at.astimezone(tz), Repay(handle, number))
    if way == "after_midnight":
        at = end.astimezone(UTC) + timedelta(minutes=rng.choice((0, 1, 1, 10, 120)))
        return Step(at.astimezone(tz), Repay(handle, number))
    if way == "skip":
        return None
    at = _local(last_day, rng.randint(8 * 60, 22 * 60), tz)
    if way == "on_time":
        return Step(at, Repay(handle, number))
    if way == "counter":
        return Step(_local(last_day, rng.randint(9 * 60, 17 * 60), tz),
                    Repay(handle, number, via="bank"))
    row = schedule(borrower.loan.principal, borrower.loan.annual_rate, borrower.loan.months,
                   borrower.loan.method)[number - 1]
    if way == "partial":
        short = rng.choice((1, 50, 100, 10_000, row.amount // 2))
        return Step(at, Repay(handle, number, short_by=max(1, min(short, row.amount - 1))))
    extra = rng.choice((1, 100, 10_000, row.amount))  # over
    return Step(at, Repay(handle, number, amount=row.amount + extra))


def generate_world(seed: int, run: int) -> Scenario:
    """The world of run ``run`` of the campaign with seed ``seed`` (same arguments, same
    world)."""
    rng = random.Random(derive_seed(seed, f"explore:world:{run}"))
    code: Literal["CN", "US"] = rng.choice(("CN", "US"))
    jurisdiction = jurisdiction_of(code)
    tz = jurisdiction.tz
    anchor, number = _anchor(rng, code)
    first = _disbursed(rng, anchor, number)
    months = max(number, rng.choice((1, 2, 3, 3, 6, 12)))
    covered = min(months, number + rng.choice((0, 0, 1)))
    terms, bank, platform = _terms(rng)
    wseed = world_seed(seed, run)
    taken: set[str] = set()
    borrowers: list[Borrower] = []
    steps: list[Step] = []
    for handle in _HANDLES[:rng.choice((1, 1, 1, 2, 2, 3))]:
        disbursed = first + timedelta(days=rng.choice((0, 0, 0, 1, 2)))
        personal = default_personal_data(handle, wseed, code, taken=taken)
        taken.update((personal.id_number, personal.phone))
        habit = rng.choice(HABITS)
        borrower = Borrower(handle, *personal, _loan(rng, disbursed, months),
                            _pays(rng, habit, code))
        borrowers.append(borrower)
        if borrower.pays.kind != "manual":
            continue
        for k in range(1, covered + 1):
            way = rng.choice(_MIXED) if habit == "mixed" else habit
            step = _repayment(rng, way, borrower, k, terms, jurisdiction)
            if step is not None:
                steps.append(step)
    start = _local(first, 9 * 60, tz)
    last_end = max(due_end(b.loan, covered, terms, jurisdiction) for b in borrowers)
    tail = rng.choice((2, 5, 10, 25) if code == "CN" else (5, 20, 40, 70))
    until = local_midnight(last_end.astimezone(tz).date() + timedelta(days=tail), tz)
    expect = Expect()
    # drawn from a stream of its own: the worlds without it stay as they were
    beyond = random.Random(derive_seed(seed, f"explore:beyond-wait:{run}"))
    if beyond.random() < SHARE:
        harm = beyond_the_wait(beyond, [
            (b.id, k, due_end(b.loan, k, terms, jurisdiction),
             f"{_due_date(b.loan, k, terms, jurisdiction):%Y-%m}")
            for b in borrowers if b.pays.kind == "manual" for k in range(1, covered + 1)],
            bank, platform, jurisdiction, start)
        if harm is not None:
            steps.extend(harm.steps)
            until = max(until, harm.until)
            expect = Expect(violations=harm.expected)
            platform = harm.platform
    if rng.random() < 0.15:  # a borrower disputes the period of their first installment
        who = rng.choice(borrowers)
        end = due_end(who.loan, 1, terms, jurisdiction)
        at = _local(end.astimezone(tz).date() + timedelta(days=rng.choice((2, 5, 10))),
                    rng.randint(9 * 60, 18 * 60), tz)
        if at < until:
            period = _due_date(who.loan, 1, terms, jurisdiction)
            steps.append(Step(at, Dispute(who.id, f"{period:%Y-%m}")))
    hotspots = [Hotspot(s.at, "step") for s in steps]
    for borrower in borrowers:
        for k in range(1, covered + 1):
            end = due_end(borrower.loan, k, terms, jurisdiction)
            hotspots.append(Hotspot(end, "due end"))
            day = end.astimezone(tz).date()
            for offset in (0, 1):
                hotspots.append(Hotspot(_local(day + timedelta(days=offset), 60, tz), "recon"))
                batch = bank.batch_at.hour * 60 + bank.batch_at.minute
                hotspots.append(Hotspot(_local(day + timedelta(days=offset), batch, tz),
                                        "batch"))
    steps.extend(swarm_faults(rng, hotspots, start=start, until=until, bank=bank,
                              platform=platform))
    steps.sort(key=lambda step: step.at)
    return Scenario(
        id=f"explore-{seed}-{run}",
        summary=f"A world lendsim explore generated: seed {seed}, run {run}.",
        start=start, until=until, borrowers=tuple(borrowers), tags=("explore",),
        jurisdiction=code, seed=wseed, terms=terms, bank=bank, platform=platform,
        steps=tuple(steps), expect=expect)
