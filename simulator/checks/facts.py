"""What the invariants may read of a finished run, and how a violation carries its evidence.

:class:`Facts` gathers the journal, the oracle and the parties' final state once;
large final state (postings, bureau records) is streamed from the parties' disks as
it is iterated, so the checks run in constant memory.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import groupby
from operator import attrgetter
from typing import Any, Generic, NamedTuple, TypeVar

from simulator.checks.oracle import Oracle, Payment, TrueInstallment
from simulator.core.privacy import mask_id_number
from simulator.engine.journal import Entry, Journal

__all__ = ["BureauRecord", "Facts", "Named", "Posting", "Violation", "paid_instants", "truth_of"]

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
    """One posting at the bank, as the checks read it."""

    posting_id: str
    payment_id: str
    amount: int
    applied: int
    refunded: int
    received: datetime


class BureauRecord(NamedTuple):
    """One record in a credit file, as the checks read it."""

    subject_id: str
    account: str
    installment: int
    period: str
    status: str
    days_past_due: int


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
    recon_max_wait: timedelta
    #: bank postings in payment-id order; any re-iterable (a big run's are read from the
    #: bank as they are walked, never held)
    postings: Iterable[Posting]
    #: payments the platform still holds for forwarding: payment_id -> amount
    platform_pending: dict[str, int]
    #: the bureau's records in account and period order; any re-iterable
    bureau_records: Iterable[BureauRecord]
    _by_kind: dict[str, list[Entry]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.postings, list):
            self.postings = sorted((Posting(*p) for p in self.postings),
                                   key=lambda p: (p.payment_id, p.posting_id))
        if isinstance(self.bureau_records, list):
            self.bureau_records = sorted((BureauRecord(*r) for r in self.bureau_records),
                                         key=lambda r: (r.account, r.period, r.installment))

    def per_payment(self) -> Iterator[tuple[str, Payment | None, list[Posting]]]:
        """Every payment id the oracle or the bank knows, in id order, with its postings."""
        payments = self.oracle.payments
        groups = groupby(self.postings, key=attrgetter("payment_id"))
        pending = next(groups, None)
        for payment_id in sorted(payments):
            while pending is not None and pending[0] < payment_id:
                yield pending[0], None, list(pending[1])  # posted, but nobody paid it
                pending = next(groups, None)
            if pending is not None and pending[0] == payment_id:
                yield payment_id, payments[payment_id], list(pending[1])
                pending = next(groups, None)
            else:
                yield payment_id, payments[payment_id], []
        while pending is not None:
            yield pending[0], None, list(pending[1])
            pending = next(groups, None)

    def entries(self, kind: str) -> list[Entry]:
        if kind not in self._by_kind:
            self._by_kind[kind] = list(self.journal.entries([kind]))
        return self._by_kind[kind]

    @functools.cached_property
    def first_posted(self) -> dict[str, datetime]:
        """When each payment first reached the bank."""
        first: dict[str, datetime] = {}
        for posting in self.postings:
            if posting.payment_id not in first or posting.received < first[posting.payment_id]:
                first[posting.payment_id] = posting.received
        return first

    def why_unpaid(self, inst: TrueInstallment, acted_at: datetime) -> tuple[str, list[str]]:
        """Why the bank thought an installment truly paid on time was unpaid at ``acted_at``.

        Returns the cause and the repayments behind it: the borrower's repayments
        captured before the due end that the bank had not received by then (lost,
        still in transit, or arrived later), or, when it had them all, that it
        judged their lateness wrongly.
        """
        counted = [p for p in self.oracle.payments.values()
                   if p.borrower == inst.borrower and p.value_time < inst.due_end
                   and p.payment_id not in self.oracle.refunds]
        missing = [p for p in counted
                   if p.payment_id not in self.first_posted
                   or self.first_posted[p.payment_id] > acted_at]
        if not missing:
            return ("the bank had every repayment by then and still judged it unpaid "
                    "(lateness judged by the wrong clock, calendar or tolerance)",
                    [p.payment_id for p in counted])
        lost = [p for p in missing if p.payment_id not in self.first_posted
                and p.payment_id not in self.platform_pending]
        if lost:
            return (f"repayment {lost[0].payment_id} captured at {self.iso(lost[0].value_time)} "
                    "never reached the bank (lost)", [p.payment_id for p in lost])
        late = missing[0]
        arrived = self.first_posted.get(late.payment_id)
        where = f"reached the bank only at {self.iso(arrived)}" if arrived else \
            "was still in transit at the end"
        return (f"repayment {late.payment_id} captured at {self.iso(late.value_time)} {where}, "
                "after the bank acted", [p.payment_id for p in missing])

    def batches_between(self, start: datetime, end: datetime, most: int = 3) -> list[int]:
        """The bank's day-end actions in a window: what it did instead of reporting."""
        return [e.seq for e in self.entries("bank.batch_acted") if start <= e.at <= end][:most]

    def iso(self, instant: datetime | None) -> str:
        """An instant in the jurisdiction's local time ("" for none)."""
        return "" if instant is None else instant.astimezone(self.oracle.tz).isoformat()

    def borrower_of(self, account: str) -> str | None:
        return self.oracle.borrower_of(account)

    def subject(self, borrower: str) -> str:
        return mask_id_number(self.oracle.borrowers[borrower].id_number)

    def payment_seqs(self, payment_ids: Iterable[str]) -> list[int]:
        """Journal entries where these payments were captured or posted."""
        return self.journal.about(payment_ids, ("platform.captured", "bank.posted"))


def truth_of(facts: Facts, account: str, number: int) -> TrueInstallment | None:
    borrower = facts.borrower_of(account)
    if borrower is None:
        return None
    installments = facts.oracle.installments(borrower)
    return installments[number - 1] if 1 <= number <= len(installments) else None


def paid_instants(facts: Facts, inst: TrueInstallment) -> dict[str, str]:
    return {"due_end": facts.iso(inst.due_end), "paid_at": facts.iso(inst.settled_at)}
