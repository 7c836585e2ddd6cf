"""Small worlds for party tests: one borrower, keyword overrides, and a stepped run.

The scenario is built with :mod:`tests.support.scenario_text` (the one scenario builder of
the tests); the keywords here name the parts a party test varies.

``make_world`` (the fixture in ``tests/parties/conftest.py``) builds a
:class:`~simulator.world.world.World` from :func:`scenario_text`; :func:`begin` does
what ``World.run`` does before it hands over to the scheduler (books the
loans, starts the parties, schedules the steps), so a test can then move time
with :func:`advance` and look at each party's committed state through its
``disk`` connection while the world is still alive.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest

from simulator.core.durations import parse_instant
from simulator.engine.journal import Entry
from simulator.engine.links import Response
from simulator.parties.base import Party
from simulator.scenarios.loader import load_scenario_text
from simulator.world.world import World
from tests.support import scenario_text as common
from tests.support.scenario_text import money

MakeWorld = Callable[..., World]
#: a scenario step, as :mod:`tests.support.scenario_text` builds it
Step = dict[str, Any]

__all__ = [
    "LOAN",
    "Call",
    "MakeWorld",
    "advance",
    "begin",
    "book",
    "build_world",
    "dispute",
    "entries",
    "fault",
    "installment",
    "instant",
    "local",
    "post",
    "repay",
    "scenario_text",
    "spy",
    "warnings",
    "world_factory",
]

#: alice's loan id at the bank and the platform (the world books ``L-<handle>``)
LOAN = "L-alice"


_MONEY = ("amount", "short_by", "arrears_tolerance", "principal", "annual_rate")


def _money(fields: dict[str, Any]) -> dict[str, Any]:
    """Amounts written as text ("0.50") become YAML numbers, as a scenario writes them."""
    return {key: money(value) if key in _MONEY and isinstance(value, str) else value
            for key, value in fields.items()}


def repay(at: str, installment: int = 1, borrower: str = "alice", **extra: Any) -> Step:
    """A ``repay`` step (``amount``/``short_by`` in major units as text, ``via``)."""
    return common.repay(at, borrower=borrower, installment=installment, **_money(extra))


def fault(at: str, kind: str, **extra: Any) -> Step:
    """A ``fault`` step: ``link=``/``party=``, and ``for_=`` for the ``for`` key."""
    return common.fault(at, kind, **extra)


def dispute(at: str, period: str, borrower: str = "alice") -> Step:
    return {"at": at, "dispute": {"borrower": borrower, "period": period}}


def scenario_text(
    *,
    jurisdiction: str = "CN",
    start: str = "2026-01-01T09:00",
    until: str = "2026-12-31T00:00",
    principal: str = "12000.00",
    annual_rate: str = "0.18",
    months: int = 3,
    method: str = "equal_installment",
    disbursed: str = "2026-01-01",
    pays: str = "manual",
    bank: dict[str, Any] | None = None,
    platform: dict[str, Any] | None = None,
    defects: Sequence[str] = (),
    steps: Sequence[Step] = (),
    seed: int = 0,
) -> str:
    """A one-borrower scenario (``alice``) in YAML, every part overridable."""
    return common.scenario_text(
        scenario="party-test", summary="A small world for a party test.",
        jurisdiction=jurisdiction, seed=seed, start=start, until=until,
        world=common.world(bank=_money(bank or {}), platform=dict(platform or {}),
                           defects=list(defects)),
        borrowers=[common.borrower("alice", principal=principal, annual_rate=annual_rate,
                                   months=months, method=method, disbursed=disbursed,
                                   pays=pays)],
        steps=list(steps) or None)


def build_world(*, extra_defects: Iterable[str] = (), **overrides: Any) -> World:
    """A world from :func:`scenario_text` with ``overrides``; not yet started."""
    return World(load_scenario_text(scenario_text(**overrides), file="party-test.yaml"),
                 tuple(extra_defects))


def world_factory() -> Iterator[MakeWorld]:
    """The body of a ``make_world`` fixture: a factory of fresh worlds, closed at teardown."""
    built: list[World] = []

    def make_world(**overrides: Any) -> World:
        world = build_world(**overrides)
        built.append(world)
        return world

    yield make_world
    for world in built:
        for party in world.parties.values():
            party.close()


def instant(world: World, text: str) -> datetime:
    """``2026-02-01T21:00`` read in the world's local time (aware)."""
    return parse_instant(text, world.jurisdiction.tz, what="at")


def book(world: World) -> World:
    """Book the scenario's loans at the bank and the platform, and start no party.

    With no party started nothing is scheduled, so :func:`advance` only moves the clock.
    """
    world._open_books()
    return world


def begin(world: World) -> World:
    """Open the books, start every party and schedule the scenario's steps (like ``run``)."""
    world.start()
    return world


def advance(world: World, text: str) -> None:
    """Run every event before the local instant ``text``; the clock stops there."""
    world.scheduler.run_until(instant(world, text))


def entries(world: World, *kinds: str) -> list[Entry]:
    """The journal entries of these kinds, in order."""
    return list(world.journal.entries(kinds))


def installment(world: World, number: int, loan_id: str = LOAN) -> dict[str, Any]:
    """The bank's committed row of one installment, by column name."""
    cursor = world.bank.disk.execute(
        "SELECT * FROM installments WHERE loan_id = ? AND number = ?", (loan_id, number))
    row = cursor.fetchone()
    assert row is not None, f"no installment {number} of {loan_id}"
    return dict(zip([c[0] for c in cursor.description], row, strict=True))


def local(world: World, moment: datetime) -> datetime:
    """``moment`` in the world's local time, for comparing with local instants."""
    return moment.astimezone(world.jurisdiction.tz)


def post(
    world: World,
    amount: int,
    value_time: datetime,
    *,
    payment_id: str = "P1",
    key: str | None = "P1",
    loan_id: str = LOAN,
) -> Response:
    """Deliver one repayment straight to the bank's ``post_repayment`` operation."""
    body = {"payment_id": payment_id, "loan_id": loan_id, "amount": amount,
            "currency": world.jurisdiction.currency, "value_time": value_time.isoformat()}
    headers = {} if key is None else {"Idempotency-Key": key}
    return world.bank.handle("post_repayment", body, headers)


def warnings(world: World) -> list[Entry]:
    """The overdue warnings the SMS gateway delivered."""
    return [e for e in entries(world, "sms.sent") if e.data["reason"] == "overdue_warning"]


@dataclass(frozen=True, slots=True)
class Call:
    """One operation that reached a party, as the party saw it."""

    at: datetime
    operation: str
    body: dict[str, Any]
    headers: dict[str, str]


def spy(monkeypatch: pytest.MonkeyPatch, party: Party) -> list[Call]:
    """Record every operation that reaches ``party`` (links call ``party.handle``)."""
    calls: list[Call] = []
    real = party.handle

    def handle(operation: str, body: dict[str, Any], headers: Any) -> Response:
        calls.append(Call(party.env.clock.now, operation, copy.deepcopy(body), dict(headers)))
        return real(operation, body, headers)

    monkeypatch.setattr(party, "handle", handle)
    return calls
