"""The platform's database: loans, captured payments, the outbox, reconciliation files.

An SQLite database in memory, held open by a keeper connection for as long as the
service lives; the service works through a second connection. A crash closes that
connection — whatever was not committed is gone — and opens a fresh one: what
was committed is all the service knows afterwards.

Instants are stored as integer microseconds since the epoch (UTC).
"""

from __future__ import annotations

import itertools
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["Store", "from_us", "to_us"]

SCHEMA = """
CREATE TABLE loans (
    loan_id TEXT PRIMARY KEY, borrower TEXT NOT NULL, phone TEXT NOT NULL,
    principal INTEGER NOT NULL, months INTEGER NOT NULL, disbursed TEXT NOT NULL
);
CREATE INDEX loans_borrower ON loans (borrower);
CREATE TABLE payments (
    payment_id TEXT PRIMARY KEY, loan_id TEXT NOT NULL, amount INTEGER NOT NULL,
    value_time TEXT NOT NULL,            -- RFC 3339, the capture instant
    captured_on TEXT NOT NULL,           -- local business date
    status TEXT NOT NULL,                -- pending | acked | refunded
    posting_id TEXT, refunded_on TEXT
);
CREATE INDEX payments_loan ON payments (loan_id);
CREATE INDEX payments_day ON payments (captured_on);
-- the transactional outbox: written in the same transaction as its cause
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY, topic TEXT NOT NULL,  -- forward | give_back | sms
    ref TEXT NOT NULL, payload TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, next_us INTEGER NOT NULL
);
CREATE INDEX outbox_due ON outbox (next_us);
CREATE INDEX outbox_ref ON outbox (topic, ref);
CREATE TABLE reconciliation (
    business_date TEXT PRIMARY KEY, status TEXT NOT NULL,   -- pending | sent
    attempts INTEGER NOT NULL DEFAULT 0, next_us INTEGER NOT NULL
);
CREATE TABLE notices (
    id INTEGER PRIMARY KEY, loan_id TEXT NOT NULL, installment INTEGER NOT NULL,
    kind TEXT NOT NULL, at_us INTEGER NOT NULL
);
CREATE TABLE settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_numbers = itertools.count(1)


def to_us(instant: datetime) -> int:
    return (instant - _EPOCH) // timedelta(microseconds=1)


def from_us(value: int) -> datetime:
    return _EPOCH + timedelta(microseconds=value)


class Store:
    """One database, fresh per reset."""

    def __init__(self) -> None:
        self._uri = f"file:example-platform-{next(_numbers)}?mode=memory&cache=shared"
        self._keeper = sqlite3.connect(self._uri, uri=True, check_same_thread=False)
        self._keeper.executescript(SCHEMA)
        self._lock = threading.RLock()
        self.db = self._connect()

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self._uri, uri=True, check_same_thread=False,
                               isolation_level=None)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One transaction, committed at the end of the block (rolled back on error)."""
        with self._lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    def read(self, query: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self.db.execute(query, args).fetchall()

    def one(self, query: str, args: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
        with self._lock:
            row: tuple[Any, ...] | None = self.db.execute(query, args).fetchone()
            return row

    def crash(self) -> None:
        """Lose everything not committed, as a kill -9 and a restart would."""
        with self._lock:
            self.db.close()
            self.db = self._connect()

    def close(self) -> None:
        with self._lock:
            self.db.close()
            self._keeper.close()
