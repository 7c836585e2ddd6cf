"""A reference bank or platform served alone, as a system under test would be.

``lendsim serve-party bank --port N`` serves the reference bank with nothing
else: its role's contract and the control contract (``contracts/control.yaml``),
its peers reached over HTTP at the base URLs it is given (``LENDSIM_*_URL``, or
the reset body's ``peers``), its calls signed with ``LENDSIM_KEY_ID`` /
``LENDSIM_KEY_SECRET``, its callers checked against ``LENDSIM_PEER_KEYS``. It is
what lendsim's own parties look like from outside — the check that lendsim
judges a system under test exactly as it judges its reference parties
(README, "Test your own bank or platform"), and a working example of the
control contract.

Its time is what lendsim last set: ``reset`` builds a fresh party at ``now``;
``POST /lendsim/clock`` runs every timer due at or before the new instant (the
day-end batch, the outbox relay, retries) and answers with the next one;
``crash`` is a real crash of the party's database connection and a restart
from what was committed.

The party lives on one thread (:class:`~simulator.serve.home.Home`), which is
re-entrant: while the party waits for a peer (whose answer may need the party
again), requests to the party run on it meanwhile.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from concurrent.futures import Future
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette

from simulator.core.calendars import jurisdiction as jurisdiction_of
from simulator.core.clock import Clock, Scheduler
from simulator.core.errors import LendsimError
from simulator.core.mailbox import WaitedTooLong
from simulator.core.rng import Streams
from simulator.core.topology import LINKS, ROLES
from simulator.engine.journal import Journal
from simulator.engine.links import Body, Outcome, Reply, Response
from simulator.parties.bank import Bank
from simulator.parties.base import Env, Party, problem
from simulator.parties.platform import Platform
from simulator.scenarios.defects import validate_defects
from simulator.scenarios.model import BankPolicy, PlatformPolicy
from simulator.serve.home import Home
from simulator.serve.http import face_app
from simulator.sut.system import NEXT_WAKEUP_HEADER, instant_text
from simulator.sut.transports import Answer, HttpTransport, TransportError
from simulator.sut.wire import RoleWire
from simulator.wire.contracts import Contracts, load_contracts
from simulator.wire.signing import TEST_KEY_IDS, Keyring, well_known_secret

__all__ = ["ReferenceSystem", "bank_app", "keys_from_environment", "platform_app"]

#: how long the party waits for a peer's answer (real seconds)
_PEER_TIMEOUT = 30.0


def keys_from_environment(role: str, environ: Mapping[str, str] | None = None
                          ) -> tuple[str, str, Keyring]:
    """(key id, secret) the party signs with and the keyring its callers are checked
    against, from ``LENDSIM_KEY_ID``, ``LENDSIM_KEY_SECRET`` and ``LENDSIM_PEER_KEYS``
    (default: the well-known test keys)."""
    environ = os.environ if environ is None else environ
    key_id = environ.get("LENDSIM_KEY_ID") or role
    secret = environ.get("LENDSIM_KEY_SECRET") or well_known_secret(key_id)
    raw = environ.get("LENDSIM_PEER_KEYS")
    if raw:
        try:
            callers = json.loads(raw)
        except json.JSONDecodeError:
            raise LendsimError("LENDSIM_PEER_KEYS is not JSON: expected "
                               '{"key id": "secret", …}') from None
        if not isinstance(callers, dict) or not all(isinstance(v, str)
                                                    for v in callers.values()):
            raise LendsimError('LENDSIM_PEER_KEYS: expected a JSON object {"key id": '
                               '"secret", …}')
    else:
        callers = {key: well_known_secret(key) for key in TEST_KEY_IDS if key != role}
    try:
        return key_id, secret, Keyring(callers)
    except ValueError as error:
        raise LendsimError(f"LENDSIM_PEER_KEYS: {error}") from None


class _PeerLink:
    """A link to a peer over HTTP, as a reference party uses one: the party's thread waits
    for the answer through its mailbox, so calls back into the party are served meanwhile."""

    def __init__(self, name: str, target: str, server: ReferenceSystem) -> None:
        self.name = name
        self.target = target
        self._server = server
        self._wire = RoleWire(target, server.contracts)

    def call(self, operation: str, body: Body, headers: Mapping[str, str] | None = None, *,
             ref: str | None = None) -> Reply:
        server = self._server
        base = server.peers.get(self.target)
        if base is None:
            return Reply(Outcome.REFUSED)
        outgoing = self._wire.request(operation, body, headers or {})
        transport = server.transport(base)
        signed = {**outgoing.headers, **server.signer.sign(
            server.key_id, outgoing.method, f"{transport.prefix}{outgoing.path}", outgoing.body,
            server.clock.now)}
        future: Future[Answer] = transport.start(outgoing.method, outgoing.path, signed,
                                                 outgoing.body)
        try:
            answer = server.home.mailbox.wait(future, _PEER_TIMEOUT)
        except WaitedTooLong:
            future.cancel()
            return Reply(Outcome.TIMEOUT)
        except TransportError as error:
            return Reply(Outcome.REFUSED if error.refused else Outcome.TIMEOUT)
        try:
            response = self._wire.response(operation, answer)
        except LendsimError:  # outside the peer's contract: read it as it is, as a client would
            try:
                body = json.loads(answer.body) if answer.body else {}
            except ValueError:
                body = {}
            response = Response(answer.status, body if isinstance(body, dict) else {})
        return Reply(Outcome.DELIVERED, response)


class _Network:
    """Money given back, told to the payment network at ``peers['payments']``."""

    def __init__(self, server: ReferenceSystem) -> None:
        self._link = _PeerLink("payments", "payments", server)

    def give_back(self, payment_id: str, amount: int, *, by: str) -> None:
        self._link.call("give_back", {"payment_id": payment_id, "amount": amount})


class _Control:
    """The control contract's operations on the current party."""

    name = "control"

    def __init__(self, server: ReferenceSystem) -> None:
        self._server = server

    def handle(self, operation: str, body: Body, headers: Mapping[str, str]) -> Response:
        server = self._server
        if operation == "reset":
            return server.reset(body)
        if operation == "get_clock":
            return Response(200, server.clock_body())
        if server.party is None:
            return problem(409, "Not reset", "POST /lendsim/reset first")
        if operation == "set_clock":
            return server.move(body["now"])
        if operation == "crash":
            return server.crash()
        return problem(404, "Unknown operation", operation)


