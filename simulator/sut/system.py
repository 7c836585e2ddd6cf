"""A system under test in a role: the world's calls to it, its clock, its crashes.

:class:`SystemUnderTest` plays a role (``bank`` or ``platform``) as far as the
world can tell (:class:`~simulator.world.roles.Role`); every operation becomes
an HTTP request under the role's contract (:mod:`simulator.sut.wire`), sent
through a transport (:mod:`simulator.sut.transports`). Virtual time reaches the
system through the control contract (``contracts/control.yaml``):

* before the first call, ``POST /lendsim/reset`` with the scenario, seed, time
  zone, instant and the peers' base URLs;
* before every call the world routes to it, and at every ``next_wakeup`` it
  announced, ``POST /lendsim/clock`` moves its clock to the world's instant; it
  answers when idle, with its next wake-up (a system that announces work at the
  same instant again and again without ever becoming idle is a finding);
* after every call, ``next_wakeup`` is read again — from a
  ``Lendsim-Next-Wakeup`` header on the answer, else ``GET /lendsim/clock`` —
  because a call can create work;
* a scripted crash is ``POST /lendsim/crash``; ``404`` means the system cannot
  crash on request, and the scenario does not apply to it
  (:class:`~simulator.world.roles.Unsupported`).

Every request carries ``Lendsim-Now`` and is signed: with key id ``lendsim``
for the world's own calls and control, with the calling party's key for a call
that crosses a link (the bank's callback to a platform under test is signed by
the bank). While lendsim waits for an answer, the world's thread serves the
system's calls to its peers (:mod:`simulator.core.mailbox`).

Whatever the system does wrong — no answer within the time allowed, a status or
body its contract does not allow, a clock that goes back or never idles — stops
the run with a :class:`~simulator.world.roles.SystemFailure` (or a
:class:`~simulator.core.errors.ContractError`) whose message is the finding;
``details`` adds what the system's process last wrote to stderr.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import Future
from datetime import UTC, datetime
from typing import Any, NoReturn

from simulator.core.errors import ContractError, LendsimError
from simulator.core.headers import header
from simulator.core.mailbox import WaitedTooLong
from simulator.core.privacy import redact
from simulator.engine.links import Body, Response
from simulator.sut.transports import Answer, Transport, TransportError
from simulator.sut.wire import Outgoing, RoleWire
from simulator.wire.contracts import Contracts
from simulator.wire.signing import Keyring
from simulator.world.roles import Stage, SystemFailure, Unsupported

__all__ = ["LENDSIM_KEY_ID", "NEXT_WAKEUP_HEADER", "NOW_HEADER", "SystemUnderTest"]

#: the key id lendsim signs its own calls and control with
LENDSIM_KEY_ID = "lendsim"
NOW_HEADER = "Lendsim-Now"
NEXT_WAKEUP_HEADER = "Lendsim-Next-Wakeup"
#: ticks at one instant after which a system that still has work due there is stuck
_TICKS_AT_ONE_INSTANT = 50


def instant_text(instant: datetime) -> str:
    """An instant as lendsim writes it on the wire: RFC 3339 in UTC."""
    return instant.astimezone(UTC).isoformat()


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        found = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return found.astimezone(UTC) if found.tzinfo is not None else None


class _Reached:
    """The system as one caller reaches it across a link: calls signed with that caller's
    key."""

    def __init__(self, system: SystemUnderTest, caller: str) -> None:
        self._system = system
        self._caller = caller
        self.name = system.name

    @property
    def up(self) -> bool:
        return self._system.up

    def handle(self, operation: str, body: Body, headers: Mapping[str, str]) -> Response:
        return self._system.call(operation, body, headers, key_id=self._caller)


class SystemUnderTest:
    """A user's bank or platform in a world, reached through ``transport``.

    ``keyring`` holds the keys lendsim signs with (``lendsim`` and every party that may
    call the system); ``peers`` are the base URLs the system reaches the other roles at;
    ``before_call`` runs before each request with the virtual instant (freezegun moves an
    in-process system's clock there); ``details`` gives lines to attach to a finding (a
    process's last stderr lines); ``on_close`` runs when the world is over.
    """

    def __init__(self, role: str, transport: Transport, stage: Stage, *,
                 contracts: Contracts, keyring: Keyring, peers: Mapping[str, str],
                 timeout: float, before_call: Callable[[datetime], None] | None = None,
                 details: Callable[[], tuple[str, ...]] | None = None,
                 on_close: Callable[[], None] | None = None) -> None:
        self.name = role
        self.up = True
        self.epoch = 0
        self.after_work: Callable[[], None] | None = None
        self.transport = transport
        self.stage = stage
        self.keyring = keyring
        self.peers = dict(peers)
        self.timeout = timeout
        self._wire = RoleWire(role, contracts)
        self._control = RoleWire("control", contracts)
        self._before_call = before_call
        self._details = details
        self._on_close = on_close
        #: the system's clock as lendsim last set it (None: not reset yet)
        self.clock: datetime | None = None
        #: the next instant the system said it has work due
        self.next_wakeup: datetime | None = None
        self._armed: set[datetime] = set()
        self._depth = 0
        #: the first failure, raised again at the outermost call (a nested call's failure
        #: would otherwise end in a peer's 5xx)
        self.failure: LendsimError | None = None
        self.calls = 0
        self.closed = False

    def stray(self, finding: str) -> None:
        """Something the system did between lendsim's calls is a finding (a call to a host
        that is not a peer, a call outside every call and tick): the run stops at the next
        call."""
        details = self._details() if self._details is not None else ()
        self._record(SystemFailure(finding, role=self.name, details=details))

    def reached_by(self, caller: str) -> _Reached:
        """The system as ``caller`` reaches it across a link (a borrower's app is lendsim's:
        it signs as ``lendsim``)."""
        return _Reached(self, caller if caller in self.keyring.key_ids else LENDSIM_KEY_ID)

    # -- the role --------------------------------------------------------------------------
    def handle(self, operation: str, body: Body, headers: Mapping[str, str]) -> Response:
        """A call at the system's own desk (the world booking loans, reading state, a
        borrower at the counter): signed by lendsim."""
        return self.call(operation, body, headers, key_id=LENDSIM_KEY_ID)

    def start(self) -> None:
        self._ensure_reset()
        self._arm()

    def crash(self) -> None:
        self._ensure_reset()
        now = self._now()
        if self.clock is None or self.clock < now or self._due(now):
            self.tick(now)  # it crashes at the world's instant, having done what was due
        answer = self._send(self._control, "crash", {}, {}, LENDSIM_KEY_ID, self._now())
        if answer.status == 404:
            raise Unsupported(f"the {self.name} does not crash on request "
                              "(POST /lendsim/crash answered 404)")
        self.epoch += 1  # wake-ups armed before the crash die with it
        self._armed.clear()
        self.up = False
        self._read_clock(answer, "crash")

    def restart(self) -> None:
        self.up = True
        self.tick(self._now())

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            self.transport.close()
        finally:
            if self._on_close is not None:
                self._on_close()

    # -- calls -------------------------------------------------------------------------------
    def call(self, operation: str, body: Body, headers: Mapping[str, str], *,
             key_id: str) -> Response:
        """One operation of the role's contract, at the world's instant."""
        if self.failure is not None:
            raise self.failure
        self._ensure_reset()
        now = self._now()
        if self.clock is None or self.clock < now or self._due(now):
            self.tick(now)
        if not self._wire.offers(operation):
            raise ContractError(f"{self.name}.{operation}: the {self.name} contract has no "
                                "such operation", party=self.name, operation=operation)
        answer = self._send(self._wire, operation, body, headers, key_id, now)
        self.calls += 1
        wakeup = header(answer.headers, NEXT_WAKEUP_HEADER)
        if wakeup is not None:
            self._heard_wakeup(wakeup, f"the {NEXT_WAKEUP_HEADER} header of {operation}")
        else:
            clock = self._send(self._control, "get_clock", {}, {}, LENDSIM_KEY_ID, now)
            self._read_clock(clock, "get_clock")
        self._arm()
        return self._read(self._wire, operation, answer)

    def tick(self, now: datetime) -> None:
        """Move the system's clock to ``now`` and let it run everything due, until it says it
        is idle with nothing more due at ``now``."""
        for _ in range(_TICKS_AT_ONE_INSTANT):
            if self.clock is not None and now < self.clock:
                self._fail(f"lendsim's clock ({instant_text(now)}) is behind the "
                           f"{self.name}'s ({instant_text(self.clock)}): it moved its clock "
                           "beyond what it was told")
            signed_at = self.clock or now
            answer = self._send(self._control, "set_clock", {"now": instant_text(now)}, {},
                                LENDSIM_KEY_ID, signed_at, sign_at=signed_at)
            if answer.status == 409:
                self._fail(f"the {self.name} refused to move its clock forward to "
                           f"{instant_text(now)} (409) though it was at "
                           f"{instant_text(signed_at)}")
            self._read_clock(answer, "set_clock", expect=now)
            if not self._due(now):
                self._arm()
                return
        self._fail(f"the {self.name} never became idle at {instant_text(now)}: "
                   f"{_TICKS_AT_ONE_INSTANT} ticks in a row it still had work due then")

    # -- probes (lendsim check) --------------------------------------------------------------
    def probe(self, contract: str, operation: str, body: Body | None = None, *,
              signed_at: datetime | None = None) -> Response:
        """One request as it is, at the system's clock — no tick before it, no wake-up read
        after it — and its answer whatever its status (a status or body outside the
        contract still raises :class:`~simulator.core.errors.ContractError`)."""
        wire = self._control if contract == "control" else self._wire
        now = self.clock or self._now()
        answer = self._send(wire, operation, body or {}, {}, LENDSIM_KEY_ID, now,
                            sign_at=signed_at or now)
        return wire.response(operation, answer)

    def reset(self) -> None:
        """Reset the system (again) to the world's instant."""
        self.clock = None
        self.next_wakeup = None
        self._ensure_reset()

    # -- time ------------------------------------------------------------------------------
    def _now(self) -> datetime:
        return self.stage.clock.now

    def _due(self, now: datetime) -> bool:
        return self.next_wakeup is not None and self.next_wakeup <= now

    def _arm(self) -> None:
        """A wake-up in the world's scheduler at the system's next wake-up."""
        wakeup = self.next_wakeup
        if wakeup is None or not self.up or wakeup in self._armed:
            return
        if self._armed and min(self._armed) <= wakeup:
            return
        self._armed.add(wakeup)
        self.stage.scheduler.at(wakeup, self._wake, wakeup, owner=self)

    def _wake(self, wakeup: datetime) -> None:
        self._armed.discard(wakeup)
        now = self._now()
        if self.up and self._due(now):
            self.tick(now)
        self._arm()

    def _ensure_reset(self) -> None:
        if self.clock is not None:
            return
        scenario = self.stage.scenario
        now = self._now()
        body = {
            "scenario": scenario.id, "seed": scenario.seed & ((1 << 63) - 1),
            "jurisdiction": self.stage.jurisdiction.code,
            "timezone": self.stage.jurisdiction.tz.key, "now": instant_text(now),
            "peers": self.peers,
        }
        answer = self._send(self._control, "reset", body, {}, LENDSIM_KEY_ID, now)
        self._read_clock(answer, "reset", expect=now)

    def _read_clock(self, answer: Answer, operation: str,
                    expect: datetime | None = None) -> None:
        response = self._read(self._control, operation, answer)
        if not response.ok:
            self._fail(f"the {self.name} answered {operation} with {answer.status}: "
                       f"{response.body.get('title', '')} {response.body.get('detail', '')}"
                       .rstrip())
        said = _instant(response.body.get("now"))
        if said is None:  # the contract's schema let it through: never, but say so
            self._fail(f"the {self.name}'s {operation} answer has no readable now")
        if expect is not None and said != expect:
            self._fail(f"the {self.name} answered {operation} with its clock at "
                       f"{instant_text(said)}, but was set to {instant_text(expect)}")
        self.clock = said
        self._heard_wakeup(response.body.get("next_wakeup"), f"its {operation} answer")

    def _heard_wakeup(self, value: Any, where: str) -> None:
        if value is None or value in ("", "null"):
            self.next_wakeup = None
            return
        wakeup = _instant(value)
        if wakeup is None:
            self._fail(f"the {self.name} gave no readable next wake-up in {where}: expected "
                       "an RFC 3339 instant or null")
        self.next_wakeup = wakeup

    # -- the wire --------------------------------------------------------------------------
    def _send(self, wire: RoleWire, operation: str, body: Body, headers: Mapping[str, str],
              key_id: str, now: datetime, *, sign_at: datetime | None = None) -> Answer:
        outgoing = wire.request(operation, body, headers)
        return self._exchange(wire.contract, operation, outgoing, key_id, now,
                              sign_at or now)

    def _exchange(self, contract: str, operation: str, outgoing: Outgoing, key_id: str,
                  now: datetime, sign_at: datetime) -> Answer:
        headers = dict(outgoing.headers)
        headers[NOW_HEADER] = instant_text(now)
        headers.update(self.keyring.sign(key_id, outgoing.method,
                                         f"{self.transport.prefix}{outgoing.path}", outgoing.body,
                                         sign_at))
        if self._before_call is not None:
            self._before_call(now)
        started: list[Future[Answer]] = []

        def start() -> Future[Answer]:
            started.append(self.transport.start(outgoing.method, outgoing.path, headers,
                                                outgoing.body))
            return started[0]

        self._depth += 1
        try:
            answer = self.stage.mailbox.call_out(start, self.timeout)
        except WaitedTooLong:
            if started:
                started[0].cancel()
            self._fail(f"the {self.name} did not answer {contract}.{operation} within "
                       f"{self.timeout:g} s (real time)")
        except TransportError as error:
            self._fail(f"the {self.name} could not be reached for {contract}.{operation}: "
                       f"{error.reason}")
        except LendsimError:
            raise
        except Exception as error:  # the app itself raised: what a server would make a 500
            self._fail(f"the {self.name} raised {type(error).__name__} handling "
                       f"{contract}.{operation}: {redact(str(error))}")
        finally:
            self._depth -= 1
        if self.failure is not None and self._depth == 0:
            raise self.failure  # a nested call failed while this one waited
        return answer

    def _read(self, wire: RoleWire, operation: str, answer: Answer) -> Response:
        try:
            return wire.response(operation, answer)
        except ContractError as error:
            self._record(error)
            raise

    def _fail(self, message: str) -> NoReturn:
        details = self._details() if self._details is not None else ()
        failure = SystemFailure(message, role=self.name, details=details)
        self._record(failure)
        raise failure

    def _record(self, failure: LendsimError) -> None:
        if self.failure is None:
            self.failure = failure
