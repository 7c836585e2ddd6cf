"""Retries with capped exponential backoff, and a durable, ordered outbox for messages.

:func:`backoff` is how long every reference party waits before its next try:
``first``, doubling with each failure, never more than ``cap``.

:class:`Outbox` keeps messages to other parties in the party's own database,
written in the same transaction as the change that caused them, so a crash
loses a message only together with its cause. It sends them in order per link
(a message waits for the ones queued before it on its link), drops one the
target refused for good (a 4xx other than 408, 409 or 429), and backs off a
link whose call failed.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from simulator.core.instants import from_us, to_us
from simulator.engine.links import Body

if TYPE_CHECKING:
    from simulator.parties.base import Party

__all__ = ["OUTBOX_SCHEMA", "Outbox", "backoff", "refused_for_good"]

#: The table an :class:`Outbox` keeps its messages in (part of the party's schema).
OUTBOX_SCHEMA = """
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY, link TEXT NOT NULL, op TEXT NOT NULL, body TEXT NOT NULL,
    ref TEXT, attempts INTEGER NOT NULL DEFAULT 0, next_us INTEGER NOT NULL
);
"""

#: a party's calls are retried no oftener than this when several wait on one link
_MIN_GAP = timedelta(seconds=1)


def backoff(attempts: int, first: timedelta, cap: timedelta) -> timedelta:
    """The wait after failed try number ``attempts`` (from 1): ``first``, doubling, at most
    ``cap``."""
    if attempts < 1:
        raise ValueError(f"attempts counts failed tries, from 1 (got {attempts})")
    wait = first
    for _ in range(attempts - 1):  # doubling stops at the cap (it would overflow a timedelta)
        if wait >= cap:
            return cap
        wait *= 2
    return min(wait, cap)


def refused_for_good(status: int | None) -> bool:
    """Did the target refuse a request so that sending it again cannot help?"""
    return status is not None and 400 <= status < 500 and status not in (408, 409, 429)


class Outbox:
    """A party's durable outbox (the ``outbox`` table of its database)."""

    def __init__(self, party: Party, *, first: timedelta = timedelta(minutes=1),
                 cap: timedelta = timedelta(hours=1)) -> None:
        self._party = party
        self._first = first
        self._cap = cap
        self._drain_at: datetime | None = None  # in memory: forgotten in a crash

    def enqueue(self, link: str, op: str, body: Body, *, ref: str | None) -> None:
        """Queue a message, inside the caller's transaction (it commits with the cause)."""
        party = self._party
        party.db.execute("INSERT INTO outbox (link, op, body, ref, next_us) VALUES (?,?,?,?,?)",
                         (link, op, json.dumps(body), ref, to_us(party.now)))

    def schedule(self, at: datetime) -> None:
        """Send what is due at ``at`` (unless a send is already due earlier)."""
        if self._drain_at is not None and self._drain_at <= at:
            return
        self._drain_at = at
        self._party.timer(at, self._drain)

    def forget(self) -> None:
        """The party crashed: its timer died with it."""
        self._drain_at = None

    def recover(self) -> None:
        """The party restarted: send whatever is queued."""
        party = self._party
        if party.db.execute("SELECT 1 FROM outbox LIMIT 1").fetchone():
            self.schedule(party.now)

    def _drain(self) -> None:
        """Send queued messages in order per link; a link that fails waits with backoff."""
        party = self._party
        self._drain_at = None
        now_us = to_us(party.now)
        blocked: set[str] = set()
        rows = party.db.execute(
            "SELECT id, link, op, body, ref, attempts, next_us FROM outbox ORDER BY id").fetchall()
        for row_id, link, op, body, ref, attempts, next_us in rows:
            if link in blocked:
                continue
            if next_us > now_us:
                blocked.add(link)
                continue
            reply = party.env.link(link).call(op, json.loads(body), ref=ref)
            if not party.up:
                return
            if reply.ok or refused_for_good(reply.status):
                with party.db:
                    party.db.execute("DELETE FROM outbox WHERE id = ?", (row_id,))
                continue
            wait = backoff(attempts + 1, self._first, self._cap)
            with party.db:
                party.db.execute("UPDATE outbox SET attempts = ?, next_us = ? WHERE id = ?",
                                 (attempts + 1, to_us(party.now + wait), row_id))
            blocked.add(link)
        # wake when the first waiting message of some link is due (those behind it wait)
        (next_us,) = party.db.execute(
            "SELECT min(next_us) FROM outbox WHERE id IN (SELECT min(id) FROM outbox"
            " GROUP BY link)").fetchone()
        if next_us is not None:
            self.schedule(max(from_us(next_us), party.now + _MIN_GAP))