class ReferenceSystem:
    """The reference party of ``role`` behind its contract and the control contract."""

    def __init__(self, role: str, *, defects: tuple[str, ...] = (),
                 environ: Mapping[str, str] | None = None,
                 contracts: Contracts | None = None) -> None:
        if role not in ROLES:
            raise LendsimError(f"no role {role!r} to serve (roles: {', '.join(ROLES)})")
        self.role = role
        self.defects = frozenset(validate_defects(defects, where="--defect"))
        environ = os.environ if environ is None else environ
        self.key_id, secret, self.callers = keys_from_environment(role, environ)
        self.signer = Keyring({self.key_id: secret})
        self.contracts = contracts or load_contracts()
        self.peers: dict[str, str] = {}
        for name in (*{ends.target for ends in LINKS.values() if ends.caller == role},
                     "payments"):
            url = environ.get(f"LENDSIM_{name.upper()}_URL")
            if url:
                self.peers[name] = url.rstrip("/")
        self.home = Home(f"lendsim-{role}")
        self.party: Party | None = None
        self.clock: Clock = Clock(datetime(2026, 1, 1, tzinfo=UTC), jurisdiction_of("CN").tz)
        self.scheduler = Scheduler(self.clock)
        self._journal: Journal | None = None
        self._transports: dict[str, HttpTransport] = {}
        self._lock = threading.Lock()

    def transport(self, base: str) -> HttpTransport:
        with self._lock:
            found = self._transports.get(base)
            if found is None:
                found = self._transports[base] = HttpTransport(base, _PEER_TIMEOUT)
            return found

    # -- control (on the party's thread) ---------------------------------------------------
    def reset(self, body: Body) -> Response:
        self._close_party()
        jurisdiction = jurisdiction_of(str(body["jurisdiction"]))
        now = datetime.fromisoformat(str(body["now"])).astimezone(UTC)
        self.peers.update({name: str(url).rstrip("/") for name, url in body["peers"].items()})
        self.clock = Clock(now, jurisdiction.tz)
        self.scheduler = Scheduler(self.clock)
        self._journal = Journal(self.clock)
        links: dict[str, Any] = {
            name: _PeerLink(name, ends.target, self)
            for name, ends in LINKS.items() if ends.caller == self.role}
        env = Env(clock=self.clock, scheduler=self.scheduler, journal=self._journal,
                  streams=Streams(int(body["seed"])), jurisdiction=jurisdiction,
                  defects=self.defects, network=_Network(self), links=links)
        first_day = self.clock.local().date()
        self.party = Bank(env, BankPolicy(), first_day) if self.role == "bank" else \
            Platform(env, PlatformPolicy(), first_day)
        self.party.start()
        return Response(200, self.clock_body())

    def clock_body(self) -> Body:
        upcoming = self.scheduler.next_instant()
        return {"now": instant_text(self.clock.now),
                "next_wakeup": instant_text(upcoming) if upcoming is not None else None}

    def move(self, to: str) -> Response:
        instant = datetime.fromisoformat(to).astimezone(UTC)
        if instant < self.clock.now:
            return problem(409, "Clock cannot go back",
                           f"{instant_text(instant)} is before now, "
                           f"{instant_text(self.clock.now)}")
        self.scheduler.run_due(instant)  # every timer due at or before it (late ones late)
        return Response(200, self.clock_body())

    def crash(self) -> Response:
        assert self.party is not None
        self.party.crash()
        self.party.restart()
        return Response(200, self.clock_body())

    def _close_party(self) -> None:
        if self.party is not None:
            self.party.close()
            self.party = None
        if self._journal is not None:
            self._journal.close()
            self._journal = None

    # -- HTTP ------------------------------------------------------------------------------
    def app(self) -> _Either:
        """An ASGI app: the control contract under ``/lendsim/``, the role's at ``/``.

        Control calls are accepted unsigned (lendsim, on loopback, is the only one to make
        them); the role's operations are checked against ``LENDSIM_PEER_KEYS``.
        """
        control = _Control(self)
        role_face = face_app(self.role, self.contracts, target=self._party_target,
                             now=lambda: self.clock.now, keyring=self.callers, home=self.home,
                             headers=self._next_wakeup)
        control_face = face_app("control", self.contracts, target=lambda: control,
                                now=lambda: self.clock.now, keyring=None, home=self.home)
        return _Either(control_face, role_face, self.close)

    def _next_wakeup(self) -> dict[str, str]:
        """``Lendsim-Next-Wakeup`` on every answer: lendsim need not ask for the clock."""
        upcoming = self.scheduler.next_instant()
        return {NEXT_WAKEUP_HEADER: instant_text(upcoming) if upcoming is not None else "null"}

    def _party_target(self) -> Any:
        party = self.party
        if party is None:
            return _NotReset()
        return party

    def close(self) -> None:
        if self.home.closed:
            return
        try:
            self.home.call(self._close_party)
        finally:
            self.home.close()
            for transport in self._transports.values():
                transport.close()


class _NotReset:
    name = "party"
    up = True

    def handle(self, operation: str, body: Body, headers: Mapping[str, str]) -> Response:
        return problem(503, "Not reset", "POST /lendsim/reset first")


class _Either:
    """Requests under ``/lendsim/`` to the control face, the rest to the role's; the
    lifespan's shutdown closes the system."""

    def __init__(self, control: Starlette, role: Starlette, close: Any) -> None:
        self._control = control
        self._role = role
        self._close = close

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    self._close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] == "http" and path.startswith("/lendsim/"):
            await self._control(scope, receive, send)
        else:
            await self._role(scope, receive, send)


def bank_app() -> _Either:
    """The reference bank as an ASGI app, for ``python:simulator.sut.reference:bank_app``."""
    return ReferenceSystem("bank").app()


def platform_app() -> _Either:
    """The reference platform as an ASGI app, for
    ``python:simulator.sut.reference:platform_app``."""
    return ReferenceSystem("platform").app()
