"""The sandbox: one world served over HTTP, with its clock and faults under test control.

:class:`Sandbox` wraps a :class:`~simulator.world.World` — built from a
scenario, or an empty world of a jurisdiction starting at an instant — and
serves ``contracts/sandbox.yaml`` at its root and each party's contract under
``/bank``, ``/platform``, ``/bureau`` and ``/sms``::

    GET  /clock            the virtual instant, time zone, ready | advancing
    POST /clock/advance    {"to": instant} or {"by": "3d"}; forward only; a jump of up to
                           a week runs now (200 ready), a longer one in the background
                           (202 advancing; poll GET /clock)
    GET  /faults           faults planted and not over
    POST /faults           plant a fault from now, as a scenario's fault step
    DELETE /faults/{id}    remove it (a crashed party restarts)
    POST /reset            back to the world's start

Advancing runs the world's scheduler: batches, forwards, retries, reports —
everything due on the way. A long advance runs in chunks on the world's home
thread, so ``GET /clock`` is answered between chunks. A party operation or a
fault change sent while it runs waits for the advance to finish and then runs
at the target instant (its signature is checked against the target too): what
it sees never depends on how fast the sandbox is. The clock stops at a horizon
(50 years after the start by default).

A request to a party signed by a partner key that names a link's caller
crosses that link, and so meets its faults: the ``platform`` key calling the
bank crosses ``platform->bank`` (its reconciliation file crosses ``recon``),
the ``bank`` key calling the bureau crosses ``bank->bureau``, and so on. A
refused or errored call answers ``503`` or the injected status, a lost or
delayed response ``504``. Other keys (``partner``, the contract suite's) reach
the party directly.
"""

from __future__ import annotations

import itertools
import logging
import re
import time as wall
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount

from simulator.calendars import jurisdiction as jurisdiction_of
from simulator.clock import UTC
from simulator.contracts import load_contracts
from simulator.durations import format_duration, parse_duration, parse_instant
from simulator.errors import LendsimError
from simulator.http import (
    PROBLEM_HANDLERS,
    ContractsLike,
    Face,
    Home,
    Injected,
    face_app,
    problem_body,
)
from simulator.links import ActiveFault, Body, Outcome, Response
from simulator.loader import load_scenario
from simulator.oracle import Payment
from simulator.parties.base import Funds
from simulator.scenario import Scenario
from simulator.signing import Keyring
from simulator.world import World

__all__ = ["DEFAULT_START", "PARTIES", "Sandbox", "empty_scenario"]

log = logging.getLogger("lendsim.sandbox")

PARTIES = ("bank", "platform", "bureau", "sms")
#: an empty world starts here (local time of its jurisdiction) unless told otherwise
DEFAULT_START = "2026-01-01T09:00"
#: jumps up to this long are run before the advance answers
SYNC_LIMIT = timedelta(days=7)
#: how far past its start a world's clock may go, unless told otherwise
HORIZON = timedelta(days=50 * 366)
#: the largest virtual step of a background advance between two looks at the wall clock
_STEP = timedelta(days=1)
#: wall-clock seconds one chunk of a background advance may take before yielding
_CHUNK_SECONDS = 0.02


def empty_scenario(jurisdiction: str = "CN", start: datetime | str | None = None) -> Scenario:
    """A world with no borrowers: partners bring their own loans over HTTP."""
    if jurisdiction not in ("CN", "US"):
        raise LendsimError(f"jurisdiction must be CN or US (got {jurisdiction!r})")
    tz = jurisdiction_of(jurisdiction).tz
    if start is None or isinstance(start, str):
        try:
            instant = parse_instant(start or DEFAULT_START, tz, what="start")
        except ValueError as error:
            raise LendsimError(str(error)) from None
    else:
        if start.tzinfo is None:
            start = start.replace(tzinfo=tz)
        instant = start
    return Scenario(id="sandbox", summary="An empty sandbox world.", start=instant,
                    until=instant + HORIZON, borrowers=(),
                    jurisdiction="US" if jurisdiction == "US" else "CN")


