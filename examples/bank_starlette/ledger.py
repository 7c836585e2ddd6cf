"""The bank's ledger: booking loans and posting repayments by value time, exactly once.

A repayment is posted under the platform's ``Idempotency-Key``: the same key
again answers the original posting, a key reused for another repayment is
refused, and a payment id is posted once whatever the key. Postings are
allocated by **value time** (when the borrower's money was captured), penalty
interest before the installment, oldest installment first; a repayment that
arrives after later ones were posted is slotted in where it belongs, by
re-running the loan's allocation in value-time order. What a repayment pays
beyond everything the loan owes goes back to the borrower.

When an on-time repayment arrives after the day-end batch treated its
installment as overdue, the platform is told it was cleared and, if the bureau
was told "overdue", the bureau gets a correction — as it does when a late
repayment turns out to have been made before the reporting threshold.

``EXAMPLE_BUG=1`` plants the integration bug of the README: the
``Idempotency-Key`` is ignored, so a retried repayment is posted again.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from store import Store, from_us, iso, to_us
from terms import due, penalty, schedule

__all__ = ["Ledger", "Problem"]

CURRENCY = {"CN": "CNY", "US": "USD"}
THRESHOLD = {"CN": 1, "US": 30}  # days past due from which the bureau hears of it
VALUE_TIME_SKEW = timedelta(minutes=5)


class Problem(Exception):
    """An answer with an RFC 9457 problem document."""

    def __init__(self, status: int, title: str, detail: str = "") -> None:
        super().__init__(detail or title)
        self.status, self.title, self.detail = status, title, detail


class _Installment:
    __slots__ = ("due_end_us", "grace_end", "interest", "number", "paid", "penalty",
                 "penalty_paid", "principal", "settled_us")

    def __init__(self, row: tuple[Any, ...]) -> None:
        (self.number, self.principal, self.interest, self.grace_end, self.due_end_us) = row
        self.paid = self.penalty = self.penalty_paid = 0
        self.settled_us: int | None = None


class Ledger:
    """Loans and postings of one bank (fresh at every reset)."""

    def __init__(self, folder: Path, jurisdiction: str, tz: ZoneInfo, clock: datetime) -> None:
        self.jurisdiction = jurisdiction
        self.tz = tz
        self.clock = clock
        self.threshold = THRESHOLD[jurisdiction]
        self.store = Store(folder / "bank.sqlite3")
        self.bug = os.environ.get("EXAMPLE_BUG") == "1"

    def local_date(self, instant: datetime | None = None) -> date:
        return (instant or self.clock).astimezone(self.tz).date()

    # -- booking ---------------------------------------------------------------------------
    def _rows(self, loan: dict[str, Any]) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]]:
        disbursed = date.fromisoformat(loan["disbursed"])
        grace = int(loan.get("grace_days", 0))
        shift = str(loan.get("holiday_shift", "none"))
        loan_row = (loan["loan_id"], loan["borrower"], loan["subject_id"], loan["name"],
                    loan["phone"], loan["principal"], loan["annual_rate"], loan["months"],
                    loan["method"], loan["disbursed"], grace,
                    int(loan.get("arrears_tolerance", 0)), shift)
        rows = []
        parts = schedule(loan["principal"], loan["annual_rate"], loan["months"], loan["method"])
        for number, (part, interest) in enumerate(parts, start=1):
            when = due(disbursed, number, grace, shift, self.jurisdiction, self.tz)
            rows.append((loan["loan_id"], number, when.date.isoformat(),
                         when.date.strftime("%Y-%m"), when.grace_end.toordinal(),
                         to_us(when.end), part, interest))
        return loan_row, rows

    def book(self, loans: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Book loans in one transaction, all or none; each with its schedule."""
        booked = [self._rows(loan) for loan in loans]
        ids = [loan_row[0] for loan_row, _ in booked]
        with self.store.transaction() as db:
            for loan_id in ids:
                if ids.count(loan_id) > 1 or db.execute(
                        "SELECT 1 FROM loans WHERE loan_id = ?", (loan_id,)).fetchone():
                    raise Problem(409, "Loan exists", "a loan of the file is already booked")
            db.executemany("INSERT INTO loans VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                           [loan_row for loan_row, _ in booked])
            db.executemany("INSERT INTO installments (loan_id, number, due_date, period,"
                           " grace_end, due_end_us, principal, interest) VALUES"
                           " (?,?,?,?,?,?,?,?)", [row for _, rows in booked for row in rows])
        return [{"loan_id": loan_row[0], "installments": [
            {"number": r[1], "due_date": r[2], "principal": r[6], "interest": r[7]}
            for r in rows]} for loan_row, rows in booked]

    def get_loan(self, loan_id: str) -> dict[str, Any]:
        loan = self.store.one("SELECT annual_rate FROM loans WHERE loan_id = ?", (loan_id,))
        if loan is None:
            raise Problem(404, "Unknown loan", "no loan with this id")
        today = self.local_date().toordinal()
        outstanding = worst = 0
        installments = []
        for number, principal, interest, paid, charged, penalty_paid, grace_end, settled in \
                self.store.all("SELECT number, principal, interest, paid, penalty,"
                               " penalty_paid, grace_end, settled_us FROM installments"
                               " WHERE loan_id = ? ORDER BY number", (loan_id,)):
            late = max(today - grace_end, 0) if settled is None else 0
            owed_penalty = penalty(principal, loan[0], late) if late else charged
            worst = max(worst, late)
            outstanding += principal + interest - paid + max(owed_penalty - penalty_paid, 0)
            installments.append({
                "number": number, "principal": principal, "interest": interest, "paid": paid,
                "penalty": owed_penalty,
                "status": "paid" if settled is not None else "overdue" if late else "due"})
        return {"loan_id": loan_id, "outstanding": outstanding, "days_past_due": worst,
                "installments": installments}

    # -- posting ---------------------------------------------------------------------------
    def post_repayment(self, body: dict[str, Any], key: str) -> dict[str, Any]:
        payment_id, amount = body["payment_id"], body["amount"]
        if not self.bug:
            first = self.store.one("SELECT posting_id, payment_id, amount FROM postings"
                                   " WHERE idempotency_key = ? ORDER BY posting_id LIMIT 1",
                                   (key,))
            if first is not None:
                if (first[1], first[2]) != (payment_id, amount):
                    raise Problem(422, "Idempotency-Key reused",
                                  "this Idempotency-Key was used for a different repayment")
                return self.posting(first[0])
            posted = self.store.one("SELECT posting_id FROM postings WHERE payment_id = ?",
                                    (payment_id,))
            if posted is not None:
                raise Problem(422, "Payment already posted",
                              f"the payment was already posted as {posted[0]} under another"
                              " Idempotency-Key; it is posted once")
        loan = self.store.one("SELECT disbursed FROM loans WHERE loan_id = ?",
                              (body["loan_id"],))
        if loan is None:
            raise Problem(404, "Unknown loan", "no loan with this id")
        if body.get("currency") != CURRENCY[self.jurisdiction]:
            raise Problem(422, "Currency mismatch",
                          f"the loan is in {CURRENCY[self.jurisdiction]}")
        value_time = datetime.fromisoformat(body["value_time"])
        opened = datetime.combine(date.fromisoformat(loan[0]), time(0), tzinfo=self.tz)
        if value_time.tzinfo is None or value_time < opened \
                or value_time > self.clock + VALUE_TIME_SKEW:
            raise Problem(422, "Value time out of range",
                          f"value_time must fall between the loan's disbursement and "
                          f"{(self.clock + VALUE_TIME_SKEW).isoformat()}")
        return self._post(payment_id, body["loan_id"], amount, to_us(value_time), key)

    def pay_at_counter(self, loan_id: str, amount: int) -> dict[str, Any]:
        if self.store.one("SELECT 1 FROM loans WHERE loan_id = ?", (loan_id,)) is None:
            raise Problem(404, "Unknown loan", "no loan with this id")
        (count,) = self.store.one("SELECT count(*) FROM postings WHERE payment_id LIKE 'CTR%'"
                                  ) or (0,)
        return self._post(f"CTR{count + 1:08d}", loan_id, amount, to_us(self.clock), None)

    def _post(self, payment_id: str, loan_id: str, amount: int, value_us: int,
              key: str | None) -> dict[str, Any]:
        with self.store.transaction() as db:
            (count,) = db.execute("SELECT count(*) FROM postings").fetchone()
            posting_id = f"PST{count + 1:08d}"
            db.execute("INSERT INTO postings VALUES (?,?,?,?,?,0,0,?,?)",
                       (posting_id, payment_id, key, loan_id, amount, value_us,
                        to_us(self.clock)))
            db.execute("DELETE FROM in_transit WHERE payment_id = ?", (payment_id,))
            self._allocate(db, loan_id)
        return self.posting(posting_id)

    def _allocate(self, db: Any, loan_id: str) -> None:
        """Allocate every posting of the loan again, in value-time order; record what
        changed: surpluses to give back, installments found paid on time after all."""
        rate, tolerance = db.execute("SELECT annual_rate, tolerance FROM loans"
                                     " WHERE loan_id = ?", (loan_id,)).fetchone()
        installments = [_Installment(row) for row in db.execute(
            "SELECT number, principal, interest, grace_end, due_end_us FROM installments"
            " WHERE loan_id = ? ORDER BY number", (loan_id,))]
        postings = db.execute("SELECT posting_id, payment_id, amount, value_us, refunded"
                              " FROM postings WHERE loan_id = ? ORDER BY value_us, posting_id",
                              (loan_id,)).fetchall()
        for posting_id, payment_id, amount, value_us, refunded_before in postings:
            left = amount
            for inst in installments:
                if left <= 0:
                    break
                owed_penalty = inst.penalty if inst.settled_us is not None else \
                    self._penalty(inst, rate, value_us)
                owed = inst.principal + inst.interest - inst.paid
                if owed <= 0 and owed_penalty <= inst.penalty_paid:
                    continue
                inst.penalty = owed_penalty
                to_penalty = min(max(owed_penalty - inst.penalty_paid, 0), left)
                to_schedule = min(owed, left - to_penalty)
                left -= to_penalty + to_schedule
                inst.penalty_paid += to_penalty
                inst.paid += to_schedule
                residual = inst.principal + inst.interest - inst.paid + inst.penalty \
                    - inst.penalty_paid
                if inst.settled_us is None and residual <= tolerance:
                    inst.settled_us = value_us
            db.execute("UPDATE postings SET applied = ?, refunded = ? WHERE posting_id = ?",
                       (amount - left, left, posting_id))
            if left > refunded_before:  # paid beyond everything owed: it goes back
                self.enqueue(db, "payments", "/returns",
                             {"payment_id": payment_id, "amount": left - refunded_before})
        for inst in installments:
            before = db.execute("SELECT settled_us, due_end_us, warned, reported, period"
                                " FROM installments WHERE loan_id = ? AND number = ?",
                                (loan_id, inst.number)).fetchone()
            settled_before, due_end_us, warned, reported, period = before
            on_time = inst.settled_us is not None and inst.settled_us < due_end_us
            was_on_time = settled_before is not None and settled_before < due_end_us
            cleared = on_time and not was_on_time and (warned or reported == "overdue")
            # late, but paid before the reporting threshold: a delinquency reported while the
            # repayment was in transit (the wait for the file ran out) is false
            threshold = self.threshold_us(inst.grace_end)
            in_time = inst.settled_us is not None and inst.settled_us < threshold
            was_in_time = settled_before is not None and settled_before < threshold
            correct = reported == "overdue" and (cleared or (in_time and not was_in_time))
            db.execute("UPDATE installments SET paid = ?, penalty = ?, penalty_paid = ?,"
                       " settled_us = ?, reported = ? WHERE loan_id = ? AND number = ?",
                       (inst.paid, inst.penalty, inst.penalty_paid, inst.settled_us,
                        "current" if correct else reported, loan_id, inst.number))
            if cleared:
                self.enqueue(db, "platform", "/callbacks/installment-cleared",
                             {"loan_id": loan_id, "installment": inst.number,
                              "kind": "cleared"})
            if correct:
                self._correct(db, loan_id, inst.number, period)

    def threshold_us(self, grace_end: int) -> int:
        """When an unpaid installment (its last grace day an ordinal) reaches the reporting
        threshold: the midnight beginning its threshold-th day past due."""
        day = date.fromordinal(grace_end + self.threshold)
        return to_us(datetime.combine(day, time(0), tzinfo=self.tz))

    def _penalty(self, inst: _Installment, rate: str, at_us: int) -> int:
        if at_us < inst.due_end_us:
            return 0
        day = self.local_date(from_us(at_us)).toordinal()
        return penalty(inst.principal, rate, max(day - inst.grace_end, 1))

    def _correct(self, db: Any, loan_id: str, number: int, period: str) -> None:
        """The bureau was told "overdue" falsely: send it a correction."""
        (subject,) = db.execute("SELECT subject_id FROM loans WHERE loan_id = ?",
                                (loan_id,)).fetchone()
        self.enqueue(db, "bureau", "/reports", {"furnisher": "bank", "records": [
            {"subject_id": subject, "account": loan_id, "installment": number,
             "period": period, "status": "current", "days_past_due": 0,
             "correction": True}]})

    def enqueue(self, db: Any, peer: str, path: str, payload: dict[str, Any]) -> None:
        """A message to a partner, sent by the relay (in the caller's transaction)."""
        db.execute("INSERT INTO outbox (peer, path, payload, next_us) VALUES (?,?,?,?)",
                   (peer, path, json.dumps(payload), to_us(self.clock)))

    # -- reading postings ------------------------------------------------------------------
    def posting(self, posting_id: str) -> dict[str, Any]:
        row = self.store.one("SELECT posting_id, payment_id, loan_id, amount, applied,"
                             " refunded, value_us FROM postings WHERE posting_id = ?",
                             (posting_id,))
        if row is None:
            raise Problem(404, "Unknown posting", "no posting with this id")
        return {"posting_id": row[0], "payment_id": row[1], "loan_id": row[2],
                "amount": row[3], "applied": row[4], "refunded": row[5],
                "value_time": iso(row[6]), "status": "posted"}

    def list_postings(self, after: str, limit: int) -> dict[str, Any]:
        rows = self.store.all("SELECT posting_id, payment_id, loan_id, amount, applied,"
                              " refunded, value_us, received_us FROM postings"
                              " WHERE posting_id > ? ORDER BY posting_id LIMIT ?",
                              (after, limit + 1))
        page = [{"posting_id": r[0], "payment_id": r[1], "loan_id": r[2], "amount": r[3],
                 "applied": r[4], "refunded": r[5], "value_time": iso(r[6]),
                 "status": "posted", "received_at": iso(r[7])} for r in rows[:limit]]
        return {"postings": page, "next": page[-1]["posting_id"] if len(rows) > limit else None}


def utc(instant: datetime) -> datetime:
    return instant.astimezone(UTC)
