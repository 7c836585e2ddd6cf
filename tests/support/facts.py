"""Hand-built facts for the checks: a world without parties, for judging an invariant on
exactly the state a test writes down.

:class:`FactsBuilder` holds an oracle for alice (a 1000.00 loan at 12% over 3 months,
disbursed 2026-01-01, installment 1 due 2026-02-01), a journal, and the state the checks
read; :func:`facts_builder` makes one in either jurisdiction's time zone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from simulator.checks.facts import (
    BureauRecord,
    CreditWrite,
    Facts,
    Limits,
    Message,
    Posting,
    PostingSeen,
    Window,
)
from simulator.checks.oracle import GivenBack, Oracle, Payment
from simulator.core.calendars import jurisdiction
from simulator.core.clock import Clock
from simulator.engine.journal import Journal
from simulator.scenarios.model import Borrower, ContractTerms, LoanTerms, Pays

__all__ = ["ID_NUMBER", "LEVEL", "PHONE", "FactsBuilder", "facts_builder"]

ID_NUMBER = "110101199003071234"
PHONE = "13812345678"
LEVEL = 34_002  # installment of a 1000.00 loan at 12% over 3 months, in minor units


@dataclass
class FactsBuilder:
    """A world without parties: an oracle for alice, a journal, and the state the checks read
    (postings as they appeared and at the end, credit-file writes, texts, money returned,
    disputes)."""

    clock: Clock
    journal: Journal
    oracle: Oracle
    postings: list[Posting] = field(default_factory=list)
    seen: list[PostingSeen] = field(default_factory=list)
    platform_pending: dict[str, int] = field(default_factory=dict)
    writes: list[CreditWrite] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    given_back: list[GivenBack] = field(default_factory=list)
    path_broken: list[Window] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    disputes: list[tuple[datetime, str, str]] = field(default_factory=list)

    def at(self, instant: datetime) -> FactsBuilder:
        self.clock.now = instant
        return self

    def pay(self, payment_id: str, amount: int, instant: datetime, via: str = "platform") -> int:
        """Money leaves alice: the payment network's record, and its journal entry."""
        self.at(instant)
        self.oracle.capture(Payment(payment_id, "alice", "L-alice", amount, instant, via=via))
        return self.journal.append("money.taken", "network", payment_id=payment_id,
                                   loan_id="L-alice", amount=amount, via=via)

    def post(self, payment_id: str, amount: int, instant: datetime, applied: int | None = None
             ) -> int:
        """A posting appears at the bank (and stays, applying ``applied``, default all)."""
        self.at(instant)
        posting_id = f"PST{len(self.seen) + 1:08d}"
        applied = amount if applied is None else applied
        self.postings.append(Posting(posting_id, payment_id, amount, applied, amount - applied,
                                     "L-alice"))
        seq = self.journal.append("bank.posted", "bank", payment_id=payment_id,
                                  posting_id=posting_id, loan_id="L-alice", amount=amount)
        self.seen.append(PostingSeen(posting_id, payment_id, amount, instant, seq))
        return seq

    def unpost(self, posting_id: str) -> None:
        """The bank removes a posting (it stays in the history)."""
        self.postings = [p for p in self.postings if p.posting_id != posting_id]

    def record(self, instant: datetime, status: str, installment: int = 1, *,
               dpd: int | None = None, subject: str = ID_NUMBER, account: str = "L-alice",
               period: str | None = None, deleted: bool = False) -> int:
        """The bureau's database takes a write to alice's (or another) credit file."""
        self.at(instant)
        period = period or f"2026-{installment + 1:02d}"
        dpd = (0 if status == "current" else 1) if dpd is None else dpd
        seq = self.journal.append("credit_file.changed", "world", account=account,
                                  installment=installment, period=period,
                                  status="deleted" if deleted else status, days_past_due=dpd)
        self.writes.append(CreditWrite(instant, subject, account, installment, period, status,
                                       dpd, deleted, seq))
        return seq

    def text(self, instant: datetime, text: str, *, reason: str = "notice",
             installment: int | None = None, phone: str = PHONE) -> int:
        self.at(instant)
        seq = self.journal.append("sms.sent", "sms", borrower="alice", reason=reason)
        self.messages.append(Message(instant, phone, "alice", None, installment, reason, text,
                                     seq))
        return seq

    def give_back(self, payment_id: str, amount: int, instant: datetime, by: str) -> None:
        self.at(instant)
        self.given_back.append(GivenBack(payment_id, amount, by, instant,
                                         payment_id in self.oracle.payments))
        self.oracle.refund(payment_id, amount)

    def dispute(self, instant: datetime, period: str, account: str = "L-alice") -> None:
        """Alice disputes the record of ``period`` at the bureau."""
        self.at(instant)
        self.disputes.append((instant, account, period))

    def facts(self, end: datetime) -> Facts:
        self.at(end)
        final: dict[tuple[str, str, int], BureauRecord] = {}
        for w in self.writes:
            key = (w.subject_id, w.account, w.installment)
            if w.deleted:
                final.pop(key, None)
            else:
                final[key] = BureauRecord(w.subject_id, w.account, w.installment, w.period,
                                          w.status, w.days_past_due)
        jurisdiction = self.oracle.jurisdiction
        return Facts(journal=self.journal, oracle=self.oracle, end=end,
                     limits=Limits(jurisdiction.recon_wait_limit,
                                   jurisdiction.in_transit_limit),
                     postings=list(self.postings), postings_seen=self.seen,
                     platform_pending=self.platform_pending,
                     bureau_records=list(final.values()), credit_writes=self.writes,
                     messages=self.messages, given_back=self.given_back,
                     reused_payment_ids=self.reused, path_broken=self.path_broken,
                     disputes=self.disputes)


def facts_builder(code: str = "CN") -> FactsBuilder:
    """A :class:`FactsBuilder` for alice's loan in jurisdiction ``code`` (CN or US)."""
    rules = jurisdiction(code)
    loan = LoanTerms(100_000, Decimal("0.12"), 3, "equal_installment", date(2026, 1, 1))
    alice = Borrower("alice", "Alice", ID_NUMBER, PHONE, loan, Pays())
    clock = Clock(datetime(2026, 1, 1, 9, tzinfo=rules.tz), rules.tz)
    oracle = Oracle((alice,), ContractTerms(), rules)
    oracle.open_account("alice", "L-alice")
    return FactsBuilder(clock, Journal(clock), oracle)
