"""Instants as text: every RFC 3339 instant in a text can be shown in another zone."""

from __future__ import annotations

from datetime import UTC
from zoneinfo import ZoneInfo

from simulator.core.instants import rezone

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")


def test_rezone_shows_utc_instants_in_local_time() -> None:
    """A UTC instant becomes the same instant in Shanghai time, with its +08:00 offset."""
    text = "#3928 2026-02-01T16:32:00+00:00 bureau.record"
    assert rezone(text, SHANGHAI) == "#3928 2026-02-02T00:32:00+08:00 bureau.record"


def test_rezone_follows_daylight_saving_time() -> None:
    """New York instants take the offset in force on their day (EST in January, EDT in July)."""
    text = "a 2026-01-15T17:00:00Z, b 2026-07-15T16:00:00.250000+00:00"
    assert rezone(text, NEW_YORK) == ("a 2026-01-15T12:00:00-05:00, "
                                      "b 2026-07-15T12:00:00.250000-04:00")


def test_rezone_back_to_utc_on_request() -> None:
    """Local instants inside JSON text go back to UTC when UTC is asked for."""
    text = '{"paid_at":"2026-02-01T21:00:00+08:00","n":1}'
    assert rezone(text, UTC) == '{"paid_at":"2026-02-01T13:00:00+00:00","n":1}'


def test_rezone_leaves_dates_naive_times_and_impossible_instants_alone() -> None:
    """Only real instants with an offset change: dates, naive times and 2026-13-01 stay."""
    text = ("period 2026-02, due 2026-02-01, at 2026-02-01T09:00, "
            "bad 2026-13-01T00:00:00+00:00, id PAY2026-02-01T00:00:00+00:00X")
    assert rezone(text, SHANGHAI) == text