@dataclass
class _Planted:
    """A fault planted through the sandbox."""

    fault_id: str
    kind: str
    start: datetime
    end: datetime
    link: str | None = None
    party: str | None = None
    by: timedelta | None = None
    by_text: str | None = None  # ``by`` as the request wrote it
    status: int | None = None
    rate: Decimal | None = None
    active: ActiveFault | None = None  # what the link holds (link faults)
    over: bool = False  # no longer acting: ended or removed
    removed: bool = False

    def as_body(self) -> Body:
        body: Body = {"fault_id": self.fault_id, "kind": self.kind,
                      "start": self.start.astimezone(UTC).isoformat(),
                      "end": self.end.astimezone(UTC).isoformat()}
        if self.link is not None:
            body["link"] = self.link
        if self.party is not None:
            body["party"] = self.party
        if self.by is not None:
            body["by"] = self.by_text or format_duration(self.by)
        if self.status is not None:
            body["status"] = self.status
        if self.rate is not None:
            body["rate"] = int(self.rate) if self.rate == self.rate.to_integral() else \
                float(self.rate)
        return body


class _OpenFunds(Funds):
    """The payment network of a served world. Loans opened over HTTP are not the scenario's,
    so the oracle holds no terms for them: their money movements are recorded, not judged."""

    def __init__(self, world: World) -> None:
        oracle = world.oracle

        def capture(borrower: str, loan_id: str, amount: int, at: datetime,
                    payment_id: str) -> None:
            if borrower in oracle.borrowers:
                oracle.capture(borrower, loan_id, amount, at, payment_id)
            else:
                oracle.payments[payment_id] = Payment(payment_id, borrower, loan_id, amount, at)

        def refund(payment_id: str, amount: int, at: datetime) -> None:
            payment = oracle.payments.get(payment_id)
            if payment is not None and payment.borrower in oracle.borrowers:
                oracle.refund(payment_id, amount, at)
            else:
                oracle.refunds[payment_id] = oracle.refunds.get(payment_id, 0) + amount

        super().__init__(capture, refund)


_ZERO = re.compile(r"(0+[dhms])+")


def _duration(value: object, what: str) -> timedelta:
    """A duration as scenarios write it; unlike a scenario's, it may be zero (``0m``)."""
    if isinstance(value, str) and _ZERO.fullmatch(value):
        return timedelta(0)
    return parse_duration(value, what=what)


def _problem(status: int, title: str, detail: str = "") -> Response:
    return Response(status, problem_body(status, title, detail))


def _instant(value: str) -> datetime:
    """An RFC 3339 instant from a request, or ValueError."""
    instant = datetime.fromisoformat(value)
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("an instant needs an offset")
    return instant.astimezone(UTC)


class _Control:
    """The sandbox contract's operations (run on the home thread, like a party's)."""

    name = "sandbox"

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    def handle(self, operation: str, body: Body, headers: Mapping[str, str]) -> Response:
        action = getattr(self, f"op_{operation}", None)
        if action is None:
            return _problem(404, "Unknown operation", f"the sandbox has no {operation!r}")
        result: Response = action(body)
        return result

    def op_get_clock(self, body: Body) -> Response:
        return Response(200, self.sandbox.clock_body())

    def op_advance_clock(self, body: Body) -> Response:
        return self.sandbox.advance(body)

    def op_list_faults(self, body: Body) -> Response:
        return Response(200, {"faults": [f.as_body() for f in self.sandbox.faults()]})

    def op_add_fault(self, body: Body) -> Response:
        return self.sandbox.add_fault(body)

    def op_remove_fault(self, body: Body) -> Response:
        return self.sandbox.remove_fault(str(body["fault_id"]))

    def op_reset(self, body: Body) -> Response:
        self.sandbox.reset()
        return Response(204, {})


