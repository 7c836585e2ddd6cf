"""The bank's database: one SQLite file (WAL), fresh at every reset.

A request is answered only after its writes are committed. A crash closes the
connection — an open transaction is rolled back — and opens a new one: the bank
then knows what was committed and nothing else. Instants are integer
microseconds since the epoch (UTC); an installment's ``grace_end`` is the
ordinal of the last day before it is late.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

__all__ = ["Store", "from_us", "iso", "to_us"]

SCHEMA = """
CREATE TABLE loans (
    loan_id TEXT PRIMARY KEY, borrower TEXT NOT NULL, subject_id TEXT NOT NULL,
    name TEXT NOT NULL, phone TEXT NOT NULL, principal INTEGER NOT NULL,
    annual_rate TEXT NOT NULL, months INTEGER NOT NULL, method TEXT NOT NULL,
    disbursed TEXT NOT NULL, grace_days INTEGER NOT NULL, tolerance INTEGER NOT NULL,
    holiday_shift TEXT NOT NULL
);
CREATE TABLE installments (
    loan_id TEXT NOT NULL, number INTEGER NOT NULL, due_date TEXT NOT NULL,
    period TEXT NOT NULL, grace_end INTEGER NOT NULL, due_end_us INTEGER NOT NULL,
    principal INTEGER NOT NULL, interest INTEGER NOT NULL,
    paid INTEGER NOT NULL DEFAULT 0, penalty INTEGER NOT NULL DEFAULT 0,
    penalty_paid INTEGER NOT NULL DEFAULT 0,
    settled_us INTEGER,                   -- value time the residual fell within tolerance
    max_dpd INTEGER NOT NULL DEFAULT 0,   -- days past due, as the day-end batch saw them
    warned INTEGER NOT NULL DEFAULT 0,    -- texted and told the platform
    reported TEXT,                        -- last status sent to the bureau
    closed INTEGER NOT NULL DEFAULT 0,    -- settled late, nothing more to report
    PRIMARY KEY (loan_id, number)
);
CREATE INDEX installments_late ON installments (grace_end)
    WHERE closed = 0 AND (reported IS NULL OR reported != 'overdue');
CREATE INDEX installments_unreported ON installments (due_date) WHERE reported IS NULL;
CREATE TABLE postings (
    posting_id TEXT PRIMARY KEY, payment_id TEXT NOT NULL, idempotency_key TEXT,
    loan_id TEXT NOT NULL, amount INTEGER NOT NULL, applied INTEGER NOT NULL,
    refunded INTEGER NOT NULL, value_us INTEGER NOT NULL, received_us INTEGER NOT NULL
);
CREATE INDEX postings_payment ON postings (payment_id);
CREATE INDEX postings_key ON postings (idempotency_key);
CREATE INDEX postings_loan ON postings (loan_id, value_us);
CREATE TABLE reconciliation_files (
    business_date TEXT PRIMARY KEY, received_us INTEGER NOT NULL, count INTEGER NOT NULL,
    total INTEGER NOT NULL, matched INTEGER NOT NULL, in_transit INTEGER NOT NULL
);
CREATE TABLE in_transit (
    payment_id TEXT PRIMARY KEY, loan_id TEXT NOT NULL, amount INTEGER NOT NULL,
    value_us INTEGER NOT NULL
);
CREATE INDEX in_transit_loan ON in_transit (loan_id);
CREATE TABLE day_end (
    business_date TEXT PRIMARY KEY, stage TEXT NOT NULL,   -- waiting | acted
    act_us INTEGER NOT NULL    -- when it acts: the file arrived, or the wait ran out
);
CREATE INDEX day_end_waiting ON day_end (act_us) WHERE stage = 'waiting';
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY, peer TEXT NOT NULL, path TEXT NOT NULL, payload TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, next_us INTEGER NOT NULL
);
CREATE TABLE settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_us(instant: datetime) -> int:
    return (instant - _EPOCH) // timedelta(microseconds=1)


def from_us(value: int) -> datetime:
    return _EPOCH + timedelta(microseconds=value)


def iso(value: int) -> str:
    return from_us(value).isoformat()


class Store:
    """The database file and the one connection the bank works through."""

    def __init__(self, path: Path) -> None:
        self.path = path
        for stale in (path, path.with_name(path.name + "-wal"),
                      path.with_name(path.name + "-shm")):
            stale.unlink(missing_ok=True)
        self._lock = threading.RLock()
        self.db = self._connect()
        self.db.executescript(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        return db

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    def all(self, query: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self.db.execute(query, args).fetchall()

    def one(self, query: str, args: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
        with self._lock:
            row: tuple[Any, ...] | None = self.db.execute(query, args).fetchone()
            return row

    def crash(self) -> None:
        """Lose what was not committed: close the connection, open a new one."""
        with self._lock:
            self.db.close()
            self.db = self._connect()

    def close(self) -> None:
        with self._lock:
            self.db.close()
