"""Control-contract conformance: does a system let lendsim drive its time?

The first part of ``lendsim check`` (README, "Test your own bank or platform").
Each :class:`Requirement` is one promise of ``contracts/control.yaml``, judged
by a short sequence of calls to one fresh instance of the system:

* ``reset`` answers with its clock at the instant given;
* ``GET /lendsim/clock`` answers that clock;
* the clock moves forward, and every announced ``next_wakeup`` is honoured:
  moved there, the system runs what was due and announces a later one (or none);
* the clock never goes back: an earlier instant is refused with ``409`` and
  changes nothing;
* ``reset`` really forgets: a loan booked before it is gone after it;
* ``crash`` loses nothing committed (or answers ``404``: not supported, and the
  crash scenarios are skipped).

Each finding says what was sent and what came back; nothing here raises for
what the system does wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta

from simulator.core.errors import ContractError, LendsimError
from simulator.engine.links import Response
from simulator.serve.sandbox import empty_scenario
from simulator.sut.system import SystemUnderTest, instant_text
from simulator.sut.targets import Launcher
from simulator.wire.contracts import Contracts
from simulator.world.world import World

__all__ = ["Requirement", "control_conformance"]

#: how far the wake-up probe follows a system's announced wake-ups
_FOLLOW = timedelta(days=3)
#: the most wake-ups it follows
_WAKEUPS = 200


@dataclass
class Requirement:
    """One requirement of ``lendsim check`` and its verdict."""

    group: str
    name: str
    passed: bool = True
    #: what was seen: the finding, or why it holds
    evidence: list[str] = field(default_factory=list)
    #: a command that reproduces it
    reproduce: str = ""
    #: it did not apply (the verdict is neither pass nor fail)
    skipped: bool = False

    @property
    def status(self) -> str:
        return "skip" if self.skipped else "pass" if self.passed else "FAIL"

    def fail(self, finding: str) -> None:
        self.passed = False
        self.evidence.append(finding)


def _booking(contracts: Contracts, role: str) -> tuple[str, dict[str, object]]:
    """The operation and body that make the system hold one loan (the contract's example)."""
    operation = "book_loan" if role == "bank" else "open_loan"
    examples = contracts.request_body(role, operation).examples
    body = dict(examples[0]) if examples else {}
    body.update(loan_id="L-conformance", borrower="conformance")
    return operation, body


def _holds_loan(system: SystemUnderTest, role: str) -> bool | None:
    """Does the system hold the probe's loan? None: it cannot say (an unexpected answer)."""
    if role == "bank":
        found = system.probe("bank", "get_loan", {"loan_id": "L-conformance"})
        return True if found.status == 200 else False if found.status == 404 else None
    listed = system.probe("platform", "list_loans", {"borrower": "conformance"})
    if listed.status == 404:
        return False
    if listed.status != 200:
        return None
    return any(isinstance(loan, dict) and loan.get("loan_id") == "L-conformance"
               for loan in listed.body.get("loans", []))


def control_conformance(launcher: Launcher, jurisdiction: str, reproduce: str
                        ) -> list[Requirement]:
    """The control-contract requirements, judged on one fresh instance of the system."""
    role = launcher.spec.role
    scenario = empty_scenario(jurisdiction)
    scenario = replace(scenario, id="control-conformance")
    world = World(scenario, systems={role: launcher.factory})
    system = world.parties[role]
    assert isinstance(system, SystemUnderTest)
    world.mailbox.own()
    found: list[Requirement] = []
    try:
        for name, probe in _PROBES:
            requirement = Requirement("control", name, reproduce=reproduce)
            found.append(requirement)
            system.failure = None
            try:
                probe(system, requirement, launcher.contracts)
            except (LendsimError, ContractError) as error:
                requirement.fail(str(error))
                details = getattr(error, "details", ())
                requirement.evidence.extend(details)
            if not requirement.passed and name == _PROBES[0][0]:
                break  # a system that cannot be reset cannot be probed further
    finally:
        world.close()
        world.journal.close()
    return found


def _reset(system: SystemUnderTest, requirement: Requirement, contracts: Contracts) -> None:
    system.reset()
    requirement.evidence.append(f"reset answered its clock at {instant_text(system.clock)}"
                                if system.clock else "reset answered")


def _get_clock(system: SystemUnderTest, requirement: Requirement,
               contracts: Contracts) -> None:
    answer = system.probe("control", "get_clock")
    if answer.status != 200:
        requirement.fail(f"GET /lendsim/clock answered {answer.status}")
    elif answer.body.get("now") is None or system.clock is None or \
            _same(answer, system.clock.isoformat()) is False:
        requirement.fail(f"GET /lendsim/clock answered now {answer.body.get('now')}, but the "
                         f"clock was set to {instant_text(system.clock) if system.clock else '?'}")
    else:
        requirement.evidence.append(f"answered now {answer.body['now']}")


def _same(answer: Response, instant: str) -> bool:
    from datetime import datetime

    try:
        said = datetime.fromisoformat(str(answer.body.get("now")).replace("Z", "+00:00"))
        return said == datetime.fromisoformat(instant)
    except ValueError:
        return False


def _wakeups(system: SystemUnderTest, requirement: Requirement, contracts: Contracts) -> None:
    operation, body = _booking(contracts, system.name)
    start = system.clock or system.stage.clock.now
    booked = system.probe(system.name, operation, body)
    if not booked.ok:
        requirement.evidence.append(f"{operation} answered {booked.status}: followed the "
                                    "wake-ups of a system holding no loan")
    end = start + _FOLLOW
    followed = 0
    system.tick(start + timedelta(minutes=1))
    while system.next_wakeup is not None and system.next_wakeup <= end and \
            followed < _WAKEUPS:
        wakeup = system.next_wakeup
        if system.clock is not None and wakeup < system.clock:
            requirement.fail(f"announced next_wakeup {instant_text(wakeup)}, before its own "
                             f"clock {instant_text(system.clock)}")
            return
        system.tick(wakeup)  # fails if the system still has work due there after 50 ticks
        followed += 1
    system.tick(end)
    requirement.evidence.append(f"followed {followed} announced wake-up(s) over "
                                f"{_FOLLOW.days} days; each time the system ran what was due "
                                "and announced a later one")


def _never_back(system: SystemUnderTest, requirement: Requirement,
                contracts: Contracts) -> None:
    clock = system.clock
    assert clock is not None
    earlier = clock - timedelta(days=1)
    answer = system.probe("control", "set_clock", {"now": instant_text(earlier)})
    if answer.status != 409:
        requirement.fail(f"POST /lendsim/clock to {instant_text(earlier)}, a day before its "
                         f"clock {instant_text(clock)}, answered {answer.status}, not 409")
    after = system.probe("control", "get_clock")
    if after.status == 200 and not _same(after, clock.isoformat()):
        requirement.fail(f"after the refused move its clock reads {after.body.get('now')}, "
                         f"no longer {instant_text(clock)}")
    if requirement.passed:
        requirement.evidence.append(f"moving back a day answered 409; the clock stayed at "
                                    f"{instant_text(clock)}")


def _reset_forgets(system: SystemUnderTest, requirement: Requirement,
                   contracts: Contracts) -> None:
    role = system.name
    operation, body = _booking(contracts, role)
    booked = system.probe(role, operation, body)
    if not booked.ok and booked.status != 409:
        requirement.fail(f"{operation} answered {booked.status}: nothing to forget")
        return
    if _holds_loan(system, role) is not True:
        requirement.fail(f"after {operation} answered {booked.status}, the loan could not be "
                         "read back")
        return
    system.reset()
    held = _holds_loan(system, role)
    if held is not False:
        requirement.fail("after POST /lendsim/reset the loan booked before it is still there"
                         if held else "after reset, reading the loan answered neither 200 "
                                      "nor 404")
        return
    requirement.evidence.append("a loan booked before reset was gone after it")


def _crash(system: SystemUnderTest, requirement: Requirement, contracts: Contracts) -> None:
    role = system.name
    operation, body = _booking(contracts, role)
    system.probe(role, operation, body)
    answer = system.probe("control", "crash")
    if answer.status == 404:
        requirement.skipped = True
        requirement.evidence.append("POST /lendsim/crash answered 404: crashes are not "
                                    "supported, so scenarios that crash the system are skipped")
        return
    if not answer.ok:
        requirement.fail(f"POST /lendsim/crash answered {answer.status}")
        return
    if _holds_loan(system, role) is not True:
        requirement.fail("a loan committed before the crash was gone after it")
        return
    requirement.evidence.append("a loan committed before the crash was still there after it")


Probe = Callable[[SystemUnderTest, Requirement, Contracts], None]

_PROBES: list[tuple[str, Probe]] = [
    ("reset answers with its clock at the instant given", _reset),
    ("GET /lendsim/clock answers the clock", _get_clock),
    ("announced wake-ups are honoured: the system runs what is due and becomes idle",
     _wakeups),
    ("the clock never goes back: an earlier instant is refused with 409", _never_back),
    ("reset forgets everything", _reset_forgets),
    ("a crash loses nothing committed", _crash),
]
