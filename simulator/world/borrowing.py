"""What each borrower believes they owe: the schedule they signed, what they paid, what came
back. It decides how much a ``repay`` step (or a payment habit) pays.

A borrower does their own sums, as people do: the scheduled amount of each installment,
plus the contract's penalty interest on one that is late, minus what they already paid
toward it (oldest installment first, penalty before the installment). It never asks the
oracle — a borrower who paid what the oracle expects would hide a mistake in the oracle —
nor a party (the bank may be unreachable, or wrong).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from simulator.checks.oracle import GivenBack, Payment
from simulator.core.amortization import late_penalty, schedule
from simulator.core.calendars import Jurisdiction, add_months, local_midnight
from simulator.scenarios.model import PENALTY_FACTOR, Borrower, ContractTerms

__all__ = ["BorrowerLedgers"]


class _Owed:
    """One installment as its borrower sees it."""

    __slots__ = ("amount", "due_date", "due_end", "grace_end", "paid", "penalty", "principal")

    def __init__(self, principal: int, amount: int, due_date: date, grace_end: date,
                 due_end: datetime) -> None:
        self.principal = principal
        self.amount = amount
        self.due_date = due_date
        self.grace_end = grace_end
        self.due_end = due_end
        self.paid = 0  # toward penalty and installment together
        self.penalty: int | None = None  # fixed when the borrower finished paying it


class BorrowerLedgers:
    """Every borrower's own bookkeeping, fed by the payment network."""

    def __init__(self, borrowers: tuple[Borrower, ...], terms: ContractTerms,
                 jurisdiction: Jurisdiction) -> None:
        self._borrowers = {b.id: b for b in borrowers}
        self._terms = terms
        self._jurisdiction = jurisdiction
        self._ledgers: dict[str, list[_Owed]] = {}
        self._payments: dict[str, list[tuple[datetime, int, str]]] = {}
        self._owner: dict[str, str] = {}  # payment id -> borrower

    def _ledger(self, borrower: str) -> list[_Owed]:
        ledger = self._ledgers.get(borrower)
        if ledger is None:
            loan = self._borrowers[borrower].loan
            tz = self._jurisdiction.tz
            ledger = []
            for row in schedule(loan.principal, loan.annual_rate, loan.months, loan.method):
                due = add_months(loan.disbursed, row.number)
                if self._terms.holiday_shift == "next_working_day":
                    due = self._jurisdiction.next_working_day(due)
                grace_end = due + timedelta(days=self._terms.grace_days)
                ledger.append(_Owed(row.principal, row.amount, due, grace_end,
                                    local_midnight(grace_end + timedelta(days=1), tz)))
            self._ledgers[borrower] = ledger
        return ledger

    def _penalty(self, borrower: str, owed: _Owed, at: datetime) -> int:
        if owed.penalty is not None:
            return owed.penalty
        if at < owed.due_end:
            return 0
        days = max((at.astimezone(self._jurisdiction.tz).date() - owed.grace_end).days, 1)
        rate = self._borrowers[borrower].loan.annual_rate
        return late_penalty(owed.principal, rate, days, PENALTY_FACTOR)

    def _apply(self, borrower: str, amount: int, at: datetime) -> None:
        for owed in self._ledger(borrower):
            if amount <= 0:
                return
            total = owed.amount + self._penalty(borrower, owed, at)
            share = min(max(total - owed.paid, 0), amount)
            owed.paid += share
            amount -= share
            if owed.penalty is None and owed.paid >= total:
                owed.penalty = total - owed.amount

    def heard(self, movement: Payment | GivenBack) -> None:
        """The payment network moved money: a payment made, or money given back."""
        if isinstance(movement, Payment):
            if movement.borrower not in self._borrowers:
                return
            self._owner[movement.payment_id] = movement.borrower
            self._payments.setdefault(movement.borrower, []).append(
                (movement.value_time, movement.amount, movement.payment_id))
            self._apply(movement.borrower, movement.amount, movement.value_time)
            return
        borrower = self._owner.get(movement.payment_id)
        if borrower is None:
            return
        # money came back: the borrower redoes their sums without it
        payments = self._payments[borrower]
        payments[:] = [(at, amount - movement.amount if pid == movement.payment_id else amount,
                        pid) for at, amount, pid in payments]
        self._ledgers.pop(borrower, None)
        for at, amount, _pid in sorted(payments):
            if amount > 0:
                self._apply(borrower, amount, at)

    def due_through(self, borrower: str, number: int, at: datetime) -> int:
        """What ``borrower`` must pay at ``at`` to clear installments 1..``number``."""
        total = 0
        for owed in self._ledger(borrower)[:number]:
            total += max(owed.amount + self._penalty(borrower, owed, at) - owed.paid, 0)
        return total

    def due_date(self, borrower: str, number: int) -> date:
        """The date ``borrower`` believes installment ``number`` falls due."""
        return self._ledger(borrower)[number - 1].due_date
