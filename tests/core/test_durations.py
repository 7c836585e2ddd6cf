"""Durations, instants and clock times as scenario files write them."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.core.durations import (
    format_duration,
    parse_clock_time,
    parse_duration,
    parse_instant,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")

#: Positive whole-second durations up to ~30 years.
durations = st.integers(min_value=1, max_value=30 * 365 * 86_400).map(
    lambda seconds: timedelta(seconds=seconds))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("30m", timedelta(minutes=30), id="minutes"),
        pytest.param("6h", timedelta(hours=6), id="hours"),
        pytest.param("3d", timedelta(days=3), id="days"),
        pytest.param("90s", timedelta(seconds=90), id="seconds"),
        pytest.param("1d12h", timedelta(days=1, hours=12), id="days-and-hours"),
        pytest.param("1d2h3m4s", timedelta(days=1, hours=2, minutes=3, seconds=4), id="all-units"),
        pytest.param("0d1h", timedelta(hours=1), id="zero-component"),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    """Each unit and combinations of units in d, h, m, s order parse to a timedelta."""
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("3x", id="unknown-unit"),
        pytest.param("", id="empty"),
        pytest.param("1h1d", id="units-out-of-order"),
        pytest.param("1.5h", id="fraction"),
        pytest.param("-1h", id="negative"),
        pytest.param(" 1h", id="leading-space"),
        pytest.param("h", id="no-number"),
        pytest.param(30, id="bare-number"),
        pytest.param(None, id="nothing"),
    ],
)
def test_parse_duration_rejects(value: object) -> None:
    """Anything but units in d, h, m, s order is rejected, naming the key and what was given."""
    with pytest.raises(ValueError, match=r"^'for' must be a duration like 30m, 6h or 3d") as info:
        parse_duration(value, what="for")
    assert f"(got {value!r})" in str(info.value)


def test_parse_duration_rejects_zero() -> None:
    """A zero duration is rejected: faults and retries must last some time."""
    with pytest.raises(ValueError, match=r"positive duration .*\(got '0m'\)"):
        parse_duration("0m")


@pytest.mark.parametrize(
    ("duration", "text"),
    [
        pytest.param(timedelta(days=1), "1d", id="a-day-not-24h"),
        pytest.param(timedelta(hours=36), "36h", id="36h-shorter-than-1d12h"),
        pytest.param(timedelta(minutes=90), "90m", id="90m-shorter-than-1h30m"),
        pytest.param(timedelta(seconds=90), "90s", id="90s-shorter-than-1m30s"),
        pytest.param(timedelta(days=1, minutes=1), "1d1m", id="mixed"),
        pytest.param(timedelta(hours=1), "1h", id="an-hour"),
    ],
)
def test_format_duration_shortest(duration: timedelta, text: str) -> None:
    """A duration is written in its shortest spelling."""
    assert format_duration(duration) == text


@pytest.mark.parametrize(
    "duration",
    [
        pytest.param(timedelta(0), id="zero"),
        pytest.param(timedelta(seconds=-5), id="negative"),
        pytest.param(timedelta(milliseconds=1500), id="fraction-of-a-second"),
    ],
)
def test_format_duration_rejects(duration: timedelta) -> None:
    """Only positive whole-second durations have a spelling."""
    with pytest.raises(ValueError, match="positive whole number of seconds"):
        format_duration(duration)


@given(durations)
def test_duration_round_trip(duration: timedelta) -> None:
    """Formatting then parsing any positive whole-second duration gives it back."""
    assert parse_duration(format_duration(duration)) == duration


@given(st.tuples(*(st.integers(0, 400) for _ in range(4))).filter(any))
def test_format_is_never_longer(parts: tuple[int, int, int, int]) -> None:
    """The formatted text is never longer than any text that parses to the same duration."""
    text = "".join(f"{n}{unit}" for n, unit in zip(parts, "dhms", strict=True) if n)
    assert len(format_duration(parse_duration(text))) <= len(text)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("2026-02-01T21:00", datetime(2026, 2, 1, 21, 0, tzinfo=SHANGHAI),
                     id="local-text"),
        pytest.param("2026-02-01 21:00:30", datetime(2026, 2, 1, 21, 0, 30, tzinfo=SHANGHAI),
                     id="local-text-with-space-and-seconds"),
        pytest.param("2026-02-01", datetime(2026, 2, 1, tzinfo=SHANGHAI), id="date-text"),
        pytest.param(date(2026, 2, 1), datetime(2026, 2, 1, tzinfo=SHANGHAI), id="date"),
        pytest.param(datetime(2026, 2, 1, 21, 0), datetime(2026, 2, 1, 21, 0, tzinfo=SHANGHAI),
                     id="naive-datetime"),
    ],
)
def test_parse_instant_local(value: object, expected: datetime) -> None:
    """Values without an offset are local time in the given zone; a date is its midnight."""
    instant = parse_instant(value, SHANGHAI)
    assert instant == expected
    assert instant.utcoffset() == timedelta(hours=8)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("2026-02-01T21:00+00:00", id="offset-text"),
        pytest.param("2026-02-01T21:00Z", id="zulu-text"),
        pytest.param(datetime(2026, 2, 1, 21, 0, tzinfo=UTC), id="aware-datetime"),
    ],
)
def test_parse_instant_keeps_offset(value: object) -> None:
    """An instant that carries an offset keeps it, whatever the local zone."""
    assert parse_instant(value, SHANGHAI) == datetime(2026, 2, 1, 21, 0, tzinfo=UTC)


def test_parse_instant_in_dst_gap() -> None:
    """A wall-clock time skipped by a DST change becomes the real instant after the gap."""
    instant = parse_instant("2026-03-08T02:30", NEW_YORK)
    assert instant.utcoffset() == timedelta(hours=-4)
    assert instant == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        pytest.param("2026-02-01T9:00", "must be an instant like", id="one-digit-hour"),
        pytest.param("tomorrow", "must be an instant like", id="words"),
        pytest.param("2026-02-30", "not a real date", id="no-such-day"),
        pytest.param("2026-02-01T24:00", "not a real date", id="hour-24"),
        pytest.param(20260201, "must be an instant like", id="number"),
    ],
)
def test_parse_instant_rejects(value: object, reason: str) -> None:
    """Malformed or impossible instants are rejected with what was expected and given."""
    with pytest.raises(ValueError, match=reason) as info:
        parse_instant(value, SHANGHAI, what="at")
    assert str(info.value).startswith("'at' must be")
    assert repr(value) in str(info.value)


def test_parse_clock_time() -> None:
    """``HH:MM`` parses to a time of day."""
    assert parse_clock_time("00:30") == time(0, 30)
    assert parse_clock_time("23:59") == time(23, 59)


@pytest.mark.parametrize("value", ["24:00", "0:30", "00:60", "00:30:00", 30])
def test_parse_clock_time_rejects(value: object) -> None:
    """Anything but a 24-hour ``HH:MM`` is rejected."""
    with pytest.raises(ValueError, match=r"^'batch_at' must be a time of day like 00:30"):
        parse_clock_time(value, what="batch_at")
