"""Jurisdictions: working days against outside references, and calendar arithmetic."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar
import holidays
import pytest
from dateutil.relativedelta import relativedelta
from hypothesis import example, given
from hypothesis import strategies as st

from simulator.core.calendars import (
    Jurisdiction,
    add_months,
    jurisdiction,
    local_midnight,
    period_of,
)
from tests.support.strategies import calendar_dates, dst_rule_dates, month_offsets

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

#: The State Council's notice on the 2026 public holidays, transcribed by hand: each holiday's
#: days off (weekends inside a holiday are listed too) and the weekend days worked instead.
CN_2026_DAYS_OFF = {
    "New Year's Day": (date(2026, 1, 1), date(2026, 1, 3)),
    "Spring Festival": (date(2026, 2, 15), date(2026, 2, 23)),
    "Qingming": (date(2026, 4, 4), date(2026, 4, 6)),
    "Labour Day": (date(2026, 5, 1), date(2026, 5, 5)),
    "Dragon Boat Festival": (date(2026, 6, 19), date(2026, 6, 21)),
    "Mid-Autumn Festival": (date(2026, 9, 25), date(2026, 9, 27)),
    "National Day": (date(2026, 10, 1), date(2026, 10, 7)),
}
CN_2026_MAKE_UP_DAYS = frozenset({
    date(2026, 1, 4),    # Sunday, for New Year's Day
    date(2026, 2, 14),   # Saturday, for the Spring Festival
    date(2026, 2, 28),   # Saturday, for the Spring Festival
    date(2026, 5, 9),    # Saturday, for Labour Day
    date(2026, 9, 20),   # Sunday, for National Day
    date(2026, 10, 10),  # Saturday, for National Day
})
CN_2026_HOLIDAYS = frozenset(
    day for first, last in CN_2026_DAYS_OFF.values() for day in days(first, last))


def cn_2026_working(day: date) -> bool:
    """The notice's rule: a make-up day is worked; else Monday–Friday outside a holiday."""
    return day in CN_2026_MAKE_UP_DAYS or (day.weekday() < 5 and day not in CN_2026_HOLIDAYS)


def test_the_2026_notice_as_transcribed() -> None:
    """The hand table holds 33 days off and 6 make-up days, each make-up day on a weekend."""
    assert len(CN_2026_HOLIDAYS) == 3 + 9 + 3 + 5 + 3 + 3 + 7
    assert all(day.weekday() >= 5 for day in CN_2026_MAKE_UP_DAYS)
    assert not CN_2026_HOLIDAYS & CN_2026_MAKE_UP_DAYS


def test_cn_working_days_of_2026_follow_the_state_council_notice() -> None:
    """Every day of 2026 is a CN working day exactly when the notice (by hand) says so."""
    cn = jurisdiction("CN")
    disagreements = [day for day in days(date(2026, 1, 1), date(2026, 12, 31))
                     if cn.is_working_day(day) is not cn_2026_working(day)]
    assert disagreements == []
    # 2026 starts and ends on a Thursday: 52 weeks and a day, 261 weekdays; 19 of them are
    # days off (2 + 6 + 1 + 3 + 1 + 1 + 5), and 6 weekend days are worked: 248.
    assert sum(map(cn.is_working_day, days(date(2026, 1, 1), date(2026, 12, 31)))) == 248


def test_chinesecalendar_agrees_with_the_2026_notice() -> None:
    """The outside reference, chinesecalendar, holds the same 2026 as the hand table (a wrong
    transcription, or a package whose data changed, fails here)."""
    disagreements = [day for day in days(date(2026, 1, 1), date(2026, 12, 31))
                     if chinese_calendar.is_workday(day) is not cn_2026_working(day)]
    assert disagreements == []
    assert {day for day in chinese_calendar.workdays if day.year == 2026} == CN_2026_MAKE_UP_DAYS


