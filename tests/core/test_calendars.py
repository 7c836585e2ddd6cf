"""Jurisdictions: working days against outside references, and calendar arithmetic."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar
import holidays
import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.core.calendars import (
    Jurisdiction,
    add_months,
    jurisdiction,
    local_midnight,
    period_of,
)

UTC = ZoneInfo("UTC")
NEW_YORK = ZoneInfo("America/New_York")
SHANGHAI = ZoneInfo("Asia/Shanghai")


def days(first: date, last: date) -> Iterator[date]:
    """Every date from ``first`` to ``last`` inclusive."""
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


@pytest.fixture(params=["CN", "US"])
def any_jurisdiction(request: pytest.FixtureRequest) -> Jurisdiction:
    """Each jurisdiction in turn."""
    return jurisdiction(request.param)


# -- profiles -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "tz", "currency", "threshold", "correction_days"),
    [
        pytest.param("CN", "Asia/Shanghai", "CNY", 1, 20, id="CN"),
        pytest.param("US", "America/New_York", "USD", 30, 30, id="US"),
    ],
)
def test_jurisdiction_profiles(
    code: str, tz: str, currency: str, threshold: int, correction_days: int
) -> None:
    """Each profile carries its zone, currency, reporting threshold and correction limit."""
    profile = jurisdiction(code)
    assert profile.code == code
    assert profile.tz == ZoneInfo(tz)
    assert profile.currency == currency
    assert profile.report_threshold_dpd == threshold
    assert profile.correction_limit == timedelta(days=correction_days)


def test_unknown_jurisdiction_raises() -> None:
    """An unknown code is not silently mapped to a default."""
    with pytest.raises(KeyError):
        jurisdiction("UK")


# -- CN working days ----------------------------------------------------------------------


def test_cn_working_days_match_chinese_calendar_2024_to_2026() -> None:
    """Every day of 2024–2026 is a CN working day exactly when chinesecalendar says so."""
    cn = jurisdiction("CN")
    disagreements = [
        day for day in days(date(2024, 1, 1), date(2026, 12, 31))
        if cn.is_working_day(day) != chinese_calendar.is_workday(day)
    ]
    assert disagreements == []


@pytest.mark.parametrize(
    ("day", "working"),
    [
        pytest.param(date(2026, 10, 10), True, id="make-up-saturday-2026-10-10"),
        *[
            pytest.param(date(2026, 10, d), False, id=f"national-day-2026-10-{d:02d}")
            for d in range(1, 8)
        ],
        pytest.param(date(2026, 10, 8), True, id="day-after-holiday"),
        pytest.param(date(2026, 10, 11), False, id="ordinary-sunday"),
    ],
)
def test_cn_national_day_2026(day: date, working: bool) -> None:
    """The 2026 National Day week is off and the make-up Saturday is worked."""
    assert jurisdiction("CN").is_working_day(day) is working


@pytest.mark.parametrize("year", [pytest.param(2003, id="before-data"),
                                  pytest.param(2099, id="after-data")])
def test_cn_falls_back_to_monday_to_friday_outside_data(year: int) -> None:
    """Years chinesecalendar has no data for count Monday to Friday as working days."""
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_workday(date(year, 1, 1))  # the premise: no data for the year
    cn = jurisdiction("CN")
    for day in days(date(year, 1, 1), date(year, 12, 31)):
        assert cn.is_working_day(day) is (day.weekday() < 5), day


# -- US working days ------------------------------------------------------------------


def test_us_working_days_match_nyse_2025_to_2027() -> None:
    """Every day of 2025–2027 is a US working day exactly when it is a weekday NYSE trades."""
    nyse = holidays.financial_holidays("NYSE", years=range(2025, 2028))
    us = jurisdiction("US")
    disagreements = [
        day for day in days(date(2025, 1, 1), date(2027, 12, 31))
        if us.is_working_day(day) != (day.weekday() < 5 and day not in nyse)
    ]
    assert disagreements == []


@pytest.mark.parametrize(
    ("day", "working"),
    [
        pytest.param(date(2026, 11, 26), False, id="thanksgiving"),
        pytest.param(date(2026, 11, 27), True, id="black-friday-trades"),
        pytest.param(date(2026, 7, 3), False, id="independence-day-observed-friday"),
        pytest.param(date(2026, 4, 3), False, id="good-friday"),
        pytest.param(date(2026, 10, 12), True, id="columbus-day-nyse-open"),
        pytest.param(date(2026, 11, 11), True, id="veterans-day-nyse-open"),
        pytest.param(date(2026, 10, 10), False, id="saturday"),
    ],
)
def test_us_known_days(day: date, working: bool) -> None:
    """NYSE holidays are off; federal-only holidays and Black Friday are working days."""
    assert jurisdiction("US").is_working_day(day) is working


# -- next_working_day -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "day", "expected"),
    [
        pytest.param("CN", date(2026, 10, 9), date(2026, 10, 9), id="cn-working-day-itself"),
        pytest.param("CN", date(2026, 10, 1), date(2026, 10, 8), id="cn-national-day-week"),
        pytest.param("CN", date(2026, 10, 10), date(2026, 10, 10), id="cn-make-up-saturday"),
        pytest.param("CN", date(2026, 10, 11), date(2026, 10, 12), id="cn-sunday"),
        pytest.param("US", date(2026, 7, 3), date(2026, 7, 6), id="us-observed-holiday-friday"),
        pytest.param("US", date(2026, 11, 26), date(2026, 11, 27), id="us-thanksgiving"),
        pytest.param("US", date(2026, 12, 25), date(2026, 12, 28), id="us-christmas-friday"),
    ],
)
def test_next_working_day(code: str, day: date, expected: date) -> None:
    """``next_working_day`` is the day itself if working, else the first working day after."""
    assert jurisdiction(code).next_working_day(day) == expected


@given(day=st.dates(min_value=date(2024, 1, 1), max_value=date(2027, 12, 20)))
def test_next_working_day_is_the_first_working_day(day: date) -> None:
    """No working day lies between a day and its next working day (both jurisdictions)."""
    for code in ("CN", "US"):
        profile = jurisdiction(code)
        found = profile.next_working_day(day)
        assert found >= day
        assert profile.is_working_day(found)
        assert not any(profile.is_working_day(d) for d in days(day, found - timedelta(days=1)))


# -- add_months ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        pytest.param(date(2026, 1, 31), 1, date(2026, 2, 28), id="jan31-to-feb28-2026"),
        pytest.param(date(2028, 1, 31), 1, date(2028, 2, 29), id="jan31-to-feb29-leap-2028"),
        pytest.param(date(2026, 1, 31), 13, date(2027, 2, 28), id="plus-13-crosses-year"),
        pytest.param(date(2026, 12, 15), 1, date(2027, 1, 15), id="december-to-january"),
        pytest.param(date(2026, 3, 31), 1, date(2026, 4, 30), id="31st-to-30-day-month"),
        pytest.param(date(2026, 1, 1), 12, date(2027, 1, 1), id="twelve-months"),
        pytest.param(date(2026, 5, 20), 0, date(2026, 5, 20), id="zero"),
        pytest.param(date(2026, 1, 31), 600, date(2076, 1, 31), id="fifty-years"),
        pytest.param(date(2026, 3, 31), -1, date(2026, 2, 28), id="minus-one"),
        pytest.param(date(2026, 1, 15), -1, date(2025, 12, 15), id="minus-crosses-year"),
    ],
)
def test_add_months(start: date, months: int, expected: date) -> None:
    """The same day-of-month ``months`` later, clamped to the month's last day."""
    assert add_months(start, months) == expected


