"""Links: one-way channels that deliver, refuse, fail, delay or duplicate calls."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from simulator.core.clock import Clock, Scheduler
from simulator.core.rng import Streams
from simulator.engine.journal import Journal
from simulator.engine.links import ActiveFault, Link, Outcome, Reply, Response

START = datetime(2026, 2, 1, 13, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


@dataclass
class FakeTarget:
    """A party stand-in that records every request and answers 200 with a counter."""

    name: str = "bank"
    up: bool = True
    calls: list[tuple[datetime, str, dict[str, Any], dict[str, str]]] = field(
        default_factory=list
    )
    clock: Clock | None = None

    def handle(self, operation: str, body: dict[str, Any], headers: Mapping[str, str]) -> Response:
        assert self.clock is not None
        self.calls.append((self.clock.now, operation, dict(body), dict(headers)))
        return Response(200, {"received": len(self.calls)})


@dataclass
class Wire:
    """A link with its fake target and the world pieces it needs."""

    link: Link
    target: FakeTarget
    clock: Clock
    scheduler: Scheduler
    journal: Journal

    def calls(self) -> list[dict[str, Any]]:
        """The journaled ``link.call`` entries' fields."""
        return [entry.data for entry in self.journal.entries(["link.call"])]

    def late(self) -> list[dict[str, Any]]:
        """The journaled ``link.late`` entries' fields."""
        return [entry.data for entry in self.journal.entries(["link.late"])]


@pytest.fixture
def make_wire() -> Callable[..., Wire]:
    """A factory of links from the platform to a fake bank, with a seeded draw."""

    def make(
        *faults: ActiveFault, seed: int = 7, up: bool = True,
        draw: Callable[[], float] | None = None,
    ) -> Wire:
        clock = Clock(START, ZoneInfo("Asia/Shanghai"))
        scheduler = Scheduler(clock)
        journal = Journal(clock)
        target = FakeTarget(up=up, clock=clock)
        if draw is None:
            draw = Streams(seed).get("link:platform->bank").random
        link = Link("platform->bank", target, scheduler, journal, draw)
        for fault in faults:
            link.add_fault(fault)
        return Wire(link, target, clock, scheduler, journal)

    return make


def fault(
    kind: str, start: datetime = START, end: datetime = START + HOUR, **extra: Any
) -> ActiveFault:
    """A fault of ``kind`` over ``[start, end)``."""
    return ActiveFault(kind, start, end, **extra)


def call(wire: Wire, n: int = 1) -> Reply:
    """Send the n-th repayment over the wire."""
    return wire.link.call("repay", {"payment": f"p{n}"}, {"Idempotency-Key": f"p{n}"},
                          ref=f"p{n}")


# -- response and reply -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "ok"),
    [
        pytest.param(199, False, id="199"),
        pytest.param(200, True, id="200"),
        pytest.param(299, True, id="299"),
        pytest.param(300, False, id="300"),
        pytest.param(503, False, id="503"),
    ],
)
def test_response_ok_is_2xx(status: int, ok: bool) -> None:
    """A response is ok exactly for statuses 200–299."""
    assert Response(status).ok is ok


def test_reply_ok_needs_delivery_and_a_2xx() -> None:
    """A reply is ok only when delivered with a 2xx response."""
    assert Reply(Outcome.DELIVERED, Response(201)).ok
    assert not Reply(Outcome.DELIVERED, Response(409)).ok
    assert not Reply(Outcome.DELIVERED).ok
    assert not Reply(Outcome.ERROR, Response(200)).ok
    assert Reply(Outcome.REFUSED).status is None
    assert Reply(Outcome.ERROR, Response(503)).status == 503


# -- each fault kind ------------------------------------------------------------------------


def test_no_fault_delivers(make_wire: Callable[..., Wire]) -> None:
    """Without a fault the target gets the request and the caller its response."""
    wire = make_wire()
    reply = call(wire)
    assert reply == Reply(Outcome.DELIVERED, Response(200, {"received": 1}))
    assert wire.target.calls == [(START, "repay", {"payment": "p1"}, {"Idempotency-Key": "p1"})]
    assert wire.calls() == [
        {"op": "repay", "ref": "p1", "outcome": "delivered", "status": 200}
    ]


def test_missing_headers_arrive_as_empty(make_wire: Callable[..., Wire]) -> None:
    """A call without headers hands the target an empty mapping."""
    wire = make_wire()
    wire.link.call("ping", {})
    assert wire.target.calls == [(START, "ping", {}, {})]
    assert wire.calls()[0]["ref"] is None