def test_cn_working_days_2024_and_2025_follow_chinesecalendars_tables() -> None:
    """Every day of 2024–2025 follows chinesecalendar's published tables of holidays and
    make-up days, read as data (weekday rule applied here, not by the package)."""
    cn = jurisdiction("CN")
    off, worked = set(chinese_calendar.holidays), set(chinese_calendar.workdays)
    disagreements = [
        day for day in days(date(2024, 1, 1), date(2025, 12, 31))
        if cn.is_working_day(day) is not (day in worked or (day.weekday() < 5
                                                             and day not in off))
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

#: The NYSE's published holiday calendar for 2026–2028 (NYSE Rule 7.2), by hand. A holiday on
#: a Saturday is observed the Friday before, on a Sunday the Monday after — except New Year's
#: Day 2028, a Saturday: the exchange does not close on Friday 2027-12-31 for it.
NYSE_2026_TO_2028 = {
    date(2026, 1, 1): "New Year's Day",
    date(2026, 1, 19): "Martin Luther King Jr. Day",
    date(2026, 2, 16): "Washington's Birthday",
    date(2026, 4, 3): "Good Friday",
    date(2026, 5, 25): "Memorial Day",
    date(2026, 6, 19): "Juneteenth",
    date(2026, 7, 3): "Independence Day (Saturday, observed Friday)",
    date(2026, 9, 7): "Labor Day",
    date(2026, 11, 26): "Thanksgiving Day",
    date(2026, 12, 25): "Christmas Day",
    date(2027, 1, 1): "New Year's Day",
    date(2027, 1, 18): "Martin Luther King Jr. Day",
    date(2027, 2, 15): "Washington's Birthday",
    date(2027, 3, 26): "Good Friday",
    date(2027, 5, 31): "Memorial Day",
    date(2027, 6, 18): "Juneteenth (Saturday, observed Friday)",
    date(2027, 7, 5): "Independence Day (Sunday, observed Monday)",
    date(2027, 9, 6): "Labor Day",
    date(2027, 11, 25): "Thanksgiving Day",
    date(2027, 12, 24): "Christmas Day (Saturday, observed Friday)",
    date(2028, 1, 17): "Martin Luther King Jr. Day",
    date(2028, 2, 21): "Washington's Birthday",
    date(2028, 4, 14): "Good Friday",
    date(2028, 5, 29): "Memorial Day",
    date(2028, 6, 19): "Juneteenth",
    date(2028, 7, 4): "Independence Day",
    date(2028, 9, 4): "Labor Day",
    date(2028, 11, 23): "Thanksgiving Day",
    date(2028, 12, 25): "Christmas Day",
}


def nyse_trades(day: date) -> bool:
    """A weekday that is not an NYSE holiday of the hand table (2026–2028 only)."""
    assert date(2026, 1, 1) <= day <= date(2028, 12, 31), day
    return day.weekday() < 5 and day not in NYSE_2026_TO_2028


def test_us_working_days_2026_to_2028_follow_the_nyse_calendar() -> None:
    """Every day of 2026–2028 is a US working day exactly when the NYSE (by hand) trades."""
    us = jurisdiction("US")
    disagreements = [day for day in days(date(2026, 1, 1), date(2028, 12, 31))
                     if us.is_working_day(day) is not nyse_trades(day)]
    assert disagreements == []


def test_holidays_nyse_calendar_agrees_with_the_hand_table() -> None:
    """The outside reference, the holidays package's NYSE calendar, has exactly the hand
    table's closures for 2026–2028."""
    assert set(holidays.financial_holidays("NYSE", years=range(2026, 2029))) == set(
        NYSE_2026_TO_2028)


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
        pytest.param(date(2027, 12, 31), True, id="no-friday-before-a-saturday-new-year"),
        pytest.param(date(2027, 7, 5), False, id="independence-day-observed-monday"),
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
        pytest.param("CN", date(2026, 1, 1), date(2026, 1, 4), id="cn-new-year-to-make-up-sunday"),
        pytest.param("CN", date(2026, 2, 15), date(2026, 2, 24), id="cn-spring-festival"),
        pytest.param("CN", date(2026, 5, 1), date(2026, 5, 6), id="cn-labour-day"),
        pytest.param("CN", date(2026, 9, 19), date(2026, 9, 20), id="cn-to-make-up-sunday"),
        pytest.param("CN", date(2026, 1, 31), date(2026, 2, 2), id="cn-across-a-month-end"),
        pytest.param("US", date(2026, 7, 3), date(2026, 7, 6), id="us-observed-holiday-friday"),
        pytest.param("US", date(2026, 11, 26), date(2026, 11, 27), id="us-thanksgiving"),
        pytest.param("US", date(2026, 12, 25), date(2026, 12, 28), id="us-christmas-friday"),
        pytest.param("US", date(2027, 12, 24), date(2027, 12, 27), id="us-christmas-observed"),
        pytest.param("US", date(2026, 1, 31), date(2026, 2, 2), id="us-across-a-month-end"),
    ],
)
def test_next_working_day(code: str, day: date, expected: date) -> None:
    """``next_working_day`` is the day itself if working, else the first working day after."""
    assert jurisdiction(code).next_working_day(day) == expected


def first_on_or_after(day: date, working: Callable[[date], bool]) -> date:
    """The first day from ``day`` on that ``working`` accepts (an independent scan)."""
    while not working(day):
        day += timedelta(days=1)
    return day


@pytest.mark.parametrize(
    ("code", "first", "last", "working"),
    [
        pytest.param("CN", date(2026, 1, 1), date(2026, 12, 31), cn_2026_working, id="CN-2026"),
        # up to the last Friday of 2028: the next working day of a later day lies in 2029
        pytest.param("US", date(2026, 1, 1), date(2028, 12, 29), nyse_trades, id="US-2026-2028"),
    ],
)
def test_next_working_day_of_every_day(
    code: str, first: date, last: date, working: Callable[[date], bool]
) -> None:
    """Every day's next working day is the first working day of the hand table from it on."""
    profile = jurisdiction(code)
    disagreements = [(day, profile.next_working_day(day)) for day in days(first, last)
                     if profile.next_working_day(day) != first_on_or_after(day, working)]
    assert disagreements == []


