"""The oracle: independent ground truth of what borrowers did and what they owed.

It knows the loan contracts (from the scenario) and the borrowers' money
movements (from the payment network, never from a party's own claim), and
computes from them alone each installment's due date, due end, amount, and
whether and when it was truly paid. It imports no party code: a defect
planted in the bank can never corrupt the truth. Only calendar arithmetic
and the amortisation schedule are shared, and those are tested against
``chinesecalendar``, ``holidays`` and ``numpy-financial``.

Contract terms the oracle applies, exactly as a loan agreement states them:

* installment *k* is due on the same day-of-month *k* months after
  disbursement (clamped to month end), moved to the next working day when
  ``holiday_shift`` says so; it is late from local midnight after its due date
  plus ``grace_days``;
* money is allocated oldest installment first, penalty interest before the
  installment itself; an installment is paid when what remains of it is at
  most ``arrears_tolerance``;
* penalty interest on a late installment is its principal × annual rate × 1.5
  / 360 per local day late (at least one), rounded half-up to the minor unit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from simulator.core.amortization import round_minor, schedule
from simulator.core.calendars import Jurisdiction, add_months, local_midnight, period_of
from simulator.scenarios.model import BankPolicy, Borrower

__all__ = ["Oracle", "Payment", "TrueInstallment"]

_PENALTY_FACTOR = Decimal("1.5")


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
    """Money that truly left a borrower: ``value_time`` is when it was captured."""

    payment_id: str
    borrower: str
    loan_id: str
    amount: int
    value_time: datetime


class _Account:
    __slots__ = ("installments", "rate")

    def __init__(self, installments: list[TrueInstallment], rate: Decimal) -> None:
        self.installments = installments
        self.rate = rate


class Oracle:
    """Truth for one world."""

    def __init__(self, borrowers: tuple[Borrower, ...], policy: BankPolicy,
                 jurisdiction: Jurisdiction) -> None:
        self.jurisdiction = jurisdiction
        self.policy = policy
        self.tz = jurisdiction.tz
        self.payments: dict[str, Payment] = {}
        self.refunds: dict[str, int] = {}
        self.borrowers = {b.id: b for b in borrowers}
        self._accounts: dict[str, _Account] = {}
        self._loans: dict[str, str] = {}  # borrower -> loan id at the bank
        self._owners: dict[str, str] = {}  # loan id -> borrower
        # Many loans share a disbursement date: share their (immutable) dates too.
        dates: dict[tuple[date, int], tuple[date, date, datetime, str]] = {}
        for borrower in borrowers:
            terms = borrower.loan
            rows = schedule(terms.principal, terms.annual_rate, terms.months, terms.method)
            installments = []
            for row in rows:
                known = dates.get((terms.disbursed, row.number))
                if known is None:
                    due_date = add_months(terms.disbursed, row.number)
                    if policy.holiday_shift == "next_working_day":
                        due_date = jurisdiction.next_working_day(due_date)
                    grace_end = due_date + timedelta(days=policy.grace_days)
                    known = dates[(terms.disbursed, row.number)] = (
                        due_date, grace_end,
                        local_midnight(grace_end + timedelta(days=1), self.tz),
                        period_of(due_date))
                due_date, grace_end, due_end, period = known
                installments.append(TrueInstallment(
                    borrower=borrower.id, number=row.number, due_date=due_date,
                    grace_end=grace_end, due_end=due_end, principal=row.principal,
                    amount=row.amount, period=period))
            self._accounts[borrower.id] = _Account(installments, terms.annual_rate)

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
    def capture(self, borrower: str, loan_id: str, amount: int, at: datetime,
                payment_id: str) -> None:
        """Money left the borrower at ``at``: allocate it as the contract says."""
        self.payments[payment_id] = Payment(payment_id, borrower, loan_id, amount, at)
        self._allocate(self._accounts[borrower], amount, at, payment_id)

    def refund(self, payment_id: str, amount: int, at: datetime) -> None:
        """Money went back to the borrower; the payment is undone."""
        self.refunds[payment_id] = self.refunds.get(payment_id, 0) + amount
        payment = self.payments[payment_id]
        self._reallocate(payment.borrower)

    def _reallocate(self, borrower: str) -> None:
        account = self._accounts[borrower]
        for inst in account.installments:
            inst.paid = inst.penalty_paid = 0
            inst.penalty_frozen = None
            inst.settled_at = None
            inst.settled_by = ()
        for payment in self.payments.values():
            if payment.borrower == borrower:
                kept = payment.amount - self.refunds.get(payment.payment_id, 0)
                if kept > 0:
                    self._allocate(account, kept, payment.value_time, payment.payment_id)

    def _penalty(self, inst: TrueInstallment, rate: Decimal, at: datetime) -> int:
        if at < inst.due_end:
            return 0
        days = max((at.astimezone(self.tz).date() - inst.grace_end).days, 1)
        return round_minor(inst.principal * rate * _PENALTY_FACTOR * days / 360)

    def _allocate(self, account: _Account, amount: int, at: datetime, payment_id: str) -> None:
        remaining = amount
        tolerance = self.policy.arrears_tolerance
        for inst in account.installments:
            if remaining <= 0:
                break
            penalty = inst.penalty_frozen if inst.penalty_frozen is not None else \
                self._penalty(inst, account.rate, at)
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

    # -- questions ----------------------------------------------------------------------
    def installments(self, borrower: str) -> list[TrueInstallment]:
        return self._accounts[borrower].installments

    def installment(self, borrower: str, number: int) -> TrueInstallment:
        return self._accounts[borrower].installments[number - 1]

    def amount_due(self, borrower: str, number: int, at: datetime) -> int:
        """What the borrower must pay at ``at`` to settle installments 1..``number``."""
        account = self._accounts[borrower]
        total = 0
        for inst in account.installments[:number]:
            penalty = inst.penalty_frozen if inst.penalty_frozen is not None else \
                self._penalty(inst, account.rate, at)
            total += max(inst.amount - inst.paid, 0) + max(penalty - inst.penalty_paid, 0)
        return total

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

    def days_past_due(self, inst: TrueInstallment, as_of: datetime) -> int:
        end = inst.settled_at if inst.settled_at is not None and inst.settled_at < as_of \
            else as_of
        if end < inst.due_end:
            return 0
        return max((end.astimezone(self.tz).date() - inst.grace_end).days, 1)

    def accepted_total(self) -> int:
        return sum(p.amount for p in self.payments.values())