def test_outage_refuses(make_wire: Callable[..., Wire]) -> None:
    """During an outage the call is refused and the target sees nothing."""
    wire = make_wire(fault("outage"))
    assert call(wire) == Reply(Outcome.REFUSED)
    assert wire.target.calls == []
    assert wire.calls() == [{"op": "repay", "ref": "p1", "outcome": "refused", "why": "outage"}]


def test_error_at_rate_one_fails_every_call(make_wire: Callable[..., Wire]) -> None:
    """An error fault at rate 1 answers its status and the target sees nothing."""
    wire = make_wire(fault("error", status=502))
    replies = [call(wire, n) for n in range(5)]
    assert {reply.outcome for reply in replies} == {Outcome.ERROR}
    assert {reply.status for reply in replies} == {502}
    assert wire.target.calls == []
    assert wire.calls()[0] == {"op": "repay", "ref": "p0", "outcome": "error", "status": 502}


def test_injected_error_is_a_problem_document(make_wire: Callable[..., Wire]) -> None:
    """An injected error answers an RFC 9457 problem document carrying its status."""
    wire = make_wire(fault("error", status=502))
    reply = call(wire)
    assert reply.response == Response(502, {"type": "about:blank", "title": "injected error",
                                            "status": 502})


def test_error_at_rate_one_draws_nothing(make_wire: Callable[..., Wire]) -> None:
    """A certain error does not consume a random draw."""
    drawn: list[float] = []

    def draw() -> float:
        drawn.append(0.0)
        return 0.0

    wire = make_wire(fault("error"), draw=draw)
    call(wire)
    assert drawn == []


def _error_pattern(make_wire: Callable[..., Wire], seed: int) -> tuple[list[Outcome], int]:
    wire = make_wire(fault("error", rate=Decimal("0.5")), seed=seed)
    outcomes = [call(wire, n).outcome for n in range(200)]
    return outcomes, len(wire.target.calls)


def test_error_at_half_rate_is_partial_and_seeded(make_wire: Callable[..., Wire]) -> None:
    """At rate 0.5 call n fails exactly when the seeded stream's n-th number is below 0.5, the
    same way for the same seed."""
    outcomes, delivered = _error_pattern(make_wire, seed=7)
    stream = Streams(7).get("link:platform->bank")  # the draws the link is given, on their own
    expected = [Outcome.ERROR if stream.random() < 0.5 else Outcome.DELIVERED
                for _ in range(200)]
    assert outcomes == expected
    assert delivered == expected.count(Outcome.DELIVERED)
    assert set(outcomes) == {Outcome.ERROR, Outcome.DELIVERED}
    assert _error_pattern(make_wire, seed=7) == (outcomes, delivered)
    assert _error_pattern(make_wire, seed=8)[0] != outcomes


@pytest.mark.parametrize(
    ("draw", "outcome"),
    [
        pytest.param(0.0, Outcome.ERROR, id="draw-0-fails"),
        pytest.param(0.2499, Outcome.ERROR, id="draw-below-rate-fails"),
        pytest.param(0.25, Outcome.DELIVERED, id="draw-at-rate-passes"),
        pytest.param(0.9, Outcome.DELIVERED, id="draw-above-rate-passes"),
    ],
)
def test_error_rate_compares_the_draw(
    make_wire: Callable[..., Wire], draw: float, outcome: Outcome
) -> None:
    """A call fails when its draw is below the rate, and passes otherwise."""
    wire = make_wire(fault("error", rate=Decimal("0.25")), draw=lambda: draw)
    assert call(wire).outcome is outcome


def test_timeout_after_commit(make_wire: Callable[..., Wire]) -> None:
    """The target processes the request but the caller only sees a timeout."""
    wire = make_wire(fault("timeout_after_commit"))
    assert call(wire) == Reply(Outcome.TIMEOUT)
    assert len(wire.target.calls) == 1
    assert wire.calls() == [{"op": "repay", "ref": "p1", "outcome": "timeout", "status": 200,
                             "why": "response lost"}]


def test_delay_arrives_by_later(make_wire: Callable[..., Wire]) -> None:
    """A delayed request times out for the caller and reaches the target exactly ``by`` later."""
    by = timedelta(minutes=45)
    wire = make_wire(fault("delay", by=by))
    assert call(wire) == Reply(Outcome.TIMEOUT)
    assert wire.target.calls == []
    wire.scheduler.run_until(START + by)
    assert wire.target.calls == []  # not a moment early
    wire.scheduler.run_until(START + by + timedelta(seconds=1))
    assert wire.target.calls == [
        (START + by, "repay", {"payment": "p1"}, {"Idempotency-Key": "p1"})
    ]
    assert wire.calls() == [{"op": "repay", "ref": "p1", "outcome": "timeout", "why": "delayed",
                             "arrives": "2026-02-01T13:45:00+00:00"}]
    assert wire.late() == [{"op": "repay", "ref": "p1", "outcome": "delivered", "status": 200}]