# -- add_months ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        pytest.param(date(2026, 1, 31), 1, date(2026, 2, 28), id="jan31-to-feb28-2026"),
        pytest.param(date(2028, 1, 31), 1, date(2028, 2, 29), id="jan31-to-feb29-leap-2028"),
        pytest.param(date(2024, 1, 31), 1, date(2024, 2, 29), id="jan31-to-feb29-leap-2024"),
        pytest.param(date(2100, 1, 31), 1, date(2100, 2, 28), id="century-2100-not-leap"),
        pytest.param(date(2000, 1, 31), 1, date(2000, 2, 29), id="century-2000-leap"),
        pytest.param(date(2024, 2, 29), 12, date(2025, 2, 28), id="leap-day-plus-a-year"),
        pytest.param(date(2024, 2, 29), 48, date(2028, 2, 29), id="leap-day-plus-four-years"),
        pytest.param(date(2028, 1, 30), 1, date(2028, 2, 29), id="jan30-to-feb29"),
        pytest.param(date(2026, 1, 28), 1, date(2026, 2, 28), id="jan28-unclamped"),
        pytest.param(date(2026, 1, 31), 13, date(2027, 2, 28), id="plus-13-crosses-year"),
        pytest.param(date(2026, 12, 15), 1, date(2027, 1, 15), id="december-to-january"),
        pytest.param(date(2026, 3, 31), 1, date(2026, 4, 30), id="31st-to-30-day-month"),
        pytest.param(date(2026, 8, 31), 1, date(2026, 9, 30), id="aug31-to-sep30"),
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


def test_add_months_over_a_twelve_month_loan_from_the_31st() -> None:
    """A loan disbursed on 2028-01-31 falls due on each month's last day where the month is
    shorter, by hand: Feb 29 (leap), Apr 30, Jun 30, Sep 30, Nov 30; else on the 31st."""
    due = [add_months(date(2028, 1, 31), k) for k in range(1, 13)]
    assert due == [date(2028, 2, 29), date(2028, 3, 31), date(2028, 4, 30), date(2028, 5, 31),
                   date(2028, 6, 30), date(2028, 7, 31), date(2028, 8, 31), date(2028, 9, 30),
                   date(2028, 10, 31), date(2028, 11, 30), date(2028, 12, 31),
                   date(2029, 1, 31)]


@given(start=calendar_dates, months=month_offsets)
@example(start=date(2024, 2, 29), months=12)
@example(start=date(2026, 1, 31), months=1)
def test_add_months_agrees_with_dateutil(start: date, months: int) -> None:
    """For any date and any whole number of months, ``add_months`` is dateutil's
    ``start + relativedelta(months=…)`` (the outside reference, which clamps the same way)."""
    assert add_months(start, months) == start + relativedelta(months=months)


@given(start=calendar_dates, months=month_offsets)
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


def second_sunday_of_march(year: int) -> date:
    """The first day of US daylight saving time (the Energy Policy Act 2005 rule, from 2007)."""
    first = date(year, 3, 1)
    return first + timedelta(days=(6 - first.weekday()) % 7 + 7)


def first_sunday_of_november(year: int) -> date:
    """The last day of US daylight saving time (from 2007)."""
    first = date(year, 11, 1)
    return first + timedelta(days=(6 - first.weekday()) % 7)


def test_the_dst_rule_by_hand() -> None:
    """The rule above gives the published 2026 and 2027 changes (Mar 8, Nov 1; Mar 14, Nov 7)."""
    assert (second_sunday_of_march(2026), first_sunday_of_november(2026)) == (
        date(2026, 3, 8), date(2026, 11, 1))
    assert (second_sunday_of_march(2027), first_sunday_of_november(2027)) == (
        date(2027, 3, 14), date(2027, 11, 7))


@given(day=dst_rule_dates)
@example(day=date(2026, 3, 8))
@example(day=date(2026, 3, 9))
@example(day=date(2026, 11, 1))
@example(day=date(2026, 11, 2))
def test_local_midnight_follows_the_offset_rules(day: date) -> None:
    """Local midnight is 00:00 on the wall clock minus the zone's offset, by the zones' rules
    written out here: Shanghai is UTC+8 all year; New York is UTC-4 from the day after DST
    starts (the change is at 02:00) through the day it ends, else UTC-5."""
    wall = datetime(day.year, day.month, day.day, tzinfo=UTC)
    assert local_midnight(day, SHANGHAI).astimezone(UTC) == wall - timedelta(hours=8)
    summer = second_sunday_of_march(day.year) < day <= first_sunday_of_november(day.year)
    new_york = wall + timedelta(hours=4 if summer else 5)
    assert local_midnight(day, NEW_YORK).astimezone(UTC) == new_york


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


@given(day=st.dates())
def test_period_of_is_the_iso_date_s_year_and_month(day: date) -> None:
    """For any date the period is the first seven characters of its ISO 8601 form."""
    assert period_of(day) == day.isoformat()[:7]
