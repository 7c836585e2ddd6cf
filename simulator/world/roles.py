"""Who plays each role in a world: a reference party, or a system under test.

The world builds each of its four roles — bank, platform, bureau, SMS gateway —
from the reference party unless a :data:`SystemFactory` is given for it. Either
way it only ever uses what :class:`Role` names: the role's contract operations
(``handle``) and its lifecycle. Everything the world, the oracle and the
invariants need of a role comes through its contract operations, never through
a reference party's attributes — so a user's own bank or platform can take the
role's place (README, "Test your own bank or platform").

A system under test is given a :class:`Stage`: what of the world it may use to
be driven (the clock and scheduler to wake it, the links its outgoing calls
cross, the payment network its refunds go through).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from simulator.core.calendars import Jurisdiction
from simulator.core.clock import Clock, Scheduler
from simulator.core.errors import LendsimError
from simulator.core.mailbox import Mailbox
from simulator.engine.journal import Journal
from simulator.engine.links import Body, Link, Response, Target
from simulator.parties.base import PaymentNetwork
from simulator.scenarios.model import Scenario
from simulator.wire.contracts import Contracts

__all__ = ["Reachable", "Role", "Stage", "SystemFactory", "SystemFailure", "Unsupported"]


class Role(Protocol):
    """What the world needs of whoever plays a role."""

    name: str
    up: bool
    #: advanced by every crash: timers set before it die (see :mod:`simulator.core.clock`)
    epoch: int
    #: called after each of the role's operations and timers (a reference party only)
    after_work: Callable[[], None] | None

    def handle(self, operation: str, body: Body, headers: Mapping[str, str]) -> Response:
        """Run one of the role's contract operations."""
        ...

    def start(self) -> None:
        """The world starts: arm timers (a reference party), reset and wake (a system)."""
        ...

    def crash(self) -> None:
        """Lose everything not durably committed; the role is down until :meth:`restart`."""
        ...

    def restart(self) -> None:
        """Come back from what was durably committed."""
        ...

    def close(self) -> None:
        """The world is over: release what the role holds."""
        ...


@runtime_checkable
class Reachable(Protocol):
    """A role whose callers must be told apart (a system under test checks who signed a
    call): the world's links reach it as :meth:`reached_by` the link's caller."""

    def reached_by(self, caller: str) -> Target: ...


@dataclass(frozen=True)
class Stage:
    """What a system under test may use of the world that drives it."""

    scenario: Scenario
    jurisdiction: Jurisdiction
    clock: Clock
    scheduler: Scheduler
    journal: Journal
    #: the world's links, by name: a system's outgoing calls cross them
    links: Mapping[str, Link]
    #: where money a system gives back to a borrower goes
    network: PaymentNetwork
    #: the contracts, when every payload is checked (``--strict-contracts``)
    contracts: Contracts | None
    #: the world's thread serves calls back into the world here while it waits for a system
    mailbox: Mailbox
    #: every role by name, reference party or system (a system's peers)
    parties: Mapping[str, Role]


#: builds the system that plays a role, given the stage it plays on
SystemFactory = Callable[[Stage], Role]


class Unsupported(Exception):
    """A scenario asks a system for something it does not offer (a crash, say): the scenario
    does not apply to it. ``reason`` says what, in words for a report."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SystemFailure(LendsimError):
    """A system under test cannot go on: it did not answer in time, answered outside its
    contract, never became idle, or its process died. The run stops; the message (and
    ``details``, such as the last lines a process wrote to stderr) is the finding."""

    def __init__(self, message: str, *, role: str, details: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.role = role
        self.details = details
