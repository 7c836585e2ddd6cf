"""Loan arithmetic: repayment schedules, due dates, working days and penalty interest.

All money is integer minor units; rates are exact decimals (``Decimal("0.18")``).

* Equal installment (annuity): the level payment is the annuity rounded half-up;
  each installment's interest is the remaining balance × rate / 12 rounded
  half-up, its principal the rest, the last installment absorbs the remainder.
  When that rounding would drift far over a long, dear loan, each installment
  instead brings the balance down to the exact annuity's, rounded.
* Equal principal: the principal ÷ months (the last takes the remainder), plus
  the interest on the remaining balance.
* Installment *k* is due on the same day of the month *k* months after
  disbursement (clamped to the month's end), moved to the next working day when
  the contract says so; it is late from local midnight after the due date plus
  the grace days.
* Penalty interest: principal × annual rate × 1.5 / 360 per day late (at least
  one day), rounded half-up once.
"""

from __future__ import annotations

import calendar
import functools
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from zoneinfo import ZoneInfo

import chinese_calendar

__all__ = ["Due", "due", "penalty", "schedule"]

PENALTY_FACTOR = Decimal("1.5")


def _round(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _annuity(principal: int, annual: Decimal, months: int) -> list[tuple[int, int]]:
    rate = annual / 12
    if rate == 0:
        payment = Decimal(principal) / months
    else:
        growth = (1 + rate) ** months
        payment = principal * rate * growth / (growth - 1)
    level = _round(payment)
    rows: list[tuple[int, int]] = []
    balance = principal
    for number in range(1, months + 1):
        interest = _round(balance * annual / 12)
        part = balance if number == months else min(balance, level - interest)
        rows.append((part, interest))
        balance -= part
    if abs(sum(rows[-1]) - level) <= months and all(part > 0 for part, _ in rows):
        return rows
    rows = []
    balance = principal
    exact = Decimal(principal)
    for number in range(1, months + 1):
        interest = _round(balance * annual / 12)
        exact -= payment - exact * annual / 12
        part = balance if number == months else min(balance, balance - _round(exact))
        rows.append((part, interest))
        balance -= part
    return rows


@functools.lru_cache(maxsize=256)
def schedule(principal: int, annual_rate: str, months: int,
             method: str) -> tuple[tuple[int, int], ...]:
    """(principal part, interest) of each installment, in order."""
    annual = Decimal(annual_rate)
    with localcontext() as context:
        context.prec = 50
        if method == "equal_installment":
            return tuple(_annuity(principal, annual, months))
        if method != "equal_principal":
            raise ValueError(f"unknown method {method!r}")
        rows = []
        balance = principal
        for number in range(1, months + 1):
            interest = _round(balance * annual / 12)
            part = balance if number == months else principal // months
            rows.append((part, interest))
            balance -= part
        return tuple(rows)


@functools.lru_cache(maxsize=4096)
def _working_day(jurisdiction: str, day: date) -> bool:
    if jurisdiction == "CN":
        try:
            return bool(chinese_calendar.is_workday(day))
        except NotImplementedError:  # a year the State Council has not announced yet
            return day.weekday() < 5
    return day.weekday() < 5 and day not in _nyse(day.year)


@functools.lru_cache(maxsize=64)
def _nyse(year: int) -> frozenset[date]:
    import holidays  # on first use: it is a quarter of the bank's start-up otherwise

    return frozenset(holidays.financial_holidays("NYSE", years=year))


class Due:
    """When an installment is due and when it becomes late."""

    __slots__ = ("date", "end", "grace_end")

    def __init__(self, due_date: date, grace_end: date, end: datetime) -> None:
        self.date = due_date
        self.grace_end = grace_end  # the last day before it is late
        self.end = end  # the instant it is late


def due(disbursed: date, number: int, grace_days: int, holiday_shift: str,
        jurisdiction: str, tz: ZoneInfo) -> Due:
    index = disbursed.month - 1 + number
    year, month = disbursed.year + index // 12, index % 12 + 1
    day = date(year, month, min(disbursed.day, calendar.monthrange(year, month)[1]))
    if holiday_shift == "next_working_day":
        while not _working_day(jurisdiction, day):
            day += timedelta(days=1)
    grace_end = day + timedelta(days=grace_days)
    return Due(day, grace_end, datetime.combine(grace_end + timedelta(days=1), time(0),
                                                tzinfo=tz))


def penalty(principal: int, annual_rate: str, days: int) -> int:
    """Penalty interest for ``days`` days late."""
    with localcontext() as context:
        context.prec = 50
        return _round(principal * Decimal(annual_rate) * PENALTY_FACTOR * days / 360)
