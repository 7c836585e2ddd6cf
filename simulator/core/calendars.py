"""Jurisdictions: time zone, currency, working days and reporting rules.

Shared by the oracle and the parties, which is allowed because it is tested
against outside references (``chinesecalendar`` for China's State Council
notices including make-up working days, ``holidays`` for the NYSE calendar).
Calendar *arithmetic* lives here; deciding what a due date or due end is
remains each party's (and the oracle's) own business.
"""

from __future__ import annotations

import calendar
import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Literal
from zoneinfo import ZoneInfo

import chinese_calendar
import holidays

__all__ = [
    "Jurisdiction",
    "add_months",
    "jurisdiction",
    "local_midnight",
    "period_of",
]


@dataclass(frozen=True, slots=True)
class Jurisdiction:
    """A rule profile (README, "Scenario reference")."""

    code: Literal["CN", "US"]
    tz: ZoneInfo
    currency: str
    locale: str
    #: days past due from which the bureau carries a delinquency
    report_threshold_dpd: int
    #: the longest a false record may stand once disputed or once the truth is known
    correction_limit: timedelta
    #: how long after its business date a delinquency reaches the bureau at the latest
    reporting_cycle: timedelta
    is_working_day: Callable[[date], bool]
    #: lower bounds of the days-past-due buckets a credit file distinguishes (CN: the
    #: payment-history codes 1–7; US: the Metro 2 account statuses 71–84)
    dpd_floors: tuple[int, ...]
    #: the longest a furnisher may hold back its day-end actions waiting for a
    #: reconciliation file, however long it says it waits
    recon_wait_limit: timedelta = timedelta(days=3)
    #: the longest an accepted repayment may take to reach the bank once the links it
    #: needs are healthy, however slowly a platform says it forwards
    in_transit_limit: timedelta = timedelta(days=1)

    def dpd_bucket(self, days_past_due: int) -> int:
        """0 when not past due; else which bucket (1, 2, …) ``days_past_due`` falls in."""
        return sum(1 for floor in self.dpd_floors if days_past_due >= floor)

    def next_working_day(self, day: date) -> date:
        """``day`` itself when it is a working day, else the next one."""
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return day


@functools.lru_cache(maxsize=4096)
def _cn_working_day(day: date) -> bool:
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        # Years the State Council has not announced yet: Monday to Friday.
        return day.weekday() < 5


@functools.lru_cache(maxsize=64)
def _nyse_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.financial_holidays("NYSE", years=year))


@functools.lru_cache(maxsize=4096)
def _us_working_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _nyse_holidays(day.year)


_JURISDICTIONS = {
    "CN": Jurisdiction(
        code="CN",
        tz=ZoneInfo("Asia/Shanghai"),
        currency="CNY",
        locale="zh_CN",
        report_threshold_dpd=1,
        correction_limit=timedelta(days=20),
        reporting_cycle=timedelta(days=1),
        is_working_day=_cn_working_day,
        dpd_floors=(1, 31, 61, 91, 121, 151, 181),
    ),
    "US": Jurisdiction(
        code="US",
        tz=ZoneInfo("America/New_York"),
        currency="USD",
        locale="en_US",
        report_threshold_dpd=30,
        correction_limit=timedelta(days=30),
        reporting_cycle=timedelta(days=31),
        is_working_day=_us_working_day,
        dpd_floors=(30, 60, 90, 120, 150, 180),
    ),
}


def jurisdiction(code: str) -> Jurisdiction:
    """The profile for ``CN`` or ``US``."""
    return _JURISDICTIONS[code]


def add_months(start: date, months: int) -> date:
    """The same day-of-month ``months`` later, clamped to the end of that month."""
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def local_midnight(day: date, tz: tzinfo) -> datetime:
    """The instant the local calendar day ``day`` begins in ``tz`` (aware)."""
    return datetime.combine(day, time(0), tzinfo=tz)


def period_of(day: date) -> str:
    """The reporting period (``YYYY-MM``) a date falls in."""
    return f"{day.year:04d}-{day.month:02d}"
