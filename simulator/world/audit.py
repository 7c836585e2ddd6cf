"""The world's audit of a reference party's tables: every change, as the database took it.

A check must judge what a party's state *became*, never the party's account of
what it did. So the world installs triggers on the tables it watches (the bank's
postings, the bureau's credit-file records) that copy every inserted, updated or
deleted row into an audit table of the party's own database — written by SQLite
in the same transaction as the change, so a crash that loses the change loses its
audit row too. After each operation and each timer of the party (its
``after_work`` hook) the world stamps the new rows with the virtual instant.

Most of a party's work changes no watched row (a day's batch that finds nothing
overdue, a reconciliation file, a read), so a poll first asks the party's own
connection whether anything was written since the last poll
(``total_changes``, which counts the rows written by triggers too): when nothing
was, and no transaction is open, no audit row can have appeared and the poll
reads nothing. A new connection (the party restarted), a party that is down or
an open transaction always reads the table.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

from simulator.core.clock import Clock
from simulator.core.instants import from_us, to_us
from simulator.parties.base import Party

__all__ = ["Audit", "AuditRow"]

#: one audited change: (seq, instant, op, the row's columns as after the change — or as
#: before it, for a deletion)
AuditRow = tuple[int, datetime, str, tuple[Any, ...]]


class Audit:
    """Triggers on ``table`` of ``party`` recording ``columns`` of every changed row."""

    def __init__(self, party: Party, table: str, columns: Sequence[str], clock: Clock, *,
                 on_change: Callable[[AuditRow], int] | None = None,
                 updates: Sequence[str] | None = None) -> None:
        self._party = party
        self._clock = clock
        self._on_change = on_change
        self.table = f"lendsim_audit_{table}"
        names = ", ".join(columns)
        new = ", ".join(f"NEW.{c}" for c in columns)
        old = ", ".join(f"OLD.{c}" for c in columns)
        watched = f" OF {', '.join(updates)}" if updates else ""
        disk = party.disk
        audit = self.table
        # IF NOT EXISTS: a served world resumed from its state folder has them already
        with disk:
            disk.executescript(f"""
                CREATE TABLE IF NOT EXISTS {audit} (seq INTEGER PRIMARY KEY, at_us INTEGER,
                    op TEXT NOT NULL, {names}, journal_seq INTEGER NOT NULL DEFAULT 0);
                CREATE INDEX IF NOT EXISTS {audit}_unstamped ON {audit} (seq)
                    WHERE at_us IS NULL;
                CREATE TRIGGER IF NOT EXISTS {audit}_insert AFTER INSERT ON {table} BEGIN
                    INSERT INTO {audit} (op, {names}) VALUES ('insert', {new}); END;
                CREATE TRIGGER IF NOT EXISTS {audit}_update AFTER UPDATE{watched} ON {table}
                    BEGIN INSERT INTO {audit} (op, {names}) VALUES ('update', {new}); END;
                CREATE TRIGGER IF NOT EXISTS {audit}_delete AFTER DELETE ON {table} BEGIN
                    INSERT INTO {audit} (op, {names}) VALUES ('delete', {old}); END;
            """)
        self._select = f"SELECT seq, op, {names} FROM {self.table} WHERE at_us IS NULL ORDER BY seq"
        self._names = names
        #: the party's connection and its ``total_changes`` when a poll last found every
        #: change committed and stamped (None: the next poll reads the table)
        self._quiet: tuple[sqlite3.Connection, int] | None = None

    def poll(self) -> None:
        """Stamp the changes committed since the last poll with the current instant."""
        party = self._party
        quiet = None
        if party.up:
            db = party.db
            if not db.in_transaction:
                quiet = (db, db.total_changes)
                if quiet == self._quiet:
                    return  # nothing written since the last poll: nothing to stamp
        self._quiet = quiet
        disk = party.disk
        rows = disk.execute(self._select).fetchall()
        if not rows:
            return
        now_us = to_us(self._clock.now)
        at = from_us(now_us)
        stamps = []
        for seq, op, *values in rows:
            journal_seq = self._on_change((seq, at, op, tuple(values))) \
                if self._on_change is not None else 0
            stamps.append((now_us, journal_seq, seq))
        with disk:
            disk.executemany(f"UPDATE {self.table} SET at_us = ?, journal_seq = ? WHERE seq = ?",
                             stamps)

    def rows(self) -> Iterator[tuple[Any, ...]]:
        """Every stamped change: (at, op, *columns, journal_seq), in order, read as walked."""
        query = (f"SELECT at_us, op, {self._names}, journal_seq FROM {self.table}"
                 " WHERE at_us IS NOT NULL ORDER BY seq")
        for at_us, op, *rest in self._party.disk.execute(query):
            yield (from_us(at_us), op, *rest)