def test_delayed_copy_is_a_snapshot(make_wire: Callable[..., Wire]) -> None:
    """A caller mutating its body after a delayed call does not change what arrives."""
    wire = make_wire(fault("delay", by=timedelta(minutes=5)))
    body = {"payment": "p1"}
    wire.link.call("repay", body)
    body["payment"] = "tampered"
    wire.scheduler.run_until(START + HOUR)
    assert wire.target.calls[0][2] == {"payment": "p1"}


def test_duplicate_arrives_twice(make_wire: Callable[..., Wire]) -> None:
    """A duplicate reaches the target twice, 1 s apart; the caller gets the first answer."""
    wire = make_wire(fault("duplicate"))
    reply = call(wire)
    assert reply == Reply(Outcome.DELIVERED, Response(200, {"received": 1}))
    assert [at for at, *_ in wire.target.calls] == [START]
    wire.scheduler.run_until(START + HOUR)
    assert [at for at, *_ in wire.target.calls] == [START, START + timedelta(seconds=1)]
    assert wire.target.calls[0][1:] == wire.target.calls[1][1:]
    assert wire.calls() == [{"op": "repay", "ref": "p1", "outcome": "delivered", "status": 200,
                             "why": "duplicated"}]
    assert wire.late() == [{"op": "repay", "ref": "p1", "outcome": "delivered", "status": 200}]


def test_late_copy_to_a_down_target_is_lost(make_wire: Callable[..., Wire]) -> None:
    """A delayed copy that arrives while the target is down is lost and journaled so."""
    wire = make_wire(fault("delay", by=timedelta(minutes=5)))
    call(wire)
    wire.target.up = False
    wire.scheduler.run_until(START + HOUR)
    assert wire.target.calls == []
    assert wire.late() == [{"op": "repay", "ref": "p1", "outcome": "lost", "why": "bank is down"}]


def test_down_target_refuses(make_wire: Callable[..., Wire]) -> None:
    """A call to a target that is down is refused, fault or no fault."""
    for faults in [(), (fault("duplicate"),), (fault("timeout_after_commit"),)]:
        wire = make_wire(*faults, up=False)
        assert call(wire) == Reply(Outcome.REFUSED)
        wire.scheduler.run_until(START + HOUR)
        assert wire.target.calls == []
        assert wire.calls() == [
            {"op": "repay", "ref": "p1", "outcome": "refused", "why": "bank is down"}
        ]


# -- when faults apply -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offset", "outcome"),
    [
        pytest.param(-timedelta(microseconds=1), Outcome.DELIVERED, id="just-before-start"),
        pytest.param(timedelta(0), Outcome.REFUSED, id="at-start"),
        pytest.param(HOUR - timedelta(microseconds=1), Outcome.REFUSED, id="just-before-end"),
        pytest.param(HOUR, Outcome.DELIVERED, id="at-end"),
    ],
)
def test_fault_is_active_in_half_open_window(
    make_wire: Callable[..., Wire], offset: timedelta, outcome: Outcome
) -> None:
    """A fault applies from its start, inclusive, to its end, exclusive."""
    wire = make_wire(fault("outage"))
    wire.clock.now = START + offset
    assert call(wire).outcome is outcome


@pytest.mark.parametrize(
    ("kinds", "outcome", "arrived"),
    [
        pytest.param(("duplicate", "outage"), Outcome.REFUSED, 0, id="outage-beats-duplicate"),
        pytest.param(("delay", "error"), Outcome.ERROR, 0, id="error-beats-delay"),
        pytest.param(("duplicate", "timeout_after_commit"), Outcome.TIMEOUT, 1,
                     id="timeout-beats-duplicate"),
        pytest.param(("error", "outage"), Outcome.REFUSED, 0, id="outage-beats-error"),
    ],
)
def test_most_disruptive_overlapping_fault_wins(
    make_wire: Callable[..., Wire], kinds: tuple[str, str], outcome: Outcome, arrived: int
) -> None:
    """When faults overlap, the more disruptive one decides, whatever the order they were added,
    and the request reaches the target as that fault says (never duplicated)."""
    for ordered in (kinds, kinds[::-1]):
        wire = make_wire(*(fault(kind, by=timedelta(minutes=1)) for kind in ordered))
        assert call(wire).outcome is outcome
        wire.scheduler.run_until(START + HOUR)
        assert len(wire.target.calls) == arrived


