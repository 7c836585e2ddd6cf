"""The world: one deterministic simulation of bank, platform, bureau and SMS gateway.

It wires the parties together through links, books the scenario's loans,
plays the borrowers' behaviours and the scripted steps on virtual time, and
at the end gathers the facts the invariants need. Everything that varies —
time, random draws, ids, ordering — derives from the scenario's seed.

The world owns the truth's inputs: the payment network
(:mod:`~simulator.world.network`) records money as it really moves, each
borrower decides what to pay by their own sums (:mod:`~simulator.world.borrowing`),
and an :class:`~simulator.world.observe.Observer` watches the parties' state
for the verdict.

With ``strict_contracts`` every payload is checked against ``contracts/``:
each request and response crossing a link, and the calls the world makes
itself (opening and booking loans, a payment at the bank's counter, a
dispute at the bureau). A violation stops the run, which fails with the
:class:`~simulator.core.errors.ContractError`'s message.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from simulator.checks.facts import Limits, Violation
from simulator.checks.invariants import check_all
from simulator.checks.oracle import Oracle
from simulator.core.calendars import jurisdiction as jurisdiction_of
from simulator.core.clock import Clock, Scheduler
from simulator.core.errors import ContractError, LendsimError
from simulator.core.mailbox import Mailbox
from simulator.core.rng import Streams, derive_seed
from simulator.core.topology import LINKS, ROLES
from simulator.engine.journal import Journal
from simulator.engine.links import ActiveFault, Body, Link, Response
from simulator.parties.bank import Bank
from simulator.parties.base import Env
from simulator.parties.bureau import Bureau
from simulator.parties.platform import Platform
from simulator.parties.sms import Sms
from simulator.scenarios.defects import validate_defects
from simulator.scenarios.model import (
    INVARIANTS,
    Borrower,
    Check,
    Dispute,
    Fault,
    Repay,
    Scenario,
)
from simulator.wire.contracts import Contracts, load_contracts
from simulator.world.books import LOAN_ID_PREFIX, open_books
from simulator.world.borrowing import BorrowerLedgers
from simulator.world.network import PaymentNetwork
from simulator.world.observe import Observer
from simulator.world.outcome import CheckResult, WorldOutcome
from simulator.world.roles import Reachable, Role, Stage, SystemFactory, SystemFailure, Unsupported

__all__ = ["CheckResult", "World", "WorldOutcome"]

_PAY_WINDOW_START = 8 * 60  # 08:00 local
_PAY_WINDOW_MINUTES = 15 * 60  # until 23:00
#: how much virtual time runs between two reports to a progress watcher
_PROGRESS_STEP = timedelta(days=1)


class World:
    """Build with a scenario (and extra defects), then :meth:`run`."""

    def __init__(self, scenario: Scenario, defects: tuple[str, ...] = (), *,
                 strict_contracts: bool = False, state: Path | None = None,
                 systems: Mapping[str, SystemFactory] | None = None,
                 limits: Limits | None = None) -> None:
        self.scenario = scenario
        self.defects = frozenset(validate_defects(
            (*scenario.defects, *defects), where=str(scenario.file or scenario.id)))
        self.jurisdiction = jurisdiction_of(scenario.jurisdiction)
        self.clock = Clock(scenario.start, self.jurisdiction.tz)
        self.scheduler = Scheduler(self.clock)
        self.journal = Journal(self.clock)
        self.streams = Streams(scenario.seed)
        self.oracle = Oracle(scenario.borrowers, scenario.terms, self.jurisdiction)
        self.network = PaymentNetwork(self.clock, self.journal, self.oracle)
        self.ledgers = BorrowerLedgers(scenario.borrowers, scenario.terms, self.jurisdiction)
        self.network.listeners.append(self.ledgers.heard)
        self.checks: list[CheckResult] = []
        self.links: dict[str, Link] = {}
        env = Env(
            clock=self.clock, scheduler=self.scheduler, journal=self.journal,
            streams=self.streams, jurisdiction=self.jurisdiction, defects=self.defects,
            network=self.network, links=self.links, state=state,
        )
        #: called before a borrower acts (repays, disputes), with the instant: a served world
        #: that survives restarts records how far it got, so no action is ever repeated
        self.before_action: Callable[[datetime], None] | None = None
        self.contracts: Contracts | None = load_contracts() if strict_contracts else None
        self.systems = dict(systems or {})
        #: the bounds the run is judged by (default: the jurisdiction's legal limits)
        self.limits = limits
        unknown = sorted(set(self.systems) - set(ROLES))
        if unknown:
            raise LendsimError(f"no role {', '.join(unknown)} for a system under test "
                               f"(roles: {', '.join(ROLES)})")
        #: where the world's thread serves calls back into the world while it waits for a
        #: system under test
        self.mailbox = Mailbox()
        self.parties: dict[str, Role] = {}
        stage = Stage(scenario=scenario, jurisdiction=self.jurisdiction, clock=self.clock,
                      scheduler=self.scheduler, journal=self.journal, links=self.links,
                      network=self.network, contracts=self.contracts, mailbox=self.mailbox,
                      parties=self.parties)
        first_day = self.clock.local().date()
        self.bank: Role = Bank(env, scenario.bank, first_day) if "bank" not in self.systems \
            else self._system("bank", stage)
        self.parties["bank"] = self.bank
        self.platform: Role = Platform(env, scenario.platform, first_day) \
            if "platform" not in self.systems else self._system("platform", stage)
        self.parties["platform"] = self.platform
        self.bureau = Bureau(env)
        self.sms = Sms(env)
        self.parties.update({"bureau": self.bureau, "sms": self.sms})
        for name, ends in LINKS.items():
            party = self.parties[ends.target]
            # a system under test tells its callers apart by who signed the call
            target = party.reached_by(ends.caller) if isinstance(party, Reachable) else party
            self.links[name] = Link(name, target, self.scheduler, self.journal,
                                    self.streams.get(f"link:{name}").random)
        self.links["borrower->platform"].observer = self._platform_answered
        if self.contracts is not None:
            for name, link in self.links.items():
                link.validate = self.contracts.guard(LINKS[name].target, link=name)
        self.observer = Observer(
            clock=self.clock, scheduler=self.scheduler, journal=self.journal,
            oracle=self.oracle, network=self.network, links=self.links, desk=self.desk,
            bank=self.bank, bureau=self.bureau, sms=self.sms)
        self._borrowers = {b.id: b for b in scenario.borrowers}
        #: parties a scripted crash took down that have not restarted yet, by name
        self._down: dict[str, Role] = {}

    def _system(self, role: str, stage: Stage) -> Role:
        """The system under test in ``role``; if it cannot be brought in, what was already
        built is released."""
        try:
            return self.systems[role](stage)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Release every role (a system's process, its peers' server); the journal stays
        open for reading."""
        self.mailbox.close()
        for party in self.parties.values():
            party.close()

    # -- money leaving borrowers, as the payment network sees it ------------------------------
    def _platform_answered(self, operation: str, body: Body, response: Response) -> None:
        """The platform answered a borrower's app (whether or not the app heard it)."""
        if operation == "repay" and response.ok:
            self._taken(body, "platform", response)

    def _taken(self, body: Body, via: str, response: Response) -> None:
        borrower = self.oracle.borrower_of(str(body.get("loan_id")))
        if borrower is not None:
            self.network.taken(borrower, str(body["loan_id"]), int(body["amount"]), via=via,
                               payment_id=response.body.get("payment_id"))

    # -- calls that cross no link ------------------------------------------------------------
    def desk(self, role: str, operation: str, body: Body) -> Response:
        """A call at a role's own desk — a borrower at the bank's counter or the bureau, the
        world booking loans or reading state — that crosses no link; under strict
        contracts the same checks as on a link."""
        party = self.parties[role]
        contracts = self.contracts
        if contracts is not None:
            contracts.validate_request(role, operation, body, {})
        response = party.handle(operation, body, {})
        if contracts is not None:
            contracts.validate_response(role, operation, response.status, response.body)
        return response

    # -- setting up ------------------------------------------------------------------------
    def _open_books(self) -> None:
        """Book every loan at the bank under the id its answer names, then open it in the
        app (:func:`~simulator.world.books.open_books`)."""
        open_books(self.scenario, self.desk, self.oracle)

    def _install_fault(self, fault: Fault, index: int) -> None:
        name = self.observer.script(fault, index)
        detail: dict[str, Any] = {"kind": fault.kind, "until": fault.end, "fault": name}
        if fault.kind == "crash":
            assert fault.party is not None
            party = self.parties[fault.party]
            detail["party"] = fault.party
            self.scheduler.at(fault.start, self._crash, party, detail)
            self.scheduler.at(fault.end, self._restart, party, detail)
            return
        assert fault.link is not None
        detail["link"] = fault.link
        self.links[fault.link].add_fault(ActiveFault(
            kind=fault.kind, start=fault.start, end=fault.end, by=fault.by,
            status=fault.status or 503,
            rate=fault.rate if fault.rate is not None else Decimal(1), name=name))
        self.scheduler.at(fault.start, self._note, "fault.started", detail)
        self.scheduler.at(fault.end, self._note, "fault.ended", detail)

    def _note(self, kind: str, detail: dict[str, Any]) -> None:
        self.journal.append(kind, "world", **detail)

    def _crash(self, party: Role, detail: dict[str, Any]) -> None:
        self.journal.append("fault.started", "world", **detail)
        self.observer.crash_started(party)
        party.crash()
        self._down[party.name] = party

    def _restart(self, party: Role, detail: dict[str, Any]) -> None:
        self.journal.append("fault.ended", "world", **detail)
        self.observer.crash_ended(party)
        self._down.pop(party.name, None)
        party.restart()

    def _schedule_behaviours(self) -> None:
        for borrower in self.scenario.borrowers:
            if borrower.pays.kind in ("on_due_date", "early", "late"):
                self._schedule_habit(borrower, 1)

    def _habit_instant(self, borrower: Borrower, number: int) -> datetime:
        offset = {"on_due_date": 0, "early": -borrower.pays.days,
                  "late": borrower.pays.days}[borrower.pays.kind]
        day = self.ledgers.due_date(borrower.id, number) + timedelta(days=offset)
        minute = _PAY_WINDOW_START + derive_seed(
            self.scenario.seed, f"pays:{borrower.id}:{number}") % _PAY_WINDOW_MINUTES
        return datetime.combine(day, time(minute // 60, minute % 60), tzinfo=self.clock.tz)

    def _schedule_habit(self, borrower: Borrower, number: int) -> None:
        if number > borrower.loan.months:
            return
        self.scheduler.at(self._habit_instant(borrower, number), self._habit, borrower, number)

    def _habit(self, borrower: Borrower, number: int) -> None:
        self._repay(Repay(borrower.id, number))
        self._schedule_habit(borrower, number + 1)

    # -- borrower actions and checks ------------------------------------------------------
    def _repay(self, step: Repay) -> None:
        if self.before_action is not None:
            self.before_action(self.clock.now)
        due = self.ledgers.due_through(step.borrower, step.installment, self.clock.now)
        amount = step.amount if step.amount is not None else due - (step.short_by or 0)
        loan_id = self.oracle.loan_of(step.borrower)
        if amount <= 0:
            self.journal.append("borrower.nothing_due", "borrower", borrower=step.borrower,
                                installment=step.installment)
            return
        body = {"loan_id": loan_id, "amount": amount}
        if step.via == "bank":
            if self.bank.up:
                # a surplus the counter gives back at once belongs to the payment it takes
                with self.network.holding():
                    response = self.desk("bank", "pay_at_counter", body)
                    self.observer.bank_answered("pay_at_counter", body, response)
                    if response.ok:
                        self._taken(body, "bank", response)
            else:
                self.journal.append("borrower.refused", "borrower", borrower=step.borrower,
                                    why="bank is down")
            return
        self.links["borrower->platform"].call("repay", body, ref=step.borrower)

    def _dispute(self, step: Dispute) -> None:
        if self.before_action is not None:
            self.before_action(self.clock.now)
        borrower = self._borrowers[step.borrower]
        body = {"subject_id": borrower.id_number, "account": self.oracle.loan_of(borrower.id),
                "period": step.period}
        self.journal.append("borrower.dispute", "borrower", borrower=step.borrower,
                            period=step.period)
        self.observer.disputes.append((self.clock.now, body["account"], step.period))
        if self.bureau.up:
            self.desk("bureau", "open_dispute", body)
        else:
            self.journal.append("borrower.refused", "borrower", borrower=step.borrower,
                                why="bureau is down")

    def _check(self, step: Check, line: int | None) -> None:
        for expectation in step.bureau:
            actual = self.bureau.read_period_status(
                self._borrowers[expectation.borrower].id_number,
                self.oracle.loan_of(expectation.borrower), expectation.period)
            result = CheckResult(expectation.borrower, expectation.period, expectation.status,
                                 actual, self.clock.local(), expectation.line or line)
            self.checks.append(result)
            self.journal.append("check.bureau", "world", borrower=expectation.borrower,
                                period=expectation.period, expected=expectation.status,
                                actual=actual, holds=result.holds)

    # -- running -------------------------------------------------------------------------
    def start(self) -> None:
        """Open the books, start every party and schedule the steps and behaviours."""
        scenario = self.scenario
        self.journal.append("world.started", "world", scenario=scenario.id, seed=scenario.seed,
                            jurisdiction=scenario.jurisdiction, defects=sorted(self.defects),
                            borrowers=len(scenario.borrowers))
        self._open_books()
        for party in self.parties.values():
            party.start()
        faults = 0
        for step in sorted(scenario.steps, key=lambda s: s.at):
            action = step.action
            if isinstance(action, Fault):
                self._install_fault(action, faults)
                faults += 1
            elif isinstance(action, Repay):
                self.scheduler.at(step.at, self._repay, action)
            elif isinstance(action, Dispute):
                self.scheduler.at(step.at, self._dispute, action)
            else:
                self.scheduler.at(step.at, self._check, action, step.line)
        self._schedule_behaviours()

    def resume(self, now: datetime) -> None:
        """Carry on a world whose parties' databases already hold its state (a served world
        restarted): the clock at ``now``, every party recovered from its database, and what
        the scenario still has to do after ``now`` scheduled (steps, faults not yet over,
        borrowers' habits). What happened at or before ``now`` is not done again."""
        self.clock.now = now.astimezone(UTC)
        self.journal.append("world.resumed", "world", scenario=self.scenario.id)
        for borrower in self.scenario.borrowers:  # booked as the first start booked them
            self.oracle.open_account(borrower.id, f"{LOAN_ID_PREFIX}{borrower.id}")
        for party in self.parties.values():
            party.start()
        faults = 0
        for step in sorted(self.scenario.steps, key=lambda s: s.at):
            action = step.action
            if isinstance(action, Fault):
                if action.end > now:
                    self._install_fault(action, faults)
                faults += 1
            elif step.at <= now:
                continue
            elif isinstance(action, Repay):
                self.scheduler.at(step.at, self._repay, action)
            elif isinstance(action, Dispute):
                self.scheduler.at(step.at, self._dispute, action)
            else:
                self.scheduler.at(step.at, self._check, action, step.line)
        for borrower in self.scenario.borrowers:
            if borrower.pays.kind in ("on_due_date", "early", "late"):
                number = 1
                while number <= borrower.loan.months and \
                        self._habit_instant(borrower, number) <= now:
                    number += 1
                self._schedule_habit(borrower, number)

    def run(self, invariants: tuple[str, ...] = INVARIANTS, *,
            progress: Callable[[float], None] | None = None) -> WorldOutcome:
        """Start, run to ``until``, check the invariants; the parties are closed afterwards.

        A contract violation (under ``strict_contracts``) stops the run: the outcome
        carries its message as ``error`` and no invariant is checked. ``progress`` is
        told the share of the virtual time run so far (0–1) after every virtual day;
        the events, their order and the digest are the same with it or without.
        """
        try:
            return self._run(invariants, progress)
        except ContractError as violation:
            return self._stopped(violation)
        except SystemFailure as failure:
            return self._failed(failure)
        except Unsupported as unsupported:
            return self._skipped(unsupported)
        finally:
            self.close()

    def _run(self, invariants: tuple[str, ...],
             progress: Callable[[float], None] | None) -> WorldOutcome:
        self.begin()
        self._advance(self.scenario.until, progress)
        return self.finish(invariants)

    # -- driving a world step by step (a test of a system under test) -------------------
    def begin(self) -> None:
        """Start the world on the calling thread (it serves calls back into the world)."""
        self.mailbox.own()
        self.start()

    def advance(self, to: datetime) -> None:
        """Run every event before ``to``; the clock is then at ``to``."""
        if to < self.clock.now:
            raise LendsimError(f"cannot go back in time: {to.isoformat()} is before now, "
                               f"{self.clock.now.isoformat()}")
        self.scheduler.run_until(to)

    def plan(self, action: Repay | Fault | Dispute, at: datetime) -> None:
        """Add a step to a running world, at or after now."""
        if at < self.clock.now:
            raise LendsimError(f"{at.isoformat()} is in the past (now "
                               f"{self.clock.now.isoformat()})")
        if isinstance(action, Fault):
            self._install_fault(action, len(self.observer.scripted))
        elif isinstance(action, Repay):
            self.scheduler.at(at, self._repay, action)
        else:
            self.scheduler.at(at, self._dispute, action)

    @property
    def judged_by(self) -> Limits:
        """The bounds the invariants judge by: the given ones, else the law's."""
        return self.limits or Limits(recon_wait=self.jurisdiction.recon_wait_limit,
                                     in_transit=self.jurisdiction.in_transit_limit)

    def judge(self, invariants: tuple[str, ...] = INVARIANTS) -> dict[str, list[Violation]]:
        """The invariants on what happened so far."""
        return check_all(self.observer.facts(self.clock.now, self.judged_by), invariants)

    def finish(self, invariants: tuple[str, ...] = INVARIANTS) -> WorldOutcome:
        """The end of the run: final bureau expectations, the invariants, the outcome.

        A party whose crash lasts beyond the end comes back first, from its database alone
        (as at the end of its crash), so that its state can be read through its contract;
        nothing runs after the end, so nothing it would do then happens."""
        for name, party in sorted(self._down.items()):
            self.journal.append("world.restarted", "world", party=name)
            party.restart()
        self._down.clear()
        for expectation in self.scenario.expect.bureau:
            self._check(Check((expectation,)), expectation.line)
        self.journal.append("world.ended", "world", events=self.scheduler.executed)
        self.journal.index_kinds()
        violations = self.judge(invariants)
        evidence = {
            seq: self.journal.get(seq).brief(self.clock.tz)
            for found in violations.values() for v in found[:20] for seq in v.evidence
        }
        return WorldOutcome(self.journal.digest(), len(self.journal), violations,
                            list(self.checks), evidence, unfired=self.observer.unfired())

    def _advance(self, until: datetime, progress: Callable[[float], None] | None) -> None:
        """Run the scheduler to ``until``, a virtual day at a time when someone watches."""
        if progress is None:
            self.scheduler.run_until(until)
            return
        start = self.clock.now
        total = (until - start).total_seconds()
        edge = start
        while edge < until:
            edge = min(edge + _PROGRESS_STEP, until)
            self.scheduler.run_until(edge)
            progress((edge - start).total_seconds() / total)
        progress(1.0)

    def _stopped(self, violation: ContractError) -> WorldOutcome:
        """The outcome of a run a contract violation stopped."""
        self.journal.append("contract.violated", "world", party=violation.party,
                            operation=violation.operation, where=violation.where,
                            path=violation.path)
        return WorldOutcome(self.journal.digest(), len(self.journal), {}, list(self.checks),
                            error=violation.message)

    def _failed(self, failure: SystemFailure) -> WorldOutcome:
        """The outcome of a run a system under test could not go on with."""
        self.journal.append("system.failed", "world", party=failure.role,
                            why=failure.message)
        return WorldOutcome(self.journal.digest(), len(self.journal), {}, list(self.checks),
                            error=failure.message, stopped_by="system",
                            details=failure.details)

    def _skipped(self, unsupported: Unsupported) -> WorldOutcome:
        """The outcome of a run that asked a system for what it does not offer."""
        self.journal.append("system.unsupported", "world", why=unsupported.reason)
        return WorldOutcome(self.journal.digest(), len(self.journal), {}, list(self.checks),
                            skipped=unsupported.reason)
