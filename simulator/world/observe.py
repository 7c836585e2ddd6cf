"""What the world watches for the verdict: the parties' state as it changes, and its faults.

An :class:`Observer` sees every posting the bank answers for on the wire, audits
the tables of a reference party the checks judge by (the bank's postings, the
bureau's credit files), reads through their contract operations the bank's
postings and the platform's pending repayments at the end, reads the SMS
gateway's delivered messages, knows when the path a repayment takes to the bank
was broken, and tells whether each scripted fault fired. At the end it hands the
checks their :class:`~simulator.checks.facts.Facts`.

A role played by a system under test offers only its contract: postings are then
known from the bank's answers as they cross the wire, and from ``list_postings``
at the end (with the bank's own ``received_at`` for one it never answered for).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from simulator.checks.facts import (
    BureauRecord,
    CreditWrite,
    Facts,
    Limits,
    Message,
    Named,
    Posting,
    PostingSeen,
    Window,
)
from simulator.checks.oracle import Oracle
from simulator.core.clock import Clock, Scheduler
from simulator.core.errors import LendsimError
from simulator.engine.journal import Journal
from simulator.engine.links import Body, Link, Response
from simulator.parties.base import Party, Rows
from simulator.parties.bureau import Bureau
from simulator.parties.sms import Sms
from simulator.scenarios.model import Fault
from simulator.world.audit import Audit, AuditRow
from simulator.world.network import PaymentNetwork
from simulator.world.roles import Role

__all__ = ["Observer", "Scripted"]

#: a call at a role's own desk: (role, operation, body) → its answer
Desk = Callable[[str, str, Body], Response]
Row = TypeVar("Row")
#: items per page when reading a role's state
_PAGE = "1000"
#: the bank's operations whose 201 answer names a posting
_POSTING_OPERATIONS = ("post_repayment", "pay_at_counter")

_CREDIT_COLUMNS = ("subject_id", "account", "installment", "period", "status", "days_past_due")
_POSTING_COLUMNS = ("posting_id", "payment_id", "amount", "loan_id")
#: faults on platform->bank that keep a repayment from reaching the bank
_BLOCKING = ("outage", "error", "delay")


@dataclass
class Scripted:
    """A fault of the scenario and what it did."""

    fault: Fault
    name: str
    #: for a crash: calls refused and timers due while the party was down
    refused_before: int = 0
    timers_due: int = 0
    refused: int = 0
    notes: list[str] = field(default_factory=list)


class Observer:
    """The world's eyes on one run."""

    def __init__(self, *, clock: Clock, scheduler: Scheduler, journal: Journal,
                 oracle: Oracle, network: PaymentNetwork, links: dict[str, Link],
                 desk: Desk, bank: Role, bureau: Bureau, sms: Sms) -> None:
        self._clock = clock
        self._scheduler = scheduler
        self._journal = journal
        self._oracle = oracle
        self._network = network
        self._links = links
        self._desk = desk
        self._bureau, self._sms = bureau, sms
        self._ever_overdue: set[tuple[str, str, int]] = set()
        self.credit_files = Audit(bureau, "records", _CREDIT_COLUMNS, clock,
                                  on_change=self._credit_changed, updates=_CREDIT_COLUMNS)
        bureau.after_work = self.credit_files.poll
        #: postings the bank answered for, as they crossed the wire (first sighting each)
        self._answered: dict[str, PostingSeen] = {}
        self.postings: Audit | None = None
        if isinstance(bank, Party):  # a reference bank: its database is audited too
            self.postings = Audit(bank, "postings", _POSTING_COLUMNS, clock,
                                  updates=("payment_id", "amount", "loan_id"))
            bank.after_work = self.postings.poll
        for link in links.values():
            if link.target is bank:
                link.observer = self.bank_answered
        self.scripted: list[Scripted] = []
        self.disputes: list[tuple[datetime, str, str]] = []

    # -- credit files ---------------------------------------------------------------------
    def _credit_changed(self, change: AuditRow) -> int:
        """Journal a change that makes or unmakes a delinquency; its seq (0 for others)."""
        _, _, op, values = change
        subject, account, installment, period, status, dpd = values
        key = (subject, account, installment)
        overdue = op != "delete" and status == "overdue"
        if not overdue and key not in self._ever_overdue:
            return 0
        if overdue:
            self._ever_overdue.add(key)
        else:
            self._ever_overdue.discard(key)
        return self._journal.append(
            "credit_file.changed", "world", account=account, installment=installment,
            period=period, status="deleted" if op == "delete" else status, days_past_due=dpd)

    # -- postings -----------------------------------------------------------------------------
    def bank_answered(self, operation: str, body: Body, response: Response) -> None:
        """The bank answered a call (whether or not its caller heard): a posting it names is
        one the bank holds from now."""
        if operation not in _POSTING_OPERATIONS or response.status != 201:
            return
        answer = response.body
        posting_id, payment_id, amount = (answer.get("posting_id"), answer.get("payment_id"),
                                          answer.get("amount"))
        if not isinstance(posting_id, str) or posting_id in self._answered:
            return
        self._answered[posting_id] = PostingSeen(
            posting_id, str(payment_id), amount if isinstance(amount, int) else 0,
            self._clock.now, 0)

    # -- faults -----------------------------------------------------------------------------
    def script(self, fault: Fault, index: int) -> str:
        """Register a scenario fault; its name for the journal."""
        name = f"line {fault.line}" if fault.line is not None else f"fault {index + 1}"
        self.scripted.append(Scripted(fault, name))
        return name

    def crash_started(self, party: Role) -> None:
        """Before a scripted crash: how much the party was about to do while down."""
        scripted = self._scripted_crash(party.name, self._clock.now)
        if scripted is None:
            return
        scripted.timers_due = self._scheduler.owned_before(party, scripted.fault.end)
        scripted.refused_before = self._refused_down(party.name)

    def crash_ended(self, party: Role) -> None:
        scripted = self._scripted_crash(party.name, self._clock.now, ending=True)
        if scripted is not None:
            scripted.refused = self._refused_down(party.name) - scripted.refused_before

    def _scripted_crash(self, party: str, now: datetime, *,
                        ending: bool = False) -> Scripted | None:
        for scripted in self.scripted:
            fault = scripted.fault
            if fault.kind == "crash" and fault.party == party and \
                    (fault.end == now if ending else fault.start == now):
                return scripted
        return None

    def _refused_down(self, party: str) -> int:
        return sum(link.refused_down for link in self._links.values()
                   if link.target.name == party)

    def unfired(self) -> list[str]:
        """Why each scripted fault that affected nothing (and may not) fails the run."""
        found = []
        for scripted in self.scripted:
            fault = scripted.fault
            if fault.may_not_fire:
                continue
            if fault.kind == "crash":
                if scripted.timers_due or scripted.refused:
                    continue
                why = (f"nothing was due of {fault.party} and no call reached it while it was "
                       "down")
            else:
                assert fault.link is not None
                if self._links[fault.link].fired.get(scripted.name):
                    continue
                why = f"no call crossed {fault.link} while it was active"
            where = f" ({scripted.name})" if scripted.fault.line is not None else ""
            found.append(
                f"fault {fault.where} from {fault.start.isoformat()} to "
                f"{fault.end.isoformat()}{where} never fired: {why} (mark it "
                "'may_not_fire: true' if that is what it shows)")
        return found

    def path_broken(self) -> list[Window]:
        """When a repayment could not reach the bank: the platform or the bank down, or
        platform->bank refusing, failing or delaying calls."""
        windows = []
        for scripted in self.scripted:
            fault = scripted.fault
            down = fault.kind == "crash" and fault.party in ("platform", "bank")
            if down or (fault.link == "platform->bank" and fault.kind in _BLOCKING):
                windows.append(Window(fault.start, fault.end, fault.where))
        return sorted(windows)

    # -- the facts ------------------------------------------------------------------------
    def facts(self, end: datetime, limits: Limits) -> Facts:
        """Everything the checks judge by, as the run left it."""
        oracle = self._oracle
        postings = _Pages(self._desk, "bank", "list_postings", "postings", _posting)
        seen: Iterable[PostingSeen] = _Seen(self.postings) if self.postings is not None else \
            self._seen_on_the_wire(postings)
        pending = {p["payment_id"]: int(p["amount"])
                   for p in _Pages(self._desk, "platform", "list_pending", "payments", dict)}
        return Facts(
            journal=self._journal, oracle=oracle, end=end, limits=limits,
            postings=postings,
            postings_seen=seen,
            platform_pending=pending,
            bureau_records=Named(self._bureau.all_records(), BureauRecord),
            credit_writes=_Writes(self.credit_files),
            messages=_Messages(self._sms, self._journal),
            given_back=tuple(self._network.returns),
            reused_payment_ids=tuple(self._network.reused_ids),
            path_broken=self.path_broken(),
            disputes=tuple(self.disputes),
        )


    def _seen_on_the_wire(self, postings: Iterable[Posting]) -> list[PostingSeen]:
        """Every posting the bank answered for, when it answered; then any other it holds at
        the end, at the instant it says it received it."""
        seen = dict(self._answered)
        for posting in postings:
            if posting.posting_id not in seen and posting.received is not None:
                seen[posting.posting_id] = PostingSeen(posting.posting_id, posting.payment_id,
                                                       posting.amount, posting.received, 0)
        return sorted(seen.values(), key=lambda s: (s.at, s.posting_id))


