"""A served world's state folder (``lendsim serve --state DIR``): what survives ``kill -9``.

The folder holds one SQLite file per party (``bank.sqlite3`` …, written by the
parties themselves, :mod:`simulator.parties.base`), ``nonces.sqlite3`` (the replay
cache, :class:`~simulator.wire.signing.SqliteNonces`) and ``world.sqlite3``, kept
here:

* ``meta``: which world this is (a fingerprint of its scenario and defects) and
  its clock, saved after every advance (and every chunk of a long one) and before
  each scripted borrower action, so a restart never repeats one;
* ``faults``: every fault planted through the sandbox, saved before it is
  acknowledged.

Every file is in WAL mode with ``synchronous = NORMAL``: a commit is written to the
file before it returns, so it survives the process being killed; a power cut may
lose the last commits (the operating system had not flushed them yet).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from simulator.core.errors import LendsimError
from simulator.core.topology import PARTIES
from simulator.scenarios.model import Scenario
from simulator.wire.signing import SqliteNonces

__all__ = ["StateFolder", "fingerprint"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS faults (fault_id TEXT PRIMARY KEY, body TEXT NOT NULL);
"""


def fingerprint(scenario: Scenario, defects: tuple[str, ...]) -> str:
    """What makes two worlds the same world: the scenario (wherever its file is) and the
    defects planted."""
    text = repr((replace(scenario, file=None), tuple(sorted(defects))))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class StateFolder:
    """The files of one served world's state; opened (and created) at ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path / "world.sqlite3", isolation_level=None,
                                       check_same_thread=False)
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as error:
            raise LendsimError(f"--state {path}: cannot keep the world's state there "
                               f"({error})") from None

    def nonces(self) -> SqliteNonces:
        """The replay cache kept in this folder."""
        return SqliteNonces(self.path / "nonces.sqlite3")

    # -- which world, and its clock ------------------------------------------------------
    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _set(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def world(self) -> str | None:
        """The fingerprint of the world kept here, if any."""
        return self._meta("world")

    def clock(self) -> datetime | None:
        """The clock saved last."""
        value = self._meta("clock")
        return None if value is None else datetime.fromisoformat(value)

    def check(self, expected: str, what: str) -> None:
        """Refuse to serve another world than the one kept here."""
        found = self.world()
        if found is not None and found != expected:
            raise LendsimError(f"--state {self.path} holds the state of another world than "
                               f"{what}; serve that world again, or give an empty folder")

    def begin(self, world: str, now: datetime) -> None:
        """A fresh world is kept here from now on."""
        with self._transaction():
            self._set("world", world)
            self._set("clock", now.astimezone(UTC).isoformat())

    def save_clock(self, now: datetime) -> None:
        self._set("clock", now.astimezone(UTC).isoformat())

    def wipe(self) -> None:
        """Forget the world (its parties' files too); the replay cache stays."""
        with self._transaction():
            for table in ("meta", "faults"):
                self._db.execute(f"DELETE FROM {table}")
        for party in PARTIES:
            for suffix in ("", "-wal", "-shm"):
                (self.path / f"{party}.sqlite3{suffix}").unlink(missing_ok=True)

    # -- faults and money -------------------------------------------------------------------
    def save_fault(self, fault_id: str, body: dict[str, Any]) -> None:
        self._db.execute("INSERT OR REPLACE INTO faults VALUES (?, ?)",
                         (fault_id, json.dumps(body)))

    def faults(self) -> list[dict[str, Any]]:
        return [json.loads(body) for (body,) in self._db.execute(
            "SELECT body FROM faults ORDER BY fault_id")]

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)

    def close(self) -> None:
        self._db.close()


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, *rest: object) -> None:
        self._db.execute("COMMIT" if kind is None else "ROLLBACK")
