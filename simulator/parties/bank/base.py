"""What every part of the bank shares: its settings, caches, due dates and penalty rule."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, timedelta, tzinfo
from decimal import Decimal
from typing import NamedTuple

from simulator.core.amortization import late_penalty
from simulator.core.calendars import add_months, local_midnight
from simulator.core.instants import from_us, to_us
from simulator.parties.bank.schema import SCHEMA, SELECT_INSTALLMENTS, OpenInstallment
from simulator.parties.base import Env, Party
from simulator.parties.outbox import Outbox
from simulator.scenarios.model import PENALTY_FACTOR, BankPolicy

__all__ = ["ACT_DELAY", "BankBase", "LoanTerms", "penalty_interest"]

#: how long after classifying the day-end batch acts (real-time postings get 409 meanwhile)
ACT_DELAY = timedelta(minutes=2)
def penalty_interest(principal: int, rate: Decimal, days: int) -> int:
    """The bank's penalty interest on ``principal`` for ``days`` days late (the contract's
    rule, :func:`~simulator.core.amortization.late_penalty`)."""
    return late_penalty(principal, rate, days, PENALTY_FACTOR)


class LoanTerms(NamedTuple):
    """What the bank needs of a loan's contract while posting: its rate and tolerance."""

    rate: Decimal
    tolerance: int  # minor units


class BankBase(Party):
    """The bank's state and the helpers its ledger, batch and disputes share."""

    name = "bank"
    SCHEMA = SCHEMA

    def __init__(self, env: Env, policy: BankPolicy, first_business_date: date) -> None:
        super().__init__(env)
        self.policy = policy
        self._first_business_date = first_business_date
        self._tz = env.clock.tz
        self._threshold = env.jurisdiction.report_threshold_dpd
        self._cob_running = False
        self.outbox = Outbox(self)
        self._postings = 0  # how many postings exist: ids are PST00000001, …
        self._counter_payments = 0
        self._due_cache: dict[tuple[date, int, int, str], tuple[date, int, int]] = {}
        self._terms: dict[str, LoanTerms] = {}  # loan terms never change: cached
        # caches of what the database says, dropped in a crash and rebuilt on demand
        self._latest_effective: dict[str, int] = {}  # loan -> latest posting's effective time
        self._in_transit_rows: int | None = None

    def _due(self, disbursed: date, number: int, grace_days: int,
             holiday_shift: str) -> tuple[date, int, int]:
        """The bank's own due date, last grace day (ordinal) and due end (µs)."""
        key = (disbursed, number, grace_days, holiday_shift)
        cached = self._due_cache.get(key)
        if cached is not None:
            return cached
        due_date = add_months(disbursed, number)
        if holiday_shift == "next_working_day" and not self.defect("ignores_holiday_shift"):
            due_date = self.env.jurisdiction.next_working_day(due_date)
        grace_end = due_date + timedelta(days=grace_days)
        due_end = local_midnight(grace_end + timedelta(days=1), self._cutoff_zone())
        result = self._due_cache[key] = (due_date, grace_end.toordinal(), to_us(due_end))
        return result

    def _cutoff_zone(self) -> tzinfo:
        """The zone whose midnights end the bank's days (UTC under ``bank.utc_cutoff``)."""
        return UTC if self.defect("utc_cutoff") else self._tz

    def _threshold_us(self, grace_end: int) -> int:
        """When an unpaid installment (its last grace day an ordinal) reaches the
        jurisdiction's reporting threshold: the midnight that begins its threshold-th day
        past due (its due end, where reporting starts at 1 day past due)."""
        day = date.fromordinal(grace_end + self._threshold)
        return to_us(local_midnight(day, self._cutoff_zone()))

    def _loan_terms(self, loan_id: str) -> LoanTerms | None:
        """The rate and arrears tolerance a loan was booked with (None: no such loan)."""
        terms = self._terms.get(loan_id)
        if terms is None:
            row = self.db.execute("SELECT annual_rate, tolerance FROM loans WHERE loan_id = ?",
                                  (loan_id,)).fetchone()
            if row is None:
                return None
            tolerance = 0 if self.defect("no_tolerance") else int(row[1])
            terms = self._terms[loan_id] = LoanTerms(Decimal(row[0]), tolerance)
        return terms

    def _installments(self, loan_id: str) -> list[OpenInstallment]:
        """Every installment of a loan, oldest first."""
        return [OpenInstallment(row) for row in self.db.execute(
            SELECT_INSTALLMENTS + " WHERE loan_id = ? ORDER BY number", (loan_id,))]

    def _open_installments(self, loan_id: str,
                           read: list[OpenInstallment]) -> Iterator[OpenInstallment]:
        """Installments still owing anything, oldest first, read a few at a time (most
        repayments touch one); each one read is also appended to ``read``."""
        after = 0
        while True:
            rows = self.db.execute(
                SELECT_INSTALLMENTS + " WHERE loan_id = ? AND number > ? AND (settled_us IS NULL"
                " OR paid < principal + interest OR penalty_paid < penalty_charged)"
                " ORDER BY number LIMIT 2", (loan_id, after)).fetchall()
            for row in rows:
                inst = OpenInstallment(row)
                read.append(inst)
                yield inst
            if len(rows) < 2:
                return
            after = rows[-1][0]

    def _penalty(self, inst: OpenInstallment, rate: Decimal, effective_us: int) -> int:
        """Penalty interest owed on an installment settled (or paid) at ``effective_us``."""
        if effective_us < inst.due_end_us:
            return 0
        local_day = from_us(effective_us).astimezone(self._tz).date().toordinal()
        days = max(local_day - inst.grace_end, 1)
        return penalty_interest(inst.principal, rate, days)

    def _covered(self, loan_id: str, number: int, due_end_us: int) -> bool:
        """Do repayments known to be in transit, on time, cover this installment?"""
        (available,) = self.db.execute(
            "SELECT coalesce(sum(amount), 0) FROM in_transit WHERE loan_id = ? AND value_us < ?",
            (loan_id, due_end_us)).fetchone()
        if not available:
            return False
        (required,) = self.db.execute(
            "SELECT coalesce(sum(principal + interest - paid), 0) FROM installments"
            " WHERE loan_id = ? AND number <= ?", (loan_id, number)).fetchone()
        terms = self._loan_terms(loan_id)
        return terms is not None and required - available <= terms.tolerance

    def _forget_in_transit(self, payment_ids: list[str]) -> None:
        """Posted or refunded: these repayments are no longer in transit (in a transaction)."""
        if not payment_ids:
            return
        if self._in_transit_rows is None:
            (self._in_transit_rows,) = self.db.execute(
                "SELECT count(*) FROM in_transit").fetchone()
        if self._in_transit_rows:
            for payment_id in payment_ids:
                self._in_transit_rows -= self.db.execute(
                    "DELETE FROM in_transit WHERE payment_id = ?", (payment_id,)).rowcount

    def _subject(self, loan_id: str) -> str:
        return str(self.db.execute("SELECT subject_id FROM loans WHERE loan_id = ?",
                                   (loan_id,)).fetchone()[0])