class _Pages(Generic[Row]):
    """Every item of a paged list operation of a role, read page by page as it is walked
    (re-iterable); a role that does not answer the list whole is bad: the run stops."""

    def __init__(self, desk: Desk, role: str, operation: str, field: str,
                 make: Callable[[dict[str, Any]], Row]) -> None:
        self._desk, self._role, self._operation, self._field = desk, role, operation, field
        self._make = make

    def __iter__(self) -> Iterator[Row]:
        after: str | None = None
        while True:
            body: Body = {"limit": _PAGE} if after is None else {"after": after,
                                                                  "limit": _PAGE}
            answer = self._desk(self._role, self._operation, body)
            items = answer.body.get(self._field) if answer.status == 200 else None
            if not isinstance(items, list):
                raise LendsimError(
                    f"the {self._role} answered {self._operation} with {answer.status}: "
                    f"lendsim reads the {self._role}'s state through it to judge the run")
            for item in items:
                yield self._make(item)
            following = answer.body.get("next")
            if not isinstance(following, str) or not following:
                return
            after = following


def _posting(item: dict[str, Any]) -> Posting:
    return Posting(str(item["posting_id"]), str(item["payment_id"]), int(item["amount"]),
                   int(item["applied"]), int(item["refunded"]), str(item["loan_id"]),
                   datetime.fromisoformat(str(item["received_at"])))


