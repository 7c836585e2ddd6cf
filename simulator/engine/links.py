"""Links: the one-way channels every call between parties crosses, with faults.

A link knows nothing of loans. It takes an operation name, a JSON-shaped body
and headers, and hands them to the target party's ``handle`` — or doesn't,
according to the faults active at the current virtual instant:

=====================  ======================================  ====================
fault                  what the target sees                    what the caller sees
=====================  ======================================  ====================
(none)                 the request                             the response
outage                 nothing                                 refused
error (status, rate)   nothing, for that fraction of calls     the error status
timeout_after_commit   the request (it commits)                timeout: unknown
delay (by)             the request, ``by`` later               timeout: unknown
duplicate              the request, then a copy 1 s later      the first response
crash (of the target)  nothing while it is down                refused
=====================  ======================================  ====================

Under ``--strict-contracts`` a link holds a :class:`Conformance` check in
``validate``: it sees every request before it leaves and every response the
target answers (also ones the caller never sees: a lost response, a late or
duplicated copy). Without one, a call pays nothing for it.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from simulator.core.clock import Scheduler
from simulator.engine.journal import Journal

__all__ = [
    "ActiveFault",
    "Conformance",
    "Link",
    "Observer",
    "Outcome",
    "Reply",
    "Response",
    "Target",
    "problem_document",
]

Body = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Response:
    """What a party's operation answers: an HTTP-like status and a JSON body."""

    status: int
    body: Body = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def problem_document(status: int, title: str, detail: str = "", **extra: Any) -> Body:
    """An RFC 9457 problem document (``application/problem+json``)."""
    body: Body = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    return body


class Outcome(enum.Enum):
    DELIVERED = "delivered"
    REFUSED = "refused"  # never arrived
    ERROR = "error"  # an error status; the request was not processed
    TIMEOUT = "timeout"  # the caller gave up: processed or not, it cannot tell


@dataclass(frozen=True, slots=True)
class Reply:
    """What the caller learns from a call."""

    outcome: Outcome
    response: Response | None = None

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.DELIVERED and self.response is not None and self.response.ok

    @property
    def status(self) -> int | None:
        return self.response.status if self.response is not None else None


class Target(Protocol):
    """The party at the far end of a link."""

    name: str
    up: bool

    def handle(self, operation: str, body: Body, headers: Mapping[str, str]) -> Response: ...


#: hears an answer a link's target gave: (operation, request body, response)
Observer = Callable[[str, "Body", Response], None]


class Conformance(Protocol):
    """Checks what crosses a link against the contract of the party at its far end."""

    def request(self, operation: str, body: Body, headers: Mapping[str, str]) -> None: ...

    def response(self, operation: str, status: int, body: Body) -> None: ...


@dataclass(frozen=True, slots=True)
class ActiveFault:
    """A fault on a link during ``[start, end)``."""

    kind: str
    start: datetime
    end: datetime
    by: timedelta | None = None
    status: int = 503
    rate: Decimal = Decimal(1)
    #: how the journal names this fault on every call it decides (a scenario line, an id)
    name: str | None = None


_DUPLICATE_GAP = timedelta(seconds=1)
_MIN = datetime.min.replace(tzinfo=UTC)
_MAX = datetime.max.replace(tzinfo=UTC)

#: When several faults overlap, the most disruptive one decides.
_PRECEDENCE = ("outage", "error", "timeout_after_commit", "delay", "duplicate")


