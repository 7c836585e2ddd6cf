"""What every party shares: its database, its timers, problems and a real crash."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from simulator.core.calendars import jurisdiction
from simulator.core.clock import Clock, Scheduler
from simulator.core.rng import Streams
from simulator.engine.journal import Journal
from simulator.engine.links import Response
from simulator.parties.base import Env, Party, Problem, problem

START = datetime(2026, 2, 1, 13, 0, tzinfo=UTC)


class Ledger(Party):
    """A minimal party: one table of notes, an in-memory cache, a few operations."""

    name = "ledger"
    SCHEMA = "CREATE TABLE note (id INTEGER PRIMARY KEY, text TEXT NOT NULL UNIQUE);"

    def __init__(self, env: Env) -> None:
        self.cache: dict[str, int] = {}
        self.recovered = 0
        super().__init__(env)

    def routes(self) -> dict[str, Callable[[dict[str, Any], Mapping[str, str]], Response]]:
        return {
            "add": self.add,
            "add_then_refuse": self.add_then_refuse,
            "add_unguarded_then_refuse": self.add_unguarded_then_refuse,
        }

    def add(self, body: dict[str, Any], headers: Mapping[str, str]) -> Response:
        with self.db:
            cursor = self.db.execute("INSERT INTO note (text) VALUES (?)", (body["text"],))
        self.cache[body["text"]] = int(cursor.lastrowid or 0)
        return Response(201, {"id": cursor.lastrowid})

    def add_then_refuse(self, body: dict[str, Any], headers: Mapping[str, str]) -> Response:
        with self.db:
            self.db.execute("INSERT INTO note (text) VALUES (?)", (body["text"],))
            raise Problem(409, "Refused", "changed my mind", code="late")

    def add_unguarded_then_refuse(
        self, body: dict[str, Any], headers: Mapping[str, str]
    ) -> Response:
        self.db.execute("INSERT INTO note (text) VALUES (?)", (body["text"],))
        raise Problem(422, "Unprocessable")

    def notes(self) -> list[str]:
        """The notes as the party itself reads them."""
        return [text for (text,) in self.db.execute("SELECT text FROM note ORDER BY id")]

    def forget(self) -> None:
        self.cache.clear()

    def recover(self) -> None:
        self.recovered += 1
        self.cache = {
            text: row_id for row_id, text in self.db.execute("SELECT id, text FROM note")
        }


def on_disk(party: Party) -> list[str]:
    """The committed notes, read through the keeper connection."""
    return [text for (text,) in party.disk.execute("SELECT text FROM note ORDER BY id")]


class _NoNetwork:
    """A payment network nobody gives money back through (these parties hold none)."""

    def give_back(self, payment_id: str, amount: int, *, by: str) -> None:
        raise AssertionError("a test party gave money back")


@pytest.fixture
def make_party() -> Iterator[Callable[..., Ledger]]:
    """A factory of Ledger parties on a fresh world; every one is closed at teardown."""
    made: list[Ledger] = []

    def make(defects: frozenset[str] = frozenset()) -> Ledger:
        clock = Clock(START, ZoneInfo("Asia/Shanghai"))
        scheduler = Scheduler(clock)
        env = Env(
            clock=clock, scheduler=scheduler, journal=Journal(clock), streams=Streams(0),
            jurisdiction=jurisdiction("CN"), defects=defects,
            network=_NoNetwork(), links={},
        )
        party = Ledger(env)
        made.append(party)
        return party

    yield make
    for party in made:
        party.close()


def add(party: Party, text: str) -> Response:
    return party.handle("add", {"text": text}, {})


def kinds(party: Party) -> list[str]:
    return [entry.kind for entry in party.env.journal.entries()]


# -- crash and restart ----------------------------------------------------------------


def test_committed_rows_survive_a_crash(make_party: Callable[..., Ledger]) -> None:
    """Rows committed before a crash are there after the restart."""
    party = make_party()
    assert add(party, "first").status == 201
    assert add(party, "second").status == 201
    party.crash()
    party.restart()
    assert party.notes() == ["first", "second"]
    assert on_disk(party) == ["first", "second"]


def test_open_transaction_is_lost_in_a_crash(make_party: Callable[..., Ledger]) -> None:
    """A transaction still open when the party crashes is rolled back."""
    party = make_party()
    add(party, "committed")
    party.db.execute("INSERT INTO note (text) VALUES ('uncommitted')")
    assert party.db.in_transaction
    party.crash()
    assert on_disk(party) == ["committed"]
    party.restart()
    assert party.notes() == ["committed"]


def test_crash_drops_in_memory_state_and_restart_recovers(
    make_party: Callable[..., Ledger],
) -> None:
    """A crash calls ``forget``; a restart calls ``recover`` on a fresh connection."""
    party = make_party()
    add(party, "a")
    assert party.cache == {"a": 1}
    recovered = party.recovered
    party.crash()
    assert party.cache == {}
    with pytest.raises(sqlite3.ProgrammingError):
        party.db.execute("SELECT 1")  # the old connection is gone
    party.restart()
    assert party.recovered == recovered + 1
    assert party.cache == {"a": 1}


def test_timers_set_before_a_crash_never_fire(make_party: Callable[..., Ledger]) -> None:
    """A timer dies with the party: it does not fire, not even after the restart."""
    party = make_party()
    fired: list[str] = []
    party.timer(START + timedelta(hours=2), fired.append, "before-crash")
    party.env.scheduler.at(START + timedelta(hours=2), fired.append, "world-timer")
    party.crash()
    party.restart()
    party.timer(START + timedelta(hours=3), fired.append, "after-restart")
    party.env.scheduler.run_until(START + timedelta(days=1))
    assert fired == ["world-timer", "after-restart"]


def test_timer_fires_when_no_crash_intervenes(make_party: Callable[..., Ledger]) -> None:
    """A timer set by a party that stays up fires at its instant."""
    party = make_party()
    fired: list[datetime] = []
    party.timer(START + timedelta(minutes=30), lambda: fired.append(party.now))
    party.env.scheduler.run_until(START + timedelta(hours=1))
    assert fired == [START + timedelta(minutes=30)]


def test_crash_and_restart_are_journaled_once(make_party: Callable[..., Ledger]) -> None:
    """Crashing a down party or restarting an up one does nothing."""
    party = make_party()
    party.restart()  # already up
    party.crash()
    party.crash()  # already down
    assert (party.up, party.epoch) == (False, 1)
    party.restart()
    party.restart()
    assert party.up
    assert kinds(party) == ["ledger.crashed", "ledger.restarted"]


def test_start_arms_the_party(make_party: Callable[..., Ledger]) -> None:
    """``start`` runs the party's ``recover`` hook."""
    party = make_party()
    before = party.recovered
    party.start()
    assert party.recovered == before + 1


