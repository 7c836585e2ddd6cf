"""Calendar days where bugs live, per jurisdiction: where explored worlds put due dates.

A generated loan falls due on (or a day or two around) one of these days, so that
the explored worlds keep meeting the edges of time: a daylight-saving change
(US), a public holiday or an exchange holiday, a weekend made a working day
(China's make-up working days), a month's end (and the clamping of a 31st to a
shorter month), a leap day, and the turn of a year. The days come from the
jurisdiction's own calendar (:mod:`simulator.core.calendars`) and time zone, never
from a list written here.
"""

from __future__ import annotations

import calendar
import functools
from datetime import UTC, date, datetime, time, timedelta

from simulator.core.calendars import jurisdiction

__all__ = ["SPOT_KINDS", "YEARS", "spots"]

#: the years explored worlds are set in (China's announced calendar covers the first two)
YEARS: tuple[int, ...] = (2025, 2026, 2027, 2028)

#: the kinds of day :func:`spots` lists, in a fixed order
SPOT_KINDS: tuple[str, ...] = ("dst", "holiday", "make_up_day", "month_end", "leap_day",
                               "year_end")


def _dst_changes(code: str, year: int) -> list[date]:
    """Local days whose length is not 24 hours (a daylight-saving change)."""
    tz = jurisdiction(code).tz
    found = []
    day = date(year, 1, 1)
    while day.year == year:
        begins = datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)
        ends = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)
        if ends - begins != timedelta(days=1):
            found.append(day)
        day += timedelta(days=1)
    return found


def _odd_days(code: str, year: int) -> tuple[list[date], list[date]]:
    """(holidays on weekdays, working days on weekends) in the jurisdiction's calendar."""
    working = jurisdiction(code).is_working_day
    holidays, make_up = [], []
    day = date(year, 1, 1)
    while day.year == year:
        weekday = day.weekday() < 5
        if weekday and not working(day):
            holidays.append(day)
        elif not weekday and working(day):
            make_up.append(day)
        day += timedelta(days=1)
    return holidays, make_up


@functools.cache
def spots(code: str) -> dict[str, tuple[date, ...]]:
    """The interesting days of :data:`YEARS` in jurisdiction ``code``, by kind (a kind with
    no day there — daylight saving in China — is left out)."""
    found: dict[str, list[date]] = {kind: [] for kind in SPOT_KINDS}
    for year in YEARS:
        found["dst"].extend(_dst_changes(code, year))
        holidays, make_up = _odd_days(code, year)
        found["holiday"].extend(holidays)
        found["make_up_day"].extend(make_up)
        found["month_end"].extend(date(year, month, calendar.monthrange(year, month)[1])
                                  for month in range(1, 13))
        if calendar.isleap(year):
            found["leap_day"].append(date(year, 2, 29))
        found["year_end"].append(date(year, 12, 31))
    return {kind: tuple(days) for kind, days in found.items() if days}