class _Seen:
    """Postings as they appeared at the bank (re-iterable)."""

    def __init__(self, audit: Audit) -> None:
        self._audit = audit

    def __iter__(self) -> Iterator[PostingSeen]:
        for at, op, posting_id, payment_id, amount, _loan_id, journal_seq in self._audit.rows():
            if op != "delete":
                yield PostingSeen(posting_id, payment_id, amount, at, journal_seq)


class _Writes:
    """Changes to credit files (re-iterable)."""

    def __init__(self, audit: Audit) -> None:
        self._audit = audit

    def __iter__(self) -> Iterator[CreditWrite]:
        for at, op, subject, account, installment, period, status, dpd, seq in \
                self._audit.rows():
            yield CreditWrite(at, subject, account, installment, period, status, dpd,
                              op == "delete", seq)


class _Messages:
    """The texts the SMS gateway delivered, each with its ``sms.sent`` entry (re-iterable)."""

    def __init__(self, sms: Sms, journal: Journal) -> None:
        self._rows = Rows(sms.disk, "SELECT at, phone, borrower, loan_id, installment, reason,"
                                    " text FROM messages ORDER BY seq")
        self._journal = journal

    def __iter__(self) -> Iterator[Message]:
        sent = (entry.seq for entry in self._journal.entries(["sms.sent"]))
        for at, phone, borrower, loan_id, installment, reason, text in self._rows:
            yield Message(datetime.fromisoformat(at), phone, borrower, loan_id, installment,
                          reason, text, next(sent, 0))
