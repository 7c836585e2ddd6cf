"""The oracle: independent ground truth of what borrowers did and what they owed.

It knows the loan contracts (the scenario's loans and :class:`ContractTerms`) and
the borrowers' money movements, which the world's payment network reports (what
left a borrower and when, what truly came back), never a party's own account.
From these alone it computes each installment's due date, due end, amount, and
whether and when it was truly paid. It imports no party code: a defect planted
in the bank can never corrupt the truth. Calendar arithmetic and the
amortisation schedule are shared utilities, tested against ``chinesecalendar``,
``holidays`` and ``numpy-financial``; penalty interest is computed here
independently of the bank (exact daily accrual) and the two are cross-checked.

Contract terms the oracle applies, exactly as a loan agreement states them:

* installment *k* is due on the same day-of-month *k* months after
  disbursement (clamped to month end), moved to the next working day when
  ``holiday_shift`` says so; it is late from local midnight after its due date
  plus ``grace_days``;
* money is allocated oldest installment first, penalty interest before the
  installment itself; an installment is paid when what remains of it is at
  most ``arrears_tolerance``;
* penalty interest on a late installment is its principal × annual rate ×
  :data:`~simulator.scenarios.model.PENALTY_FACTOR` / 360 per local day late
  (at least one), rounded half-up to the minor unit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from simulator.core.amortization import schedule
from simulator.core.calendars import Jurisdiction, add_months, local_midnight, period_of
from simulator.scenarios.model import PENALTY_FACTOR, Borrower, ContractTerms

__all__ = ["GivenBack", "Oracle", "Payment", "TrueInstallment"]

_DAILY = Fraction(PENALTY_FACTOR) / 360


@dataclass(slots=True)
class TrueInstallment:
    """What the contract says of one installment, and what truly happened to it."""

    borrower: str
    number: int
    due_date: date
    grace_end: date
    due_end: datetime
    principal: int
    amount: int
    period: str
    paid: int = 0
    penalty_paid: int = 0
    penalty_frozen: int | None = None
    settled_at: datetime | None = None
    settled_by: tuple[str, ...] = ()

    @property
    def paid_on_time(self) -> bool:
        return self.settled_at is not None and self.settled_at < self.due_end

    def days_late(self, tz_local_date: date) -> int:
        """Days past due as of a local date (0 when not yet late)."""
        return max((tz_local_date - self.grace_end).days, 0)


@dataclass(frozen=True, slots=True)
class Payment:
    """Money that truly left a borrower: ``value_time`` is when it was taken.

    ``payment_id`` is the id the party that took the money answered (the platform's
    payment id, or the bank's for a payment at its counter): postings are matched to
    payments by it. ``reference`` is the payment network's own.
    """

    payment_id: str
    borrower: str
    loan_id: str
    amount: int
    value_time: datetime
    reference: str = ""
    via: str = "platform"


@dataclass(frozen=True, slots=True)
class GivenBack:
    """Money a party truly gave back to a borrower (a refund, a surplus)."""

    payment_id: str
    amount: int
    by: str
    at: datetime
    known: bool  # the payment id names money a borrower of this world paid


class _Account:
    __slots__ = ("installments", "rate")

    def __init__(self, installments: list[TrueInstallment], rate: Decimal) -> None:
        self.installments = installments
        self.rate = rate


class Oracle:
    """Truth for one world."""

    def __init__(self, borrowers: tuple[Borrower, ...], terms: ContractTerms,
                 jurisdiction: Jurisdiction) -> None:
        self.jurisdiction = jurisdiction
        self.terms = terms
        self.tz = jurisdiction.tz
        self.payments: dict[str, Payment] = {}
        #: money truly given back to the borrower, by payment id
        self.refunds: dict[str, int] = {}
        self.borrowers = {b.id: b for b in borrowers}
        self._accounts: dict[str, _Account] = {}
        self._loans: dict[str, str] = {}  # borrower -> loan id at the bank
        self._owners: dict[str, str] = {}  # loan id -> borrower
        self._rates = {b.id: b.loan.annual_rate for b in borrowers}
        # Many loans share a disbursement date: share their (immutable) dates too.
        dates: dict[tuple[date, int], tuple[date, date, datetime, str]] = {}
        for borrower in borrowers:
            loan = borrower.loan
            rows = schedule(loan.principal, loan.annual_rate, loan.months, loan.method)
            installments = []
            for row in rows:
                known = dates.get((loan.disbursed, row.number))
                if known is None:
                    due_date = add_months(loan.disbursed, row.number)
                    if terms.holiday_shift == "next_working_day":
                        due_date = jurisdiction.next_working_day(due_date)
                    grace_end = due_date + timedelta(days=terms.grace_days)
                    known = dates[(loan.disbursed, row.number)] = (
                        due_date, grace_end,
                        local_midnight(grace_end + timedelta(days=1), self.tz),
                        period_of(due_date))
                due_date, grace_end, due_end, period = known
                installments.append(TrueInstallment(
                    borrower=borrower.id, number=row.number, due_date=due_date,
                    grace_end=grace_end, due_end=due_end, principal=row.principal,
                    amount=row.amount, period=period))
            self._accounts[borrower.id] = _Account(installments, loan.annual_rate)

    # -- accounts -----------------------------------------------------------------------
    def open_account(self, borrower: str, loan_id: str) -> None:
        """The bank booked ``borrower``'s loan under ``loan_id`` (its answer names it)."""
        if borrower not in self.borrowers:
            raise KeyError(f"no borrower {borrower!r} in this world")
        self._loans[borrower] = loan_id
        self._owners[loan_id] = borrower

    def loan_of(self, borrower: str) -> str:
        """The bank's loan id of ``borrower``'s loan."""
        return self._loans[borrower]

    def borrower_of(self, account: str) -> str | None:
        """Whose loan the bank booked as ``account`` (None: no loan of this world)."""
        return self._owners.get(account)

    # -- what the payment network reports ---------------------------------------------
    def capture(self, payment: Payment) -> None:
        """Money left the borrower: allocate it as the contract says."""
        self.payments[payment.payment_id] = payment
        self._allocate(self._accounts[payment.borrower], payment.amount, payment.value_time,
                       payment.payment_id)

    def refund(self, payment_id: str, amount: int) -> None:
        """``amount`` of a payment truly went back to the borrower; what is kept stays paid."""
        self.refunds[payment_id] = self.refunds.get(payment_id, 0) + amount
        payment = self.payments.get(payment_id)
        if payment is not None:
            self._reallocate(payment.borrower)

    def _reallocate(self, borrower: str) -> None:
        account = self._accounts[borrower]
        for inst in account.installments:
            inst.paid = inst.penalty_paid = 0
            inst.penalty_frozen = None
            inst.settled_at = None
            inst.settled_by = ()
        for payment in sorted(self.payments.values(), key=lambda p: (p.value_time,
                                                                    p.payment_id)):
            if payment.borrower == borrower:
                kept = payment.amount - self.refunds.get(payment.payment_id, 0)
                if kept > 0:
                    self._allocate(account, kept, payment.value_time, payment.payment_id)

    def penalty(self, inst: TrueInstallment, at: datetime) -> int:
        """Penalty interest owed on ``inst`` if it is settled at ``at``: the contract's
        daily rate accrued exactly for each local day late, rounded half-up once."""
        if at < inst.due_end:
            return 0
        days = max((at.astimezone(self.tz).date() - inst.grace_end).days, 1)
        accrued = Fraction(inst.principal) * Fraction(self._rates[inst.borrower]) * _DAILY * days
        return math.floor(accrued + Fraction(1, 2))

    def _allocate(self, account: _Account, amount: int, at: datetime, payment_id: str) -> int:
        """Allocate ``amount`` paid at ``at``; returns what nothing was owed for."""
        remaining = amount
        tolerance = self.terms.arrears_tolerance
        for inst in account.installments:
            if remaining <= 0:
                break
            penalty = inst.penalty_frozen if inst.penalty_frozen is not None else \
                self.penalty(inst, at)
            if inst.paid >= inst.amount and inst.penalty_paid >= penalty:
                continue
            to_penalty = min(max(penalty - inst.penalty_paid, 0), remaining)
            remaining -= to_penalty
            to_installment = min(inst.amount - inst.paid, remaining)
            remaining -= to_installment
            inst.paid += to_installment
            inst.penalty_paid += to_penalty
            if to_penalty or to_installment:
                inst.settled_by += (payment_id,)
            if inst.settled_at is None and \
                    inst.amount - inst.paid + penalty - inst.penalty_paid <= tolerance:
                inst.settled_at = at
                inst.penalty_frozen = penalty
        return remaining

    # -- questions ----------------------------------------------------------------------
    def installments(self, borrower: str) -> list[TrueInstallment]:
        return self._accounts[borrower].installments

    def installment(self, borrower: str, number: int) -> TrueInstallment:
        return self._accounts[borrower].installments[number - 1]

    def surplus(self, payment_id: str) -> int:
        """What a payment paid beyond everything its loan owed when it was made, had every
        payment been kept: the only part of it that may rightly be given back."""
        payment = self.payments[payment_id]
        fresh = Oracle((self.borrowers[payment.borrower],), self.terms, self.jurisdiction)
        account = fresh._accounts[payment.borrower]
        left = 0
        for other in sorted(self.payments.values(), key=lambda p: (p.value_time,
                                                                  p.payment_id)):
            if other.borrower != payment.borrower:
                continue
            remaining = fresh._allocate(account, other.amount, other.value_time,
                                        other.payment_id)
            if other.payment_id == payment_id:
                left = remaining
        return left

    def threshold_instant(self, inst: TrueInstallment) -> datetime:
        """When an unpaid installment reaches the jurisdiction's reporting threshold."""
        days = self.jurisdiction.report_threshold_dpd
        return local_midnight(inst.grace_end + timedelta(days=days), self.tz)

    def truly_delinquent(self, inst: TrueInstallment, as_of: datetime) -> bool:
        """Did the installment stay unpaid past the reporting threshold (by ``as_of``)?"""
        threshold = self.threshold_instant(inst)
        if threshold > as_of:
            return False
        return inst.settled_at is None or inst.settled_at >= threshold

    def overdue_at(self, inst: TrueInstallment, at: datetime) -> bool:
        """Was the installment past its due end and still unpaid at ``at``?"""
        return inst.due_end <= at and (inst.settled_at is None or inst.settled_at > at)

    def days_past_due(self, inst: TrueInstallment, as_of: datetime) -> int:
        """Days past due at ``as_of`` (counting stops when it was settled; 0 if not late)."""
        end = inst.settled_at if inst.settled_at is not None and inst.settled_at < as_of \
            else as_of
        if end < inst.due_end:
            return 0
        return max((end.astimezone(self.tz).date() - inst.grace_end).days, 1)

    def accepted_total(self) -> int:
        return sum(p.amount for p in self.payments.values())
