"""What the invariants may read of a finished run, and how a violation carries its evidence.

:class:`Facts` gathers, once, everything the checks judge by: the oracle (truth,
fed only by the payment network), the money the network saw move, the limits
the run is judged by, the journal for evidence — and the parties' *state*,
never their account of what they did: every posting the bank ever held and
when it appeared, every write to a credit file as the bureau's database
recorded it, the messages the SMS gateway delivered, the repayments the
platform still holds. Large state is streamed from the parties' disks as it is
walked, so the checks run in constant memory.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, NamedTuple, TypeVar

from simulator.checks.oracle import GivenBack, Oracle, Payment, TrueInstallment
from simulator.core.privacy import mask_id_number
from simulator.engine.journal import Entry, Journal

__all__ = [
    "BureauRecord",
    "CreditWrite",
    "Facts",
    "Limits",
    "Message",
    "Named",
    "Posting",
    "PostingSeen",
    "Violation",
    "Window",
    "payments_by_loan",
]

Row = TypeVar("Row")


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken invariant, with the evidence that proves it."""

    invariant: str
    message: str
    borrower: str | None = None
    subject: str | None = None  # masked ID number
    installment: int | None = None
    instants: dict[str, str] = field(default_factory=dict)
    evidence: tuple[int, ...] = ()
    cause: str | None = None

    def as_dict(self, journal: Journal | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {"invariant": self.invariant, "message": self.message}
        for key in ("borrower", "subject", "installment", "cause"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        if self.instants:
            data["instants"] = dict(self.instants)
        data["evidence"] = list(self.evidence)
        if journal is not None:
            data["entries"] = [journal.get(seq).brief() for seq in self.evidence]
        return data


class Posting(NamedTuple):
    """One posting as the bank holds it at the end of the run."""

    posting_id: str
    payment_id: str
    amount: int
    applied: int
    refunded: int
    loan_id: str
    #: when the bank says it received the repayment (its own claim: used only for a posting
    #: the world never saw it answer for)
    received: datetime | None = None


class PostingSeen(NamedTuple):
    """A posting appearing at the bank, when the world saw it appear (``seq``: its journal
    entry, 0 when there is none)."""

    posting_id: str
    payment_id: str
    amount: int
    at: datetime
    seq: int


class BureauRecord(NamedTuple):
    """One record in a credit file at the end of the run."""

    subject_id: str
    account: str
    installment: int
    period: str
    status: str
    days_past_due: int


class CreditWrite(NamedTuple):
    """A change to a credit-file record, when the bureau's database took it.

    ``deleted`` marks a record that was removed; ``seq`` is the world's journal entry
    for the change (0 when none was written).
    """

    at: datetime
    subject_id: str
    account: str
    installment: int
    period: str
    status: str
    days_past_due: int
    deleted: bool
    seq: int


class Message(NamedTuple):
    """A text message the SMS gateway delivered."""

    at: datetime
    phone: str
    borrower: str | None
    loan_id: str | None
    installment: int | None
    reason: str
    text: str
    seq: int


class Window(NamedTuple):
    """A span during which something a repayment needs was broken (``what`` says which)."""

    start: datetime
    end: datetime
    what: str


@dataclass(frozen=True, slots=True)
class Limits:
    """The bounds a run is judged by: the jurisdiction's, or tighter ones a system declares."""

    #: longest a furnisher may hold back day-end actions waiting for reconciliation
    recon_wait: timedelta
    #: longest an accepted repayment may take to reach the bank on healthy links
    in_transit: timedelta
    #: longest after its threshold a true delinquency may take to reach the bureau, beyond
    #: the recon wait and the batch (None: the jurisdiction's reporting cycle)
    reporting: timedelta | None = None
    #: longest a false record may stand once known (None: the jurisdiction's limit)
    correction: timedelta | None = None


class Named(Generic[Row]):
    """Rows from any re-iterable source, named as ``row_type`` (each read as it is walked)."""

    def __init__(self, source: Iterable[tuple[Any, ...]], row_type: Callable[..., Row]) -> None:
        self._source = source
        self._make = row_type

    def __iter__(self) -> Iterator[Row]:
        make = self._make
        for row in self._source:
            yield make(*row)


@dataclass
class Facts:
    """Everything the checks may read, gathered once after the run."""

    journal: Journal
    oracle: Oracle
    end: datetime
    limits: Limits
    #: the bank's postings at the end, in payment-id order (re-iterable)
    postings: Iterable[Posting]
    #: every posting that ever appeared at the bank, in the order it appeared (re-iterable)
    postings_seen: Iterable[PostingSeen]
    #: repayments the platform still holds for forwarding: payment_id -> amount
    platform_pending: Mapping[str, int]
    #: the credit files at the end, in account and period order (re-iterable)
    bureau_records: Iterable[BureauRecord]
    #: every change to a credit file, in the order the bureau took them (re-iterable)
    credit_writes: Iterable[CreditWrite]
    #: the text messages borrowers received, in order (re-iterable)
    messages: Iterable[Message]
    #: money parties gave back to borrowers, in order
    given_back: Sequence[GivenBack] = ()
    #: payment ids a party answered for two different payments
    reused_payment_ids: Sequence[str] = ()
    #: when the path a repayment takes to the bank was broken (faults, crashes)
    path_broken: Sequence[Window] = ()
    #: disputes borrowers opened: (instant, account, period), from the world's own record
    disputes: Sequence[tuple[datetime, str, str]] = ()
    _by_kind: dict[str, list[Entry]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.postings, list):
            self.postings = sorted((Posting(*p) for p in self.postings),
                                   key=lambda p: (p.payment_id, p.posting_id))
        if isinstance(self.bureau_records, list):
            self.bureau_records = sorted((BureauRecord(*r) for r in self.bureau_records),
                                         key=lambda r: (r.account, r.period, r.installment))

    # -- the journal, for evidence --------------------------------------------------------
    def entries(self, kind: str) -> list[Entry]:
        if kind not in self._by_kind:
            self._by_kind[kind] = list(self.journal.entries([kind]))
        return self._by_kind[kind]

    def payment_seqs(self, payment_ids: Iterable[str]) -> list[int]:
        """Journal entries where these payments were taken from borrowers or posted."""
        return self.journal.about(payment_ids, ("money.taken", "bank.posted"))

    def batches_between(self, start: datetime, end: datetime, most: int = 3) -> list[int]:
        """The bank's day-end actions in a window: what it did instead of reporting."""
        return [e.seq for e in self.entries("bank.batch_acted") if start <= e.at <= end][:most]

    # -- state, observed ---------------------------------------------------------------------
    @functools.cached_property
    def first_seen(self) -> dict[str, datetime]:
        """When each payment first reached the bank (the first posting of it appearing)."""
        first: dict[str, datetime] = {}
        for seen in self.postings_seen:
            if seen.payment_id not in first or seen.at < first[seen.payment_id]:
                first[seen.payment_id] = seen.at
        return first

    @functools.cached_property
    def returned(self) -> dict[str, int]:
        """Money given back per payment id."""
        total: dict[str, int] = {}
        for back in self.given_back:
            total[back.payment_id] = total.get(back.payment_id, 0) + back.amount
        return total

    @functools.cached_property
    def refunded_by_taker(self) -> set[str]:
        """Payments the party that took them gave back in full before any reached the bank:
        they were never meant to be posted."""
        taken_by = {p.payment_id: p.via for p in self.oracle.payments.values()}
        return {back.payment_id for back in self.given_back
                if back.by == taken_by.get(back.payment_id)
                and self.returned.get(back.payment_id, 0)
                >= self.oracle.payments[back.payment_id].amount}

    # -- mapping records to the truth ----------------------------------------------------------
    def borrower_of(self, account: str) -> str | None:
        return self.oracle.borrower_of(account)

    def truth_of(self, account: str, number: int) -> TrueInstallment | None:
        """The true installment a record about ``account``'s installment ``number`` is about."""
        borrower = self.borrower_of(account)
        if borrower is None:
            return None
        installments = self.oracle.installments(borrower)
        return installments[number - 1] if 1 <= number <= len(installments) else None

    def subject(self, borrower: str) -> str:
        return mask_id_number(self.oracle.borrowers[borrower].id_number)

    @functools.cached_property
    def borrower_by_phone(self) -> dict[str, str]:
        digits = "".join
        return {digits(ch for ch in b.phone if ch.isdigit()): b.id
                for b in self.oracle.borrowers.values()}

    # -- words --------------------------------------------------------------------------------
    def iso(self, instant: datetime | None) -> str:
        """An instant in the jurisdiction's local time ("" for none)."""
        return "" if instant is None else instant.astimezone(self.oracle.tz).isoformat()

    def instants(self, inst: TrueInstallment, **more: datetime | None) -> dict[str, str]:
        """An installment's due end and payment instant, and ``more``, in local time."""
        found = {"due_end": self.iso(inst.due_end), "paid_at": self.iso(inst.settled_at)}
        found.update({name: self.iso(at) for name, at in more.items()})
        return found

    def why_unpaid(self, inst: TrueInstallment, acted_at: datetime) -> tuple[str, list[str]]:
        """Why the bank thought an installment truly paid on time was unpaid at ``acted_at``.

        Returns the cause and the repayments behind it: the borrower's repayments
        taken before the due end that the bank had not received by then (lost,
        still in transit, or arrived later), or, when it had them all, that it
        judged their lateness wrongly.
        """
        counted = [p for p in self.oracle.payments.values()
                   if p.borrower == inst.borrower and p.value_time < inst.due_end
                   and p.payment_id not in self.returned]
        missing = [p for p in counted
                   if p.payment_id not in self.first_seen
                   or self.first_seen[p.payment_id] > acted_at]
        if not missing:
            return ("the bank had every repayment by then and still judged it unpaid "
                    "(lateness judged by the wrong clock, calendar or tolerance)",
                    [p.payment_id for p in counted])
        lost = [p for p in missing if p.payment_id not in self.first_seen
                and p.payment_id not in self.platform_pending]
        if lost:
            return (f"repayment {lost[0].payment_id} taken at {self.iso(lost[0].value_time)} "
                    "never reached the bank (lost)", [p.payment_id for p in lost])
        late = missing[0]
        arrived = self.first_seen.get(late.payment_id)
        where = f"reached the bank only at {self.iso(arrived)}" if arrived else \
            "was still in transit at the end"
        return (f"repayment {late.payment_id} taken at {self.iso(late.value_time)} {where}, "
                "after the bank acted", [p.payment_id for p in missing])


def payments_by_loan(payments: Iterable[Payment]) -> dict[str, list[Payment]]:
    """Payments grouped by the loan they were for, each group in value-time order."""
    grouped: dict[str, list[Payment]] = {}
    for payment in sorted(payments, key=lambda p: (p.value_time, p.payment_id)):
        grouped.setdefault(payment.loan_id, []).append(payment)
    return grouped