def test_lower_precedence_fault_applies_once_the_other_ends(
    make_wire: Callable[..., Wire],
) -> None:
    """An outage ending early leaves an overlapping duplicate fault in charge."""
    wire = make_wire(
        fault("outage", end=START + timedelta(minutes=10)),
        fault("duplicate", end=START + HOUR),
    )
    assert call(wire).outcome is Outcome.REFUSED
    wire.clock.now = START + timedelta(minutes=10)
    assert call(wire, 2).outcome is Outcome.DELIVERED
    wire.scheduler.run_until(START + HOUR)
    assert len(wire.target.calls) == 2


def test_active_fault_reports_the_deciding_fault(make_wire: Callable[..., Wire]) -> None:
    """``active_fault`` names the fault that decides at an instant, or None."""
    outage = fault("outage", start=START + timedelta(minutes=5))
    duplicate = fault("duplicate")
    wire = make_wire(duplicate, outage)
    assert wire.link.active_fault(START) is duplicate
    assert wire.link.active_fault(START + timedelta(minutes=5)) is outage
    assert wire.link.active_fault(START + HOUR) is None


def test_unknown_fault_kind_is_rejected(make_wire: Callable[..., Wire]) -> None:
    """A fault kind the link does not know cannot be added."""
    wire = make_wire()
    with pytest.raises(ValueError):
        wire.link.add_fault(fault("crash"))


# -- journal and contract hook -------------------------------------------------------------


def test_every_call_is_journaled_with_its_outcome(make_wire: Callable[..., Wire]) -> None:
    """Each call adds one ``link.call`` entry by the link, at the call's instant."""
    wire = make_wire(fault("outage", start=START + HOUR, end=START + 2 * HOUR))
    for n, at in enumerate([START, START + HOUR, START + 3 * HOUR]):
        wire.clock.now = at
        call(wire, n)
    entries = list(wire.journal.entries(["link.call"]))
    assert [(e.at, e.party, e.data["outcome"]) for e in entries] == [
        (START, "platform->bank", "delivered"),
        (START + HOUR, "platform->bank", "refused"),
        (START + 3 * HOUR, "platform->bank", "delivered"),
    ]


@dataclass
class Checker:
    """A conformance check that records what it sees and refuses bodies without a payment."""

    seen: list[tuple[Any, ...]] = field(default_factory=list)

    def request(self, operation: str, body: dict[str, Any], headers: Mapping[str, str]) -> None:
        self.seen.append(("request", operation, body, dict(headers)))
        if "payment" not in body:
            raise ValueError("payment missing")

    def response(self, operation: str, status: int, body: dict[str, Any]) -> None:
        self.seen.append(("response", operation, status, body))


def test_validate_hook_sees_every_call_first(make_wire: Callable[..., Wire]) -> None:
    """The contract hook sees the operation, body and headers, and can stop a call before it
    leaves."""
    wire = make_wire()
    checker = Checker()
    wire.link.validate = checker
    call(wire)
    with pytest.raises(ValueError, match="payment missing"):
        wire.link.call("repay", {})
    assert checker.seen == [
        ("request", "repay", {"payment": "p1"}, {"Idempotency-Key": "p1"}),
        ("response", "repay", 200, {"received": 1}),
        ("request", "repay", {}, {}),
    ]
    assert len(wire.target.calls) == 1
    assert len(wire.calls()) == 1


@pytest.mark.parametrize(
    ("kind", "extra", "answers"),
    [
        pytest.param("timeout_after_commit", {}, 1, id="lost-response"),
        pytest.param("delay", {"by": HOUR}, 1, id="late-copy"),
        pytest.param("duplicate", {}, 2, id="duplicate"),
        pytest.param("outage", {}, 0, id="outage"),
        pytest.param("error", {"status": 503}, 0, id="injected-error"),
    ],
)
def test_validate_hook_sees_every_answer_the_target_gives(
    make_wire: Callable[..., Wire], kind: str, extra: dict[str, Any], answers: int
) -> None:
    """Every answer the target really gives is checked, also ones the caller never sees;
    a refusal or an injected error is no answer of the target's."""
    wire = make_wire(fault(kind, **extra))
    checker = Checker()
    wire.link.validate = checker
    call(wire)
    wire.scheduler.run_until(START + 2 * HOUR)
    responses = [seen for seen in checker.seen if seen[0] == "response"]
    assert len(responses) == answers == len(wire.target.calls)
    assert [seen[0] for seen in checker.seen][:1] == ["request"]