class Sandbox:
    """One world behind HTTP: build it, take :attr:`app`, and :meth:`close` it when done.

    ``scenario`` is a :class:`~simulator.scenario.Scenario`, a path to a scenario
    file, or ``None`` for an empty world of ``jurisdiction`` starting at
    ``start``. ``defects`` are planted in the world. ``keyring`` checks the
    signatures of party requests (default: :meth:`Keyring.for_testing`;
    ``sign=False`` turns the checks off). ``strict_responses`` turns a party
    response that breaks its contract into a 500 (for tests).
    """

    def __init__(self, scenario: Scenario | Path | str | None = None, *,
                 jurisdiction: str = "CN", start: datetime | str | None = None,
                 defects: Sequence[str] = (), keyring: Keyring | None = None,
                 sign: bool = True, contracts: ContractsLike | None = None,
                 strict_responses: bool = False, sync_limit: timedelta = SYNC_LIMIT,
                 horizon: timedelta = HORIZON) -> None:
        if isinstance(scenario, str | Path):
            scenario = load_scenario(Path(scenario))
        self.scenario = scenario if scenario is not None else empty_scenario(jurisdiction, start)
        self.defects = tuple(defects)
        self.keyring = (keyring or Keyring.for_testing()) if sign else None
        self.contracts: ContractsLike = contracts if contracts is not None else load_contracts()
        self.strict_responses = strict_responses
        self.sync_limit = sync_limit
        #: the clock never moves past this (start + ``horizon``): it bounds every advance
        self.last_instant = self.scenario.start.astimezone(UTC) + horizon
        self.home = Home()
        self._world: World | None = None
        self._generation = 0  # a reset starts a new one: timers of an old world do nothing
        self._advances = 0  # each advance gets a number: chunks of an older one stop
        self._target: datetime | None = None  # where a background advance is going
        self._planted: dict[str, _Planted] = {}
        self._fault_numbers = itertools.count(1)
        self._app: Starlette | None = None
        try:
            self.home.call(self._build)
        except BaseException:
            self.home.close()
            raise

    # -- the world (home thread only) ------------------------------------------------------
    def _build(self) -> None:
        world = World(self.scenario, self.defects)
        world.bank.env.funds = _OpenFunds(world)
        world.start()
        self._world = world

    @property
    def world(self) -> World:
        """The current world; touch it only on the home thread (:meth:`call`)."""
        if self._world is None:
            raise LendsimError("the sandbox is closed")
        return self._world

    def call(self, action: Callable[..., Any], *args: Any) -> Any:
        """Run ``action(*args)`` on the world's thread and return its result."""
        return self.home.call(action, *args)

    @property
    def advancing(self) -> bool:
        return self._target is not None

    def clock_body(self) -> Body:
        world = self.world
        body: Body = {"now": world.clock.now.isoformat(), "timezone": str(world.clock.tz),
                      "status": "advancing" if self._target is not None else "ready"}
        if self._target is not None:
            body["target"] = self._target.isoformat()
        return body

    # -- clock -----------------------------------------------------------------------------
    def advance(self, body: Body) -> Response:
        """Move the clock forward (``{"to": instant}`` or ``{"by": duration}``)."""
        if self._target is not None:
            return _problem(409, "Clock advancing",
                            f"the clock is already advancing to {self._target.isoformat()}")
        now = self.world.clock.now
        if ("to" in body) == ("by" in body):
            return _problem(422, "Invalid request", "advance_clock: give exactly one of to or by")
        try:
            if "to" in body:
                target = _instant(str(body["to"]))
            else:
                target = now + _duration(body["by"], "by")
        except (ValueError, OverflowError) as error:
            what = "to" if "to" in body else "by"
            detail = str(error) if what == "by" else "to must be an RFC 3339 instant with an " \
                "offset, like 2026-02-01T13:00:00+00:00"
            return _problem(422, "Invalid request", f"advance_clock: {detail}")
        if target < now:
            return _problem(409, "Clock cannot go back",
                            f"{target.isoformat()} is before now, {now.isoformat()}")
        if target > self.last_instant:
            return _problem(422, "Beyond the horizon",
                            f"this sandbox's clock stops at {self.last_instant.isoformat()}")
        if target - now <= self.sync_limit:
            self.world.scheduler.run_until(target)
            return Response(200, {"now": self.world.clock.now.isoformat(), "status": "ready"})
        self._target = target
        self._advances += 1
        self.home.submit(self._advance_chunk, self._advances)
        return Response(202, {"now": now.isoformat(), "status": "advancing",
                              "target": target.isoformat()})

    def _advance_chunk(self, number: int) -> None:
        """Run the world for a few milliseconds towards the target, then yield the thread."""
        if number != self._advances or self._target is None or self._world is None:
            return
        target = self._target
        scheduler = self._world.scheduler
        began = wall.perf_counter()
        try:
            while scheduler.clock.now < target:
                upcoming = scheduler.next_instant()
                if upcoming is None or upcoming >= target:
                    scheduler.run_until(target)  # nothing on the way: jump
                    break
                scheduler.run_until(min(target, max(upcoming, scheduler.clock.now) + _STEP))
                if wall.perf_counter() - began > _CHUNK_SECONDS:
                    break
        except Exception:
            log.exception("the world failed while advancing to %s", target.isoformat())
            self._target = None
            return
        if scheduler.clock.now >= target:
            self._target = None
        else:
            self.home.submit(self._advance_chunk, number)

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Block until a background advance is done (for tests and scripts)."""
        deadline = wall.monotonic() + timeout
        while self.home.call(lambda: self._target is not None):
            if wall.monotonic() > deadline:
                raise TimeoutError("the sandbox clock is still advancing")
            wall.sleep(0.005)

    # -- faults ------------------------------------------------------------------------------
    def faults(self) -> list[_Planted]:
        """Faults planted and neither removed nor over, in the order they were added."""
        now = self.world.clock.now
        return [f for f in self._planted.values() if not f.over and f.end > now]

    def add_fault(self, body: Body) -> Response:
        """Plant a fault from now: ``{kind, link | party, for | until, by?, status?, rate?}``."""
        self._finish_advance()
        world = self.world
        now = world.clock.now
        kind = str(body.get("kind"))
        try:
            if "for" in body:
                end = now + _duration(body["for"], "for")
            elif "until" in body:
                end = _instant(str(body["until"]))
            else:
                return _problem(422, "Invalid request", "add_fault: give one of for or until")
            by = _duration(body["by"], "by") if "by" in body else None
        except (ValueError, OverflowError) as error:
            return _problem(422, "Invalid request", f"add_fault: {error}")
        if end <= now:
            return _problem(422, "Fault already over",
                            f"until must be after now, {now.isoformat()}")
        if end > self.last_instant:
            return _problem(422, "Beyond the horizon",
                            f"this sandbox's clock stops at {self.last_instant.isoformat()}")
        fault_id = f"F{next(self._fault_numbers):06d}"
        planted = _Planted(fault_id, kind, now, end)
        detail: dict[str, Any] = {"kind": kind, "until": end, "fault_id": fault_id}
        if kind == "crash":
            party = str(body.get("party"))
            if party not in world.parties:
                return _problem(422, "Invalid request", "add_fault: party must be one of "
                                                        + ", ".join(PARTIES))
            planted.party = detail["party"] = party
            self._planted[fault_id] = planted
            world.journal.append("fault.started", "world", **detail)
            world.parties[party].crash()
            world.scheduler.at(end, self._fault_over, fault_id, self._generation)
            return Response(201, planted.as_body())
        link = str(body.get("link"))
        if link not in world.links:
            return _problem(422, "Invalid request",
                            "add_fault: link must be one of " + ", ".join(world.links))
        status = body.get("status", 503) if kind == "error" else None
        rate = body.get("rate", 1) if kind == "error" else None
        if status is not None and (not isinstance(status, int) or not 400 <= status <= 599):
            return _problem(422, "Invalid request", "add_fault: status must be 400–599")
        try:
            rate_value = Decimal(str(rate)) if rate is not None else None
        except ArithmeticError:
            rate_value = None
        if rate is not None and (rate_value is None or not Decimal(0) < rate_value <= 1):
            return _problem(422, "Invalid request", "add_fault: rate must be above 0, at most 1")
        if (kind == "delay") != (by is not None):
            return _problem(422, "Invalid request", "add_fault: by goes with kind delay, only")
        planted.link = detail["link"] = link
        planted.by, planted.status, planted.rate = by, status, rate_value
        planted.by_text = str(body["by"]) if by is not None else None
        planted.active = ActiveFault(kind=kind, start=now, end=end, by=by,
                                     status=status or 503, rate=rate_value or Decimal(1))
        world.links[link].add_fault(planted.active)
        self._planted[fault_id] = planted
        world.journal.append("fault.started", "world", **detail)
        world.scheduler.at(end, self._fault_over, fault_id, self._generation)
        return Response(201, planted.as_body())

    def _fault_over(self, fault_id: str, generation: int) -> None:
        """A planted fault's window closed (a scheduler event)."""
        planted = self._planted.get(fault_id)
        if generation != self._generation or planted is None or planted.over:
            return
        self._end(planted, "fault.ended")

    def _end(self, planted: _Planted, kind: str) -> None:
        """The fault stops acting: its window closed (``fault.ended``) or it was removed."""
        world = self.world
        planted.over = True
        planted.removed = kind == "fault.removed"
        detail: dict[str, Any] = {"kind": planted.kind, "fault_id": planted.fault_id}
        if planted.party is not None:
            detail["party"] = planted.party
            world.journal.append(kind, "world", **detail)
            world.parties[planted.party].restart()
            return
        assert planted.link is not None and planted.active is not None
        detail["link"] = planted.link
        world.journal.append(kind, "world", **detail)
        link = world.links[planted.link]
        if kind == "fault.removed":  # taken off early; one that ended by itself stays inert
            link.remove_fault(planted.active)

    def remove_fault(self, fault_id: str) -> Response:
        """Remove a planted fault now; a crashed party restarts."""
        self._finish_advance()
        planted = self._planted.get(fault_id)
        if planted is None or planted.removed:
            return _problem(404, "Unknown fault", f"no fault {fault_id}")
        if planted.over or planted.end <= self.world.clock.now:
            planted.removed = True  # over already: removing it changes nothing
            return Response(204, {})
        self._end(planted, "fault.removed")
        return Response(204, {})

    # -- reset -------------------------------------------------------------------------------
    def reset(self) -> None:
        """Back to the start: a fresh world from the same scenario, no faults (home thread)."""
        self._generation += 1
        self._advances += 1
        self._target = None
        self._close_world()
        self._planted = {}
        self._fault_numbers = itertools.count(1)
        self._build()

    def _close_world(self) -> None:
        world, self._world = self._world, None
        if world is None:
            return
        for party in world.parties.values():
            party.close()
        world.journal.close()

    # -- HTTP ----------------------------------------------------------------------------------
    def _link_for(self, key_id: str | None, party: str, operation: str) -> str | None:
        """The link a call from ``key_id``'s owner to ``party`` crosses, if any."""
        if key_id is None:
            return None
        if key_id == "platform" and party == "bank" and operation == "submit_reconciliation":
            return "recon"
        name = f"{key_id}->{party}"
        return name if name in self.world.links else None

    def _dispatcher(self, party: str) -> Callable[[str, Body, Mapping[str, str], str | None],
                                                  Response]:
        def dispatch(operation: str, body: Body, headers: Mapping[str, str],
                     key_id: str | None) -> Response:
            world = self.world
            link = self._link_for(key_id, party, operation)
            if link is None:
                return world.parties[party].handle(operation, body, headers)
            reply = world.links[link].call(operation, body, headers, ref=f"http:{key_id}")
            if reply.outcome is Outcome.DELIVERED and reply.response is not None:
                return reply.response
            if reply.outcome is Outcome.ERROR and reply.status is not None:
                return Injected(reply.status, problem_body(
                    reply.status, "Injected error", f"a fault on {link} answered {reply.status}"))
            if reply.outcome is Outcome.TIMEOUT:
                return Injected(504, problem_body(
                    504, "Gateway timeout",
                    f"the response on {link} was lost: the request may have been processed"))
            return Injected(503, problem_body(503, "Service unavailable",
                                              f"{link} refused the call"))
        return dispatch

    def _gate(self, operation: str) -> Response | None:
        """A party operation waits for an advance under way to finish (see the module)."""
        self._finish_advance()
        return None

    def _finish_advance(self) -> None:
        """Run a background advance to its target now (home thread)."""
        target = self._target
        if target is None:
            return
        self._advances += 1  # chunks still queued for it find nothing to do
        try:
            self.world.scheduler.run_until(target)
        finally:
            self._target = None

    @property
    def app(self) -> Starlette:
        """The ASGI app: the sandbox contract at ``/``, each party under ``/<party>``."""
        if self._app is None:
            self._app = self._make_app()
        return self._app

    def _make_app(self) -> Starlette:
        control = _Control(self)
        now: Callable[[], datetime] = lambda: self.world.clock.now  # noqa: E731
        face = Face("sandbox", self.contracts, target=lambda: control, now=now, keyring=None,
                     home=self.home, strict_responses=self.strict_responses, dispatch=None,
                     gate=None)
        routes: list[BaseRoute] = list(face.routes())
        for name in PARTIES:
            sub = face_app(name, self.contracts,
                           target=lambda name=name: self.world.parties[name],  # type: ignore[misc]
                           now=now, keyring=self.keyring, home=self.home,
                           strict_responses=self.strict_responses,
                           dispatch=self._dispatcher(name), gate=self._gate)
            mount = Mount(f"/{name}", app=sub)
            # a path parameter may hold a (percent-encoded) newline: still route it to the
            # party, whose face answers 422, rather than a 404 the contract does not list
            mount.path_regex = re.compile(mount.path_regex.pattern, re.DOTALL)
            routes.append(mount)
        return Starlette(routes=routes, exception_handlers=PROBLEM_HANDLERS)

    # -- lifecycle -----------------------------------------------------------------------------
    def close(self) -> None:
        """Stop any advance, close the world's databases and the home thread."""
        if self.home.closed:
            return
        try:
            self.home.call(self._stop)
        finally:
            self.home.close()

    def _stop(self) -> None:
        self._generation += 1
        self._advances += 1
        self._target = None
        self._close_world()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