class Link:
    """A one-way channel ``name`` to ``target``, journaling every call."""

    def __init__(
        self,
        name: str,
        target: Target,
        scheduler: Scheduler,
        journal: Journal,
        draw: Callable[[], float],
    ) -> None:
        self.name = name
        self.target = target
        self._scheduler = scheduler
        self._journal = journal
        self._draw = draw
        self._faults: list[ActiveFault] = []
        # the answer of active_fault() stays valid until the clock leaves [from, until)
        self._cached: tuple[datetime, datetime, ActiveFault | None] | None = None
        #: checks each request and response against the contract (``--strict-contracts``)
        self.validate: Conformance | None = None
        #: hears every answer the target gave, also one the caller never got
        self.observer: Observer | None = None
        #: calls each named fault decided, by fault name
        self.fired: dict[str, int] = {}
        #: calls refused (or late copies lost) because the target was down
        self.refused_down = 0

    def add_fault(self, fault: ActiveFault) -> None:
        self._faults.append(fault)
        self._faults.sort(key=lambda f: (_PRECEDENCE.index(f.kind), f.start))
        self._cached = None

    def remove_fault(self, fault: ActiveFault) -> bool:
        """Take a fault off the link (a sandbox user removing it); False if it was not on."""
        if fault not in self._faults:
            return False
        self._faults.remove(fault)
        self._cached = None
        return True

    def active_fault(self, now: datetime) -> ActiveFault | None:
        """The fault that decides a call made at ``now`` (the most disruptive active one)."""
        cached = self._cached
        if cached is not None and cached[0] <= now < cached[1]:
            return cached[2]
        found = None
        for fault in self._faults:
            if fault.start <= now < fault.end:
                found = fault
                break
        # valid from the latest boundary at or before now to the next one after it
        valid_from, valid_until = _MIN, _MAX
        for fault in self._faults:
            for edge in (fault.start, fault.end):
                if edge <= now:
                    valid_from = max(valid_from, edge)
                else:
                    valid_until = min(valid_until, edge)
        self._cached = (valid_from, valid_until, found)
        return found

    def call(
        self,
        operation: str,
        body: Body,
        headers: Mapping[str, str] | None = None,
        *,
        ref: str | None = None,
    ) -> Reply:
        """Carry one request; ``ref`` (a payment id, a file date) goes into the journal."""
        headers = headers or {}
        if self.validate is not None:
            self.validate.request(operation, body, headers)
        now = self._scheduler.clock.now
        fault = self.active_fault(now) if self._faults else None
        journal = self._journal
        if not self.target.up:
            self.refused_down += 1
            journal.append("link.call", self.name, op=operation, ref=ref, outcome="refused",
                           why=f"{self.target.name} is down")
            return Reply(Outcome.REFUSED)
        if fault is None:
            response = self._handle(operation, body, headers)
            journal.append("link.call", self.name, op=operation, ref=ref, outcome="delivered",
                           status=response.status)
            return Reply(Outcome.DELIVERED, response)
        kind = fault.kind
        name = fault.name
        named: dict[str, str] = {}
        if name is not None:
            self.fired[name] = self.fired.get(name, 0) + 1
            named["fault"] = name
        if kind == "outage":
            journal.append("link.call", self.name, op=operation, ref=ref, outcome="refused",
                           why="outage", **named)
            return Reply(Outcome.REFUSED)
        if kind == "error":
            if fault.rate >= 1 or self._draw() < float(fault.rate):
                journal.append("link.call", self.name, op=operation, ref=ref, outcome="error",
                               status=fault.status, **named)
                return Reply(Outcome.ERROR, Response(
                    fault.status, problem_document(fault.status, "injected error")))
            response = self._handle(operation, body, headers)
            journal.append("link.call", self.name, op=operation, ref=ref, outcome="delivered",
                           status=response.status)
            return Reply(Outcome.DELIVERED, response)
        if kind == "timeout_after_commit":
            response = self._handle(operation, body, headers)
            journal.append("link.call", self.name, op=operation, ref=ref, outcome="timeout",
                           status=response.status, why="response lost", **named)
            return Reply(Outcome.TIMEOUT)
        if kind == "delay":
            assert fault.by is not None
            arrival = now + fault.by
            journal.append("link.call", self.name, op=operation, ref=ref, outcome="timeout",
                           why="delayed", arrives=arrival, **named)
            self._scheduler.at(arrival, self._late_delivery, operation, dict(body),
                               dict(headers), ref)
            return Reply(Outcome.TIMEOUT)
        # duplicate
        response = self._handle(operation, body, headers)
        journal.append("link.call", self.name, op=operation, ref=ref, outcome="delivered",
                       status=response.status, why="duplicated", **named)
        self._scheduler.at(now + _DUPLICATE_GAP, self._late_delivery, operation, dict(body),
                           dict(headers), ref)
        return Reply(Outcome.DELIVERED, response)

    def _late_delivery(
        self, operation: str, body: Body, headers: dict[str, str], ref: str | None
    ) -> None:
        """A delayed or duplicated copy arrives; nobody is waiting for its answer."""
        if not self.target.up:
            self.refused_down += 1
            self._journal.append("link.late", self.name, op=operation, ref=ref,
                                 outcome="lost", why=f"{self.target.name} is down")
            return
        response = self._handle(operation, body, headers)
        self._journal.append("link.late", self.name, op=operation, ref=ref,
                             outcome="delivered", status=response.status)

    def _handle(self, operation: str, body: Body, headers: Mapping[str, str]) -> Response:
        """The target answers; under strict contracts the answer is checked too, and an
        observer hears it (whether or not the caller will)."""
        response = self.target.handle(operation, body, headers)
        if self.validate is not None:
            self.validate.response(operation, response.status, response.body)
        if self.observer is not None:
            self.observer(operation, body, response)
        return response
