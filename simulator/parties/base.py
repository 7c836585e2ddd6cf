"""What every reference party shares: its own SQLite database, its timers, a real crash.

A party's durable state lives in a named in-memory SQLite database that a
*keeper* connection (``disk``) holds open — the party's disk; the harness
reads final state through it, even while the party is down. A served world
with a state folder (``Env.state``) keeps each party's database in a file
there instead, ``<party>.sqlite3``, in WAL mode with ``synchronous = NORMAL``: a
committed transaction is in the file before the commit returns, so it survives
the process being killed (``kill -9``); an existing file is opened as it is
(``resumed``), for the party to recover from. The party works through a
second connection. A crash closes that connection (SQLite rolls back whatever
was not committed), advances the party's epoch (its pending timers die with
it) and drops every in-memory cache; a restart opens a fresh connection and
rebuilds from the database alone.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from simulator.core.calendars import Jurisdiction
from simulator.core.clock import Clock, Scheduler
from simulator.core.rng import Streams
from simulator.engine.journal import Journal
from simulator.engine.links import Body, Link, Response, problem_document

__all__ = ["Env", "Party", "PaymentNetwork", "Problem", "Rows", "problem"]

_store_numbers = itertools.count(1)


class PaymentNetwork(Protocol):
    """The payment network outside every party, as a party sees it.

    Money leaves a borrower when a party accepts the borrower's payment, which the
    world sees for itself; a party only ever gives money *back*, through here, so the
    truth learns what the borrower really got back and never takes a party's word
    for what was paid.
    """

    def give_back(self, payment_id: str, amount: int, *, by: str) -> None:
        """Return ``amount`` minor units of the payment ``payment_id`` to its borrower."""
        ...


@dataclass
class Env:
    """What a party may use of its world: time, randomness, journal, links, defects."""

    clock: Clock
    scheduler: Scheduler
    journal: Journal
    streams: Streams
    jurisdiction: Jurisdiction
    defects: frozenset[str]
    network: PaymentNetwork
    links: dict[str, Link]
    #: a folder for the parties' database files (a served world that survives restarts)
    state: Path | None = None

    def link(self, name: str) -> Link:
        return self.links[name]


class Rows:
    """A re-iterable view of a query on a party's disk: read at each iteration, never held,
    so the checks can walk millions of rows in constant memory."""

    def __init__(self, db: sqlite3.Connection, query: str,
                 convert: Callable[[tuple[Any, ...]], Any] | None = None) -> None:
        self._db = db
        self._query = query
        self._convert = convert

    def __iter__(self) -> Iterator[Any]:
        convert = self._convert
        for row in self._db.execute(self._query):
            yield convert(row) if convert is not None else row


class Problem(Exception):
    """Raised inside an operation to answer with an RFC 9457 problem document."""

    def __init__(self, status: int, title: str, detail: str = "", **extra: Any) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.extra = extra


def problem(status: int, title: str, detail: str = "", **extra: Any) -> Response:
    """A party's answer carrying an RFC 9457 problem document."""
    return Response(status, problem_document(status, title, detail, **extra))


Operation = Callable[[Body, Mapping[str, str]], Response]


class Party:
    """Base of the reference parties. Subclasses define ``name``, ``SCHEMA``,
    ``operations`` and the :meth:`recover` / :meth:`forget` hooks."""

    name = "party"
    SCHEMA = ""

    def __init__(self, env: Env) -> None:
        self.env = env
        self.epoch = 0
        self.up = True
        self.file: Path | None = None if env.state is None else env.state / f"{self.name}.sqlite3"
        if self.file is None:
            self._uri = f"file:lendsim-{self.name}-{next(_store_numbers)}?mode=memory&cache=shared"
        else:
            self._uri = self.file.resolve().as_uri()
        self.disk = sqlite3.connect(self._uri, uri=True)
        #: the database already held the party's state (a restarted server)
        self.resumed = False
        if self.file is not None:
            self.disk.execute("PRAGMA journal_mode = WAL")
            self.resumed = self.disk.execute(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0] > 0
        if not self.resumed:
            self.disk.executescript(self.SCHEMA)
        self.db = self._connect()
        self.operations: dict[str, Operation] = self.routes()
        #: called after each operation and each timer of this party has run (the world
        #: observes a party's committed state through it); None: nobody watches
        self.after_work: Callable[[], None] | None = None

    def routes(self) -> dict[str, Operation]:
        """The party's operations by name (the same ones its HTTP face serves)."""
        return {}

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self._uri, uri=True)
        if self.file is None:
            db.execute("PRAGMA read_uncommitted = 0")
        else:
            db.execute("PRAGMA synchronous = NORMAL")
            db.execute("PRAGMA busy_timeout = 5000")
        return db

    # -- time ------------------------------------------------------------------
    @property
    def now(self) -> datetime:
        return self.env.clock.now

    def timer(self, at: datetime, action: Callable[..., Any], *args: Any) -> None:
        """An in-memory timer: it fires at ``at`` unless this party crashes first."""
        if self.after_work is None:
            self.env.scheduler.at(at, action, *args, owner=self)
        else:
            self.env.scheduler.at(at, self._watched, action, args, owner=self)

    def _watched(self, action: Callable[..., Any], args: tuple[Any, ...]) -> None:
        action(*args)
        if self.after_work is not None:
            self.after_work()

    def journal(self, kind: str, /, **data: Any) -> int:
        return self.env.journal.append(f"{self.name}.{kind}", self.name, **data)

    def defect(self, name: str) -> bool:
        return f"{self.name}.{name}" in self.env.defects

    # -- the wire --------------------------------------------------------------
    def handle(self, operation: str, body: Body, headers: Mapping[str, str]) -> Response:
        """Run one operation; every link and HTTP face calls parties through here."""
        response = self._handle(operation, body, headers)
        if self.after_work is not None:
            self.after_work()
        return response

    def _handle(self, operation: str, body: Body, headers: Mapping[str, str]) -> Response:
        if not self.up:
            return problem(503, "Service unavailable", f"{self.name} is down")
        action = self.operations.get(operation)
        if action is None:
            return problem(404, "Unknown operation", f"{self.name} has no operation {operation!r}")
        try:
            return action(body, headers)
        except Problem as failure:
            if self.db.in_transaction:
                self.db.rollback()
            return problem(failure.status, failure.title, failure.detail, **failure.extra)
        except (KeyError, TypeError, ValueError, AttributeError) as failure:
            # a body the operation cannot read: the caller's mistake, never a 5xx
            if self.db.in_transaction:
                self.db.rollback()
            what = f"a field it needs is missing or malformed ({failure.args[0]!r})" \
                if isinstance(failure, KeyError) else str(failure)
            return problem(422, "Invalid request", f"{operation}: {what}")

    # -- crash and restart -----------------------------------------------------
    def crash(self) -> None:
        """Lose everything not committed: the connection, in-memory state, timers."""
        if not self.up:
            return
        self.up = False
        self.epoch += 1
        self.db.close()  # SQLite rolls back any open transaction
        self.forget()
        self.journal("crashed")

    def restart(self) -> None:
        """Come back from the database alone."""
        if self.up:
            return
        self.db = self._connect()
        self.up = True
        self.journal("restarted")
        self.recover()

    def start(self) -> None:
        """Arm the party's timers when the world starts."""
        self.recover()

    def forget(self) -> None:
        """Drop in-memory state (override where a party keeps any)."""

    def recover(self) -> None:
        """Re-arm timers and catch up from the database (override)."""

    def close(self) -> None:
        if self.up:
            self.db.close()
        self.disk.close()
