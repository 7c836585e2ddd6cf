"""Instants as the databases and the wire write them.

SQLite columns hold an instant as whole microseconds since the Unix epoch
(:func:`to_us` / :func:`from_us`: exact, ordered, cheap to compare); the wire
and the parties' text columns hold RFC 3339 in UTC (:func:`utc_iso`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

__all__ = ["EPOCH", "from_us", "iso_us", "to_us", "utc_iso"]

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
