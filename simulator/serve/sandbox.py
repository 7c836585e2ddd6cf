"""The sandbox: one world served over HTTP, with its clock and faults under test control.

:class:`Sandbox` wraps a :class:`~simulator.world.world.World` — built from a
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
thread. ``GET /clock`` never waits for it: it is answered on the server's event
loop, from any thread, within milliseconds. Every other request is checked first
(signature, media type, contract) without waiting; a party operation, or a fault
change, that arrives while the clock advances then waits for the advance to end —
at most ``advance_wait`` seconds (1 s unless told) — and runs at the target
instant (its signature is checked against the target too), so what it sees never
depends on how fast the sandbox is. If the advance is still under way by then it
is answered ``503`` "Clock advancing" with ``Retry-After: 1`` and changes nothing
(send it again, signed afresh). The clock stops at a horizon (50 years after the
start by default).

A request to a party signed by a partner key that names a link's caller
crosses that link, and so meets its faults: the ``platform`` key calling the
bank crosses ``platform->bank`` (its reconciliation file crosses ``recon``),
the ``bank`` key calling the bureau crosses ``bank->bureau``, and so on. A
refused or errored call answers ``503`` or the injected status, a lost or
delayed response ``504``. Other keys (``partner``, the contract suite's) reach
the party directly.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time as wall
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount

from simulator.core.calendars import jurisdiction as jurisdiction_of
from simulator.core.clock import Clock
from simulator.core.durations import parse_instant
from simulator.core.errors import LendsimError
from simulator.core.topology import PARTIES
from simulator.engine.links import Body, Response
from simulator.scenarios.loader import load_scenario
from simulator.scenarios.model import Scenario
from simulator.serve.faults import FaultBoard, Planted, duration, instant, problem
from simulator.serve.heap import Heap
from simulator.serve.home import Home
from simulator.serve.http import (
    PROBLEM_HANDLERS,
    ContractsLike,
    Face,
    Injected,
    answer_of,
    face_app,
    problem_body,
)
from simulator.serve.state import StateFolder, fingerprint
from simulator.wire.contracts import load_contracts
from simulator.wire.signing import Keyring
from simulator.world.world import World

__all__ = ["DEFAULT_START", "Sandbox", "empty_scenario"]

log = logging.getLogger("lendsim.sandbox")

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
#: how long a request arriving during an advance waits for it before a 503, by default
ADVANCE_WAIT = 1.0
#: the sandbox operations that wait for an advance like a party operation does
_WAITING_CONTROLS = frozenset({"add_fault", "remove_fault"})


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


class _Control:
    """The sandbox contract's operations (run on the home thread, like a party's)."""

    name = "sandbox"

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    def handle(self, operation: str, body: Body, headers: Mapping[str, str]) -> Response:
        action = getattr(self, f"op_{operation}", None)
        if action is None:
            return problem(404, "Unknown operation", f"the sandbox has no {operation!r}")
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

    ``scenario`` is a :class:`~simulator.scenarios.model.Scenario`, a path to a scenario
    file, or ``None`` for an empty world of ``jurisdiction`` starting at
    ``start``. ``defects`` are planted in the world. ``keyring`` checks the
    signatures of party requests (default: :meth:`Keyring.for_testing`;
    ``sign=False`` turns the checks off). ``strict_responses`` turns a party
    response that breaks its contract into a 500 (for tests). ``state`` is a folder
    that keeps the world across restarts (:mod:`simulator.serve.state`): a world found
    there is resumed where it was; without one everything is in memory.

    ``own_process`` says the sandbox has its process to itself (``lendsim serve``): its
    worlds are then kept out of the garbage collector's full passes
    (:mod:`simulator.serve.heap`), so ``GET /clock`` never waits for one.
    """

    def __init__(self, scenario: Scenario | Path | str | None = None, *,
                 jurisdiction: str = "CN", start: datetime | str | None = None,
                 defects: Sequence[str] = (), keyring: Keyring | None = None,
                 sign: bool = True, contracts: ContractsLike | None = None,
                 strict_responses: bool = False, sync_limit: timedelta = SYNC_LIMIT,
                 horizon: timedelta = HORIZON, advance_wait: float = ADVANCE_WAIT,
                 state: Path | None = None, own_process: bool = False) -> None:
        if isinstance(scenario, str | Path):
            scenario = load_scenario(Path(scenario))
        self.scenario = scenario if scenario is not None else empty_scenario(jurisdiction, start)
        self.defects = tuple(defects)
        self.keyring = (keyring or Keyring.for_testing()) if sign else None
        self.contracts: ContractsLike = contracts if contracts is not None else load_contracts()
        self.strict_responses = strict_responses
        self.sync_limit = sync_limit
        self.advance_wait = advance_wait
        self.heap = Heap(own_process)
        self.store = StateFolder(state) if state is not None else None
        self._fingerprint = fingerprint(self.scenario, self.defects)
        if self.store is not None:
            self.store.check(self._fingerprint, f"scenario {self.scenario.id!r} from "
                                                f"{self.scenario.start.isoformat()}")
        if self.keyring is not None:  # a reset brings the clock back to the start
            self.keyring.keep_from(self.scenario.start)
            if self.store is not None:
                self.keyring.remember_in(self.store.nonces())
        #: the clock never moves past this (start + ``horizon``): it bounds every advance
        self.last_instant = self.scenario.start.astimezone(UTC) + horizon
        self.home = Home()
        self._world: World | None = None
        self._clock: Clock | None = None  # the current world's, readable from any thread
        self._advances = 0  # each advance gets a number: chunks of an older one stop
        self._target: datetime | None = None  # where a background advance is going
        self._board: FaultBoard | None = None
        self._app: Starlette | None = None
        try:
            self.home.call(self._build)
        except BaseException:
            self.home.close()
            raise

    # -- the world (home thread only) ------------------------------------------------------
    def _build(self) -> None:
        store = self.store
        resume_at = store.clock() if store is not None and store.world() else None
        if store is not None and resume_at is None:
            store.wipe()  # whatever is there was never acknowledged
        self.heap.thaw()  # the objects of a world reset away may be collected again
        world = World(self.scenario, self.defects,
                      state=store.path if store is not None else None)
        if resume_at is None:
            world.start()
            if store is not None:
                store.begin(self._fingerprint, world.clock.now)
        else:
            world.resume(resume_at)
            log.info("resumed the world kept in %s at %s", store.path if store else "",
                     resume_at.isoformat())
        if store is not None:
            world.before_action = store.save_clock
        self._world = world
        self._clock = world.clock
        self._board = FaultBoard(world, self.last_instant, store)
        if resume_at is not None:
            self._board.restore()
        self.heap.built()

    @property
    def world(self) -> World:
        """The current world; touch it only on the home thread (:meth:`call`)."""
        if self._world is None:
            raise LendsimError("the sandbox is closed")
        return self._world

    @property
    def board(self) -> FaultBoard:
        """The faults planted in the current world (home thread only)."""
        if self._board is None:
            raise LendsimError("the sandbox is closed")
        return self._board

    def call(self, action: Callable[..., Any], *args: Any) -> Any:
        """Run ``action(*args)`` on the world's thread and return its result."""
        return self.home.call(action, *args)

    @property
    def advancing(self) -> bool:
        return self._target is not None

    def clock_body(self) -> Body:
        """``GET /clock``'s answer; safe from any thread (it never waits for the world)."""
        clock, target = self._clock, self._target
        if clock is None:
            raise LendsimError("the sandbox is closed")
        body: Body = {"now": clock.now.isoformat(), "timezone": str(clock.tz),
                      "status": "advancing" if target is not None else "ready"}
        if target is not None:
            body["target"] = target.isoformat()
        return body

    def now(self) -> datetime:
        """The instant a request is checked against: the target of an advance under way (a
        request waits for it), else the clock. Safe from any thread."""
        clock, target = self._clock, self._target
        if target is not None:
            return target
        if clock is None:
            raise LendsimError("the sandbox is closed")
        return clock.now

    # -- clock -----------------------------------------------------------------------------
    def advance(self, body: Body) -> Response:
        """Move the clock forward (``{"to": instant}`` or ``{"by": duration}``)."""
        if self._target is not None:
            return problem(409, "Clock advancing",
                            f"the clock is already advancing to {self._target.isoformat()}")
        now = self.world.clock.now
        if ("to" in body) == ("by" in body):
            return problem(422, "Invalid request", "advance_clock: give exactly one of to or by")
        try:
            target = instant(str(body["to"])) if "to" in body else \
                now + duration(body["by"], "by")
        except (ValueError, OverflowError) as error:
            what = "to" if "to" in body else "by"
            detail = str(error) if what == "by" else "to must be an RFC 3339 instant with an " \
                "offset, like 2026-02-01T13:00:00+00:00"
            return problem(422, "Invalid request", f"advance_clock: {detail}")
        if target < now:
            return problem(409, "Clock cannot go back",
                            f"{target.isoformat()} is before now, {now.isoformat()}")
        if target > self.last_instant:
            return problem(422, "Beyond the horizon",
                            f"this sandbox's clock stops at {self.last_instant.isoformat()}")
        if target - now <= self.sync_limit:
            self._target = target  # advancing, for whoever looks meanwhile
            try:
                self.world.scheduler.run_until(target)
                self._save_clock()
            finally:
                self._target = None
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
        self.heap.advanced()
        self._save_clock()
        if scheduler.clock.now >= target:
            self._target = None
        else:
            self.home.submit(self._advance_chunk, number)

    def _save_clock(self) -> None:
        if self.store is not None and self._world is not None:
            self.store.save_clock(self._world.clock.now)

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Block until a background advance is done (for tests and scripts)."""
        deadline = wall.monotonic() + timeout
        while self.home.call(lambda: self._target is not None):
            if wall.monotonic() > deadline:
                raise TimeoutError("the sandbox clock is still advancing")
            wall.sleep(0.005)

    # -- faults ------------------------------------------------------------------------------
    def faults(self) -> list[Planted]:
        """Faults planted and neither removed nor over, in the order they were added."""
        return self.board.listed()

    def add_fault(self, body: Body) -> Response:
        """Plant a fault from now: ``{kind, link | party, for | until, by?, status?, rate?}``."""
        return self.board.add(body)

    def remove_fault(self, fault_id: str) -> Response:
        """Remove a planted fault now; a crashed party restarts."""
        return self.board.remove(fault_id)

    # -- reset -------------------------------------------------------------------------------
    def reset(self) -> None:
        """Back to the start: a fresh world from the same scenario, no faults (home thread)."""
        self._advances += 1
        self._target = None
        self._close_world()
        if self.store is not None:
            self.store.wipe()
        self._build()

    def _close_world(self) -> None:
        world, self._world = self._world, None
        self._board = None
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
            return answer_of(reply, link)
        return dispatch

    def _advancing(self) -> Injected:
        target = self._target
        where = f" to {target.isoformat()}" if target is not None else ""
        return Injected(503, problem_body(
            503, "Clock advancing", f"the sandbox clock is advancing{where}; send the request "
            "again (signed afresh) once GET /clock says ready"), retry_after=1)

    def _gate(self, operation: str) -> Response | None:
        """On the home thread, just before a request runs: refused if an advance (begun
        since it waited) is under way."""
        return self._advancing() if self._target is not None else None

    async def _wait(self, operation: str) -> Response | None:
        """A request arriving during an advance waits for it, at most ``advance_wait``."""
        deadline = wall.monotonic() + self.advance_wait
        while self.advancing:  # another thread ends it
            if wall.monotonic() >= deadline:
                return self._advancing()
            await asyncio.sleep(0.005)
        return None

    def _control_gate(self, operation: str) -> Response | None:
        return self._gate(operation) if operation in _WAITING_CONTROLS else None

    async def _control_wait(self, operation: str) -> Response | None:
        return await self._wait(operation) if operation in _WAITING_CONTROLS else None

    @property
    def app(self) -> Starlette:
        """The ASGI app: the sandbox contract at ``/``, each party under ``/<party>``."""
        if self._app is None:
            self._app = self._make_app()
        return self._app

    def _make_app(self) -> Starlette:
        control = _Control(self)
        now = self.now
        face = Face("sandbox", self.contracts, target=lambda: control, now=now, keyring=None,
                    home=self.home, strict_responses=self.strict_responses, dispatch=None,
                    gate=self._control_gate, wait=self._control_wait,
                    inline=frozenset({"get_clock"}))
        routes: list[BaseRoute] = list(face.routes())
        for name in PARTIES:
            sub = face_app(name, self.contracts,
                           target=lambda name=name: self.world.parties[name],  # type: ignore[misc]
                           now=now, keyring=self.keyring, home=self.home,
                           strict_responses=self.strict_responses,
                           dispatch=self._dispatcher(name), gate=self._gate, wait=self._wait)
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
        self._advances += 1
        self._target = None
        self._close_world()
        self._clock = None
        if self.store is not None:
            self.store.close()
        self.heap.thaw()  # the closed world may be collected

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