@given(start=st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 12, 31)),
       months=st.integers(min_value=0, max_value=600))
def test_add_months_lands_in_the_right_month(start: date, months: int) -> None:
    """The result is ``months`` calendar months on, on the start day or its month's last day."""
    result = add_months(start, months)
    assert (result.year * 12 + result.month) - (start.year * 12 + start.month) == months
    next_day = result + timedelta(days=1)
    assert result.day == start.day or (result.day < start.day and next_day.day == 1)


# -- local_midnight -----------------------------------------------------------------------


def test_local_midnight_when_new_york_leaves_dst() -> None:
    """On 2026-11-01 midnight is EDT (-04:00) and the next midnight EST, 25 hours later."""
    start = local_midnight(date(2026, 11, 1), NEW_YORK)
    following = local_midnight(date(2026, 11, 2), NEW_YORK)
    assert start.utcoffset() == timedelta(hours=-4)
    assert following.utcoffset() == timedelta(hours=-5)
    assert start.astimezone(UTC) == datetime(2026, 11, 1, 4, 0, tzinfo=UTC)
    assert following.astimezone(UTC) == datetime(2026, 11, 2, 5, 0, tzinfo=UTC)
    # Subtract in UTC: Python subtracts same-zone datetimes on the wall clock (24 h).
    assert following.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=25)


def test_local_midnight_when_new_york_enters_dst() -> None:
    """On 2026-03-08 the local day lasts 23 hours, from EST midnight to EDT midnight."""
    start = local_midnight(date(2026, 3, 8), NEW_YORK)
    following = local_midnight(date(2026, 3, 9), NEW_YORK)
    assert start.utcoffset() == timedelta(hours=-5)
    assert following.utcoffset() == timedelta(hours=-4)
    assert start.astimezone(UTC) == datetime(2026, 3, 8, 5, 0, tzinfo=UTC)
    assert following.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=23)


def test_local_midnight_in_shanghai() -> None:
    """Shanghai's local midnight is 16:00 UTC the day before."""
    midnight = local_midnight(date(2026, 2, 1), SHANGHAI)
    assert midnight.astimezone(UTC) == datetime(2026, 1, 31, 16, 0, tzinfo=UTC)
    assert (midnight.hour, midnight.minute) == (0, 0)


def test_local_midnight_is_aware_in_each_jurisdiction(any_jurisdiction: Jurisdiction) -> None:
    """The midnight of a day is aware, in the profile's zone, and begins that local date."""
    midnight = local_midnight(date(2026, 6, 1), any_jurisdiction.tz)
    assert midnight.utcoffset() is not None
    assert midnight.astimezone(any_jurisdiction.tz).date() == date(2026, 6, 1)
    assert (midnight - timedelta(microseconds=1)).astimezone(any_jurisdiction.tz).date() == (
        date(2026, 5, 31)
    )


# -- period_of ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "period"),
    [
        pytest.param(date(2026, 2, 1), "2026-02", id="zero-padded-month"),
        pytest.param(date(2026, 12, 31), "2026-12", id="december"),
        pytest.param(date(999, 1, 5), "0999-01", id="zero-padded-year"),
    ],
)
def test_period_of(day: date, period: str) -> None:
    """The reporting period is the date's year and month as ``YYYY-MM``."""
    assert period_of(day) == period