def test_disk_reads_committed_state_while_down(make_party: Callable[..., Ledger]) -> None:
    """The keeper connection still reads the committed rows while the party is down."""
    party = make_party()
    add(party, "kept")
    party.crash()
    assert not party.up
    assert on_disk(party) == ["kept"]


def test_parties_do_not_share_a_database(make_party: Callable[..., Ledger]) -> None:
    """Two parties of the same class have separate databases."""
    one, two = make_party(), make_party()
    add(one, "only-in-one")
    assert on_disk(two) == []
    assert on_disk(one) == ["only-in-one"]


# -- the wire -----------------------------------------------------------------------------


def test_handle_while_down_answers_503(make_party: Callable[..., Ledger]) -> None:
    """A party that is down answers 503 with a problem document and runs nothing."""
    party = make_party()
    party.crash()
    response = party.handle("add", {"text": "lost"}, {})
    assert response == Response(503, {"type": "about:blank", "title": "Service unavailable",
                                       "status": 503, "detail": "ledger is down"})
    assert on_disk(party) == []


def test_unknown_operation_answers_404(make_party: Callable[..., Ledger]) -> None:
    """An operation the party does not have answers 404 with a problem document naming it."""
    response = make_party().handle("delete_everything", {}, {})
    assert response.status == 404
    assert response.body == {"type": "about:blank", "title": "Unknown operation",
                             "status": 404,
                             "detail": "ledger has no operation 'delete_everything'"}


