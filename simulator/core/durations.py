"""Durations, instants and clock times as scenario files write them.

``30m``, ``6h``, ``3d``, ``90s`` and combinations such as ``1d12h`` (units in
the order d, h, m, s) are durations; instants are ISO 8601 date-times, local
to the jurisdiction's time zone unless they carry an offset; clock times are
``HH:MM``. Every parser raises :class:`ValueError` with a message that says
what was expected and what was given, so a caller can prefix the key name
and the position.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from itertools import combinations

__all__ = ["format_duration", "parse_clock_time", "parse_duration", "parse_instant"]

DURATION_EXPECTED = "a duration like 30m, 6h or 3d"
INSTANT_EXPECTED = "an instant like 2026-02-01T21:00, 2026-02-01T21:00+08:00 or 2026-02-01"
CLOCK_EXPECTED = "a time of day like 00:30 (HH:MM)"

_UNITS: tuple[tuple[str, int], ...] = (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1))
_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_INSTANT = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:\d{2})?)?"
)
_CLOCK = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


def _named(what: str | None, text: str) -> str:
    return f"{what!r} {text}" if what else text


def parse_duration(value: object, *, what: str | None = None) -> timedelta:
    """``"1d12h"`` → ``timedelta(days=1, hours=12)``; a positive whole number of seconds.

    ``what`` names the value in the error message (``'for' must be …``).
    """
    match = _DURATION.fullmatch(value) if isinstance(value, str) and value else None
    if match is None:
        raise ValueError(_named(what, f"must be {DURATION_EXPECTED} (got {value!r})"))
    seconds = sum(int(n) * size for n, (_, size) in zip(match.groups("0"), _UNITS, strict=True))
    if seconds == 0:
        raise ValueError(_named(what, f"must be a positive duration like 30m, 6h or 3d "
                                      f"(got {value!r})"))
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise ValueError(_named(what, f"is too long a duration (got {value!r})")) from None


def _spell(seconds: int, units: tuple[tuple[str, int], ...]) -> str | None:
    """``seconds`` written with exactly ``units`` (each used, none left over), or None."""
    parts = []
    for suffix, size in units:
        count, seconds = divmod(seconds, size)
        if count == 0:
            return None
        parts.append(f"{count}{suffix}")
    return "".join(parts) if seconds == 0 else None


def format_duration(duration: timedelta) -> str:
    """The shortest text :func:`parse_duration` reads back as ``duration``.

    ``timedelta(days=1)`` → ``1d``, ``timedelta(hours=36)`` → ``36h``,
    ``timedelta(minutes=90)`` → ``90m``, ``timedelta(days=1, minutes=1)`` →
    ``1d1m``; among equally short spellings, fewer and larger units win.
    """
    if duration <= timedelta(0) or duration.microseconds:
        raise ValueError(f"must be a positive whole number of seconds (got {duration!r})")
    seconds = int(duration.total_seconds())
    spellings = [
        text
        for size in range(1, len(_UNITS) + 1)
        for units in combinations(_UNITS, size)
        if (text := _spell(seconds, units)) is not None
    ]
    # seconds alone always spells it, so the list is never empty; min() is stable.
    return min(spellings, key=len)


def parse_instant(value: object, tz: tzinfo, *, what: str | None = None) -> datetime:
    """An aware instant from a scenario value; naive values are local time in ``tz``.

    Accepts a :class:`~datetime.datetime` (naive: local; aware: kept as given),
    a :class:`~datetime.date` (the local midnight that begins it), or a string
    ``2026-02-01T21:00``, ``2026-02-01T21:00+08:00`` or ``2026-02-01``.
    """
    if isinstance(value, str):
        if _INSTANT.fullmatch(value) is None:
            raise ValueError(_named(what, f"must be {INSTANT_EXPECTED} (got {value!r})"))
        try:
            value = (datetime.fromisoformat(value) if len(value) > 10
                     else date.fromisoformat(value))
        except ValueError:
            raise ValueError(_named(what, f"must be {INSTANT_EXPECTED}; {value!r} is not "
                                          f"a real date or time")) from None
    if isinstance(value, datetime):
        if value.tzinfo is not None and value.utcoffset() is not None:
            return value
        # Through UTC so that a wall-clock time skipped by a DST change lands
        # on the instant just after the gap rather than on a fictitious one.
        return value.replace(tzinfo=tz).astimezone(UTC).astimezone(tz)
    if isinstance(value, date):
        return datetime.combine(value, time(0), tzinfo=tz).astimezone(UTC).astimezone(tz)
    raise ValueError(_named(what, f"must be {INSTANT_EXPECTED} (got {value!r})"))


def parse_clock_time(value: object, *, what: str | None = None) -> time:
    """``"00:30"`` → ``time(0, 30)``."""
    match = _CLOCK.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(_named(what, f"must be {CLOCK_EXPECTED} (got {value!r})"))
    return time(int(match.group(1)), int(match.group(2)))
