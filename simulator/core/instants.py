"""Instants as the databases and the wire write them.

SQLite columns hold an instant as whole microseconds since the Unix epoch
(:func:`to_us` / :func:`from_us`: exact, ordered, cheap to compare); the wire
and the parties' text columns hold RFC 3339 in UTC (:func:`utc_iso`). What a person
reads shows instants in the jurisdiction's local time with its offset (README,
"Command line"): :func:`rezone` rewrites every instant in a text into a zone.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, tzinfo

__all__ = ["EPOCH", "from_us", "iso_us", "rezone", "to_us", "utc_iso"]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_us(instant: datetime) -> int:
    """Microseconds since the epoch of an aware instant."""
    delta = instant - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(value: int) -> datetime:
    """The aware UTC instant ``value`` microseconds after the epoch."""
    return EPOCH + timedelta(microseconds=value)


def utc_iso(instant: datetime) -> str:
    """``2026-02-01T13:00:00+00:00``: an aware instant in UTC, RFC 3339."""
    return instant.astimezone(UTC).isoformat()


def iso_us(value: int) -> str:
    """:func:`utc_iso` of an instant stored as microseconds."""
    return from_us(value).isoformat()


#: an RFC 3339 instant with an explicit offset (``Z`` or ``±HH:MM``); dates alone never match
_INSTANT = re.compile(
    r"(?<![\w.:+-])\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:\d{2})"
    r"(?![\w:])", re.ASCII)


def rezone(text: str, zone: tzinfo) -> str:
    """``text`` with every RFC 3339 instant that carries an offset shown in ``zone``.

    ``2026-02-01T13:00:00+00:00`` becomes ``2026-02-01T21:00:00+08:00`` in Asia/Shanghai;
    naive times, dates and anything that is not a real instant are left as they are.
    """

    def shift(match: re.Match[str]) -> str:
        written = match.group(0)
        try:
            instant = datetime.fromisoformat(written.replace("Z", "+00:00"))
        except ValueError:
            return written
        return instant.astimezone(zone).isoformat()

    return _INSTANT.sub(shift, text)