@pytest.mark.parametrize(
    ("operation", "status", "body"),
    [
        pytest.param("add_then_refuse", 409,
                     {"type": "about:blank", "title": "Refused", "status": 409,
                      "detail": "changed my mind", "code": "late"},
                     id="inside-with-block"),
        pytest.param("add_unguarded_then_refuse", 422,
                     {"type": "about:blank", "title": "Unprocessable", "status": 422},
                     id="open-implicit-transaction"),
    ],
)
def test_problem_rolls_back_and_answers(
    make_party: Callable[..., Ledger], operation: str, status: int, body: dict[str, Any]
) -> None:
    """A Problem raised in an operation undoes its writes and answers a problem document."""
    party = make_party()
    add(party, "before")
    response = party.handle(operation, {"text": "undone"}, {})
    assert response == Response(status, body)
    assert not party.db.in_transaction
    assert party.notes() == ["before"]
    assert on_disk(party) == ["before"]
    assert add(party, "after").status == 201  # the connection is still usable
    assert on_disk(party) == ["before", "after"]


def test_other_exceptions_propagate(make_party: Callable[..., Ledger]) -> None:
    """An exception that is not a Problem is a bug in the party: it is not turned into a 4xx."""
    party = make_party()
    add(party, "dup")
    with pytest.raises(sqlite3.IntegrityError):
        add(party, "dup")


# -- Problem and problem() -------------------------------------------------------------------


def test_problem_document_shape() -> None:
    """``problem`` builds an RFC 9457 body; detail only when given; extras merged in."""
    assert problem(400, "Bad request") == Response(
        400, {"type": "about:blank", "title": "Bad request", "status": 400})
    assert problem(409, "Conflict", "already posted", payment="p1").body == {
        "type": "about:blank", "title": "Conflict", "status": 409,
        "detail": "already posted", "payment": "p1"}


def test_problem_exception_message() -> None:
    """A Problem's message is its detail, or its title when there is no detail."""
    assert str(Problem(409, "Conflict", "already posted")) == "already posted"
    assert str(Problem(404, "Not found")) == "Not found"
    failure = Problem(422, "Unprocessable", amount=5)
    assert (failure.status, failure.title, failure.detail, failure.extra) == (
        422, "Unprocessable", "", {"amount": 5})


# -- helpers -------------------------------------------------------------------------------


def test_journal_prefixes_the_party_name(make_party: Callable[..., Ledger]) -> None:
    """``journal(kind)`` appends ``<party>.<kind>`` by the party, at the current instant."""
    party = make_party()
    party.env.clock.now = START + timedelta(minutes=3)
    seq = party.journal("noted", kind="data", n=1)
    entry = party.env.journal.get(seq)
    assert (entry.kind, entry.party, entry.at) == ("ledger.noted", "ledger",
                                                  START + timedelta(minutes=3))
    assert entry.data == {"kind": "data", "n": 1}


@pytest.mark.parametrize(
    ("defects", "active"),
    [
        pytest.param(frozenset({"ledger.slow"}), True, id="own-defect"),
        pytest.param(frozenset({"bank.slow"}), False, id="other-partys-defect"),
        pytest.param(frozenset(), False, id="none"),
    ],
)
def test_defect_switch(make_party: Callable[..., Ledger], defects: frozenset[str],
                       active: bool) -> None:
    """``defect(name)`` is on only when ``<party>.<name>`` is planted."""
    assert make_party(defects).defect("slow") is active


def test_now_is_the_world_clock(make_party: Callable[..., Ledger]) -> None:
    """A party's ``now`` is the world's virtual instant."""
    party = make_party()
    party.env.scheduler.run_until(START + timedelta(days=2))
    assert party.now == START + timedelta(days=2)
