"""What every part of the bank shares: its settings, caches, due dates and penalty rule."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, timedelta
from decimal import Decimal

from simulator.core.amortization import round_minor
from simulator.core.calendars import add_months, local_midnight
from simulator.core.instants import from_us, to_us
from simulator.parties.bank.schema import SCHEMA, SELECT_INSTALLMENTS, OpenInstallment
from simulator.parties.base import Env, Party
from simulator.parties.outbox import Outbox
from simulator.scenarios.model import BankPolicy

__all__ = ["ACT_DELAY", "BankBase", "penalty_interest"]

#: how long after classifying the day-end batch acts (real-time postings get 409 meanwhile)
ACT_DELAY = timedelta(minutes=2)
#: penalty interest: the contract rate plus 50%, per day, on the installment's principal
_PENALTY_FACTOR = Decimal("1.5")


def penalty_interest(principal: int, rate: Decimal, days: int) -> int:
    """The bank's penalty interest on ``principal`` for ``days`` days late."""
    return round_minor(principal * rate * _PENALTY_FACTOR * days / 360)


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
        self._tolerance = 0 if self.defect("no_tolerance") else policy.arrears_tolerance
        self._cob_running = False
        self.outbox = Outbox(self)
        self._postings = 0  # how many postings exist: ids are PST00000001, …
        self._counter_payments = 0
        self._due_cache: dict[tuple[date, int], tuple[date, int, int]] = {}
        self._rates: dict[str, Decimal] = {}  # loan terms never change: cached
        # caches of what the database says, dropped in a crash and rebuilt on demand
        self._latest_effective: dict[str, int] = {}  # loan -> latest posting's effective time
        self._in_transit_rows: int | None = None

    def _due(self, disbursed: date, number: int) -> tuple[date, int, int]:
        """The bank's own due date, last grace day (ordinal) and due end (µs)."""
        cached = self._due_cache.get((disbursed, number))
        if cached is not None:
            return cached
        due_date = add_months(disbursed, number)
        if self.policy.holiday_shift == "next_working_day" and not self.defect(
            "ignores_holiday_shift"
        ):
            due_date = self.env.jurisdiction.next_working_day(due_date)
        grace_end = due_date + timedelta(days=self.policy.grace_days)
        zone = UTC if self.defect("utc_cutoff") else self._tz
        due_end = local_midnight(grace_end + timedelta(days=1), zone)
        result = self._due_cache[(disbursed, number)] = (
            due_date, grace_end.toordinal(), to_us(due_end))
        return result

    def _rate(self, loan_id: str) -> Decimal | None:
        rate = self._rates.get(loan_id)
        if rate is None:
            row = self.db.execute("SELECT annual_rate FROM loans WHERE loan_id = ?",
                                  (loan_id,)).fetchone()
            if row is None:
                return None
            rate = self._rates[loan_id] = Decimal(row[0])
        return rate

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
        return bool(required - available <= self._tolerance)

    def _forget_in_transit(self, payment_ids: list[str]) -> None:
        """Posted or refunded: these repayments are no longer in transit (in a transaction)."""
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
