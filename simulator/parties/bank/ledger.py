"""The bank's ledger: booking loans and posting repayments by value time.

A repayment is allocated penalty interest first, then the installment, oldest
first; a replayed ``Idempotency-Key`` answers the original posting and posts
nothing, and a payment id is posted once whatever the key (another key for a
known payment id is refused). A repayment must be in the loan's currency, with a
value time from the loan's disbursement (local midnight) to the bank's clock plus
:data:`VALUE_TIME_SKEW`. A repayment overtaken in transit by later ones makes the loan's
postings be allocated again in value-time order; an on-time repayment that
arrives after the bank treated its installment as overdue reverses the penalty
and queues a bureau correction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from simulator.core.amortization import schedule
from simulator.core.calendars import period_of
from simulator.core.instants import from_us, iso_us, to_us
from simulator.engine.links import Body, Response
from simulator.parties.bank.base import ACT_DELAY, BankBase, LoanTerms
from simulator.parties.bank.schema import OpenInstallment
from simulator.parties.base import Problem

__all__ = ["VALUE_TIME_SKEW", "Ledger"]

#: postings per page of list_postings, unless the caller asks otherwise
_PAGE = 500

#: how far past the bank's clock a value time may be (the clocks of two systems differ)
VALUE_TIME_SKEW = timedelta(minutes=5)


class Ledger(BankBase):
    """Loans and postings."""

    def _loan_rows(self, body: Body) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]]:
        """The loan row and its installment rows, as booking stores them."""
        disbursed = date.fromisoformat(body["disbursed"])
        rows = schedule(body["principal"], Decimal(body["annual_rate"]), body["months"],
                        body["method"])
        grace_days = int(body.get("grace_days", 0))
        holiday_shift = str(body.get("holiday_shift", "none"))
        loan = (body["loan_id"], body["borrower"], body["subject_id"], body["name"],
                body["phone"], body["principal"], body["annual_rate"], body["months"],
                body["method"], body["disbursed"], grace_days,
                int(body.get("arrears_tolerance", 0)), holiday_shift)
        installments = []
        for row in rows:
            due_date, grace_end, due_end_us = self._due(disbursed, row.number, grace_days,
                                                        holiday_shift)
            installments.append((body["loan_id"], row.number, due_date.isoformat(),
                                 period_of(due_date), grace_end, due_end_us,
                                 row.principal, row.interest))
        return loan, installments

    def _insert_loans(self, loans: list[tuple[Any, ...]],
                      installments: list[tuple[Any, ...]]) -> None:
        self.db.executemany("INSERT INTO loans VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", loans)
        self.db.executemany(
            "INSERT INTO installments (loan_id, number, due_date, period, grace_end,"
            " due_end_us, principal, interest) VALUES (?,?,?,?,?,?,?,?)", installments)

    def op_book_loan(self, body: Body, headers: Mapping[str, str]) -> Response:
        loan, installments = self._loan_rows(body)
        with self.db:
            if self.db.execute("SELECT 1 FROM loans WHERE loan_id = ?", (loan[0],)).fetchone():
                raise Problem(409, "Loan exists", f"loan {loan[0]} is already booked")
            self._insert_loans([loan], installments)
        self.journal("loan_booked", loan_id=loan[0], installments=len(installments))
        return Response(201, {"loan_id": loan[0], "installments": [
            {"number": i[1], "due_date": i[2], "principal": i[6], "interest": i[7]}
            for i in installments]})

    def op_get_loan(self, body: Body, headers: Mapping[str, str]) -> Response:
        loan_id = body["loan_id"]
        if not self.db.execute("SELECT 1 FROM loans WHERE loan_id = ?", (loan_id,)).fetchone():
            raise Problem(404, "Unknown loan", f"no loan {loan_id}")
        today = self.env.clock.local().date().toordinal()
        schedule_rows = []
        outstanding = 0
        worst_dpd = 0
        for inst in self._installments(loan_id):
            owed = inst.principal + inst.interest - inst.paid
            outstanding += owed + max(inst.penalty_charged - inst.penalty_paid, 0)
            dpd = max(today - inst.grace_end, 0) if inst.settled_us is None else 0
            worst_dpd = max(worst_dpd, dpd)
            schedule_rows.append({
                "number": inst.number, "principal": inst.principal, "interest": inst.interest,
                "paid": inst.paid, "penalty": inst.penalty_charged,
                "status": "paid" if inst.settled_us is not None else
                ("overdue" if dpd > 0 else "due"),
            })
        return Response(200, {"loan_id": loan_id, "outstanding": outstanding,
                              "days_past_due": worst_dpd, "installments": schedule_rows})

    def op_post_repayment(self, body: Body, headers: Mapping[str, str]) -> Response:
        key = headers.get("Idempotency-Key")
        if not key:
            raise Problem(400, "Missing Idempotency-Key", "the Idempotency-Key header is required")
        if not self.defect("ignores_idempotency_key"):
            first = self.db.execute(
                "SELECT posting_id FROM postings WHERE idempotency_key = ? ORDER BY posting_id"
                " LIMIT 1", (key,)).fetchone()
            if first is not None:
                original = self._posting_body(first[0])
                # the same repayment again (its value time may be restamped by a careless
                # sender: the first posting stands); a different repayment is a misuse
                if (original["payment_id"], original["amount"]) != (
                        body.get("payment_id"), body.get("amount")):
                    raise Problem(422, "Idempotency-Key reused",
                                  "this Idempotency-Key was used for a different repayment")
                self.journal("replayed", payment_id=original["payment_id"], key=key)
                return Response(201, original)
            posted = self.db.execute(
                "SELECT posting_id FROM postings WHERE payment_id = ? ORDER BY posting_id"
                " LIMIT 1", (body.get("payment_id"),)).fetchone()
            if posted is not None:
                raise Problem(422, "Payment already posted",
                              f"payment {body.get('payment_id')} was already posted as "
                              f"{posted[0]} under another Idempotency-Key; it is posted once")
        value_time = datetime.fromisoformat(body["value_time"])
        self._check_repayment(body["loan_id"], body.get("currency"), value_time)
        if self._cob_running:
            raise Problem(409, "Day-end batch running", "retry after the batch",
                          retry_after=int(ACT_DELAY.total_seconds()))
        return self._post(body["payment_id"], body["loan_id"], body["amount"], value_time, key)

    def _check_repayment(self, loan_id: str, currency: object, value_time: datetime) -> None:
        """The loan exists, the currency is the loan's, the value time within its window."""
        row = self.db.execute("SELECT disbursed FROM loans WHERE loan_id = ?",
                              (loan_id,)).fetchone()
        if row is None:
            raise Problem(404, "Unknown loan", f"no loan {loan_id}")
        own = self.env.jurisdiction.currency
        if currency != own:
            raise Problem(422, "Currency mismatch",
                          f"loan {loan_id} is in {own}; a repayment in another currency is "
                          "not posted")
        if value_time.tzinfo is None or value_time.utcoffset() is None:
            raise Problem(422, "Value time out of range",
                          "value_time needs an offset, like 2026-02-01T13:00:00+00:00")
        disbursed = datetime.combine(date.fromisoformat(row[0]), time(0), tzinfo=self._tz)
        if value_time < disbursed:
            raise Problem(422, "Value time out of range",
                          f"value_time {value_time.isoformat()} is before loan {loan_id} was "
                          f"disbursed ({disbursed.isoformat()})")
        latest = self.now + VALUE_TIME_SKEW
        if value_time > latest:
            raise Problem(422, "Value time out of range",
                          f"value_time {value_time.isoformat()} is after the bank's clock "
                          f"({self.now.isoformat()}) by more than "
                          f"{int(VALUE_TIME_SKEW.total_seconds() // 60)} minutes: money is "
                          "not captured in the future")

    def op_pay_at_counter(self, body: Body, headers: Mapping[str, str]) -> Response:
        """A borrower pays at the bank itself: the bank captures the money."""
        loan_id = body["loan_id"]
        amount = body["amount"]
        if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
            raise Problem(422, "Invalid amount", "amount must be a positive number of minor units")
        row = self.db.execute("SELECT borrower FROM loans WHERE loan_id = ?", (loan_id,)).fetchone()
        if row is None:
            raise Problem(404, "Unknown loan", f"no loan {loan_id}")
        if self._cob_running:
            raise Problem(409, "Day-end batch running", "retry after the batch",
                          retry_after=int(ACT_DELAY.total_seconds()))
        self._counter_payments += 1
        payment_id = f"CTR{self._counter_payments:08d}"
        return self._post(payment_id, loan_id, body["amount"], self.now, None)

    def _allocate(self, installments: Iterable[OpenInstallment], terms: LoanTerms, amount: int,
                  effective_us: int, payment_id: str) -> tuple[list[list[int]], int]:
        """Apply ``amount`` to the installments (in memory): penalty, then the installment,
        oldest first. Returns the allocation and what is left over."""
        remaining = amount
        allocation: list[list[int]] = []
        for inst in installments:
            if remaining <= 0:
                break
            settled_before = inst.settled_us is not None
            penalty = inst.penalty_charged if settled_before else \
                self._penalty(inst, terms.rate, effective_us)
            owed = inst.principal + inst.interest - inst.paid
            if owed <= 0 and penalty <= inst.penalty_paid:
                continue
            inst.penalty_charged = penalty
            to_penalty = min(max(penalty - inst.penalty_paid, 0), remaining)
            remaining -= to_penalty
            to_schedule = min(owed, remaining)
            remaining -= to_schedule
            inst.paid += to_schedule
            inst.penalty_paid += to_penalty
            residual = inst.principal + inst.interest - inst.paid + penalty - inst.penalty_paid
            if inst.settled_us is None and residual <= terms.tolerance:
                inst.settled_us = effective_us
                if effective_us < inst.due_end_us:
                    inst.max_dpd = 0
                else:
                    # days past due as of the value time: the days the batch counted while the
                    # repayment was still in transit do not count
                    day = from_us(effective_us).astimezone(self._tz).date().toordinal()
                    inst.max_dpd = max(day - inst.grace_end, 1)
                    inst.attention = 1  # settled late: the batch reports it
            allocation.append([inst.number, to_penalty, to_schedule])
        return allocation, remaining

    def _post(self, payment_id: str, loan_id: str, amount: int, value_time: datetime,
              key: str | None) -> Response:
        """Post a repayment by its value time.

        A repayment whose value time is earlier than repayments already posted on
        the loan (they overtook it in transit) is not simply added on top: the
        loan's postings are allocated again in value-time order, as if each had
        arrived when it was paid.
        """
        if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
            raise Problem(422, "Invalid amount", "amount must be a positive number of minor units")
        terms = self._loan_terms(loan_id)
        if terms is None:
            raise Problem(404, "Unknown loan", f"no loan {loan_id}")
        now = self.now
        value_us = to_us(value_time)
        effective_us = to_us(now) if self.defect("posts_by_receipt_time") else value_us
        posting_id = f"PST{self._postings + 1:08d}"
        with self.db:
            overtaken = self._latest(loan_id) > effective_us
            read: list[OpenInstallment]
            # what each of the loan's postings gave back so far (a re-allocation may leave
            # an earlier posting with a surplus: it goes back under that posting's payment)
            refunded_before: dict[str, int] = dict(self.db.execute(
                "SELECT posting_id, refunded FROM postings WHERE loan_id = ?",
                (loan_id,)).fetchall()) if overtaken else {}
            if overtaken:
                read = self._installments(loan_id)
                for inst in read:
                    inst.paid = inst.penalty_paid = inst.penalty_charged = 0
                    inst.settled_us = None
                postings = self.db.execute(
                    "SELECT posting_id, payment_id, amount, effective_us FROM postings"
                    " WHERE loan_id = ? ORDER BY effective_us, posting_id", (loan_id,)).fetchall()
                self.journal("reallocated", loan_id=loan_id, payment_id=payment_id,
                             postings=len(postings) + 1)
                for earlier_id, earlier_payment, earlier_amount, earlier_us in postings:
                    if earlier_us > effective_us:
                        break
                    shares, left = self._allocate(read, terms, earlier_amount, earlier_us,
                                                  earlier_payment)
                    self._record_allocation(earlier_id, earlier_amount, shares, left)
                allocation, remaining = self._allocate(read, terms, amount, effective_us,
                                                       payment_id)
                for earlier_id, earlier_payment, earlier_amount, earlier_us in postings:
                    if earlier_us > effective_us:
                        shares, left = self._allocate(read, terms, earlier_amount, earlier_us,
                                                      earlier_payment)
                        self._record_allocation(earlier_id, earlier_amount, shares, left)
            else:
                read = []
                allocation, remaining = self._allocate(
                    self._open_installments(loan_id, read), terms, amount, effective_us,
                    payment_id)
            cleared = []
            corrected = []
            for new in read:
                if new.row() == new.original:
                    continue
                old = OpenInstallment(new.original)
                if new.penalty_charged < old.penalty_charged:
                    self.journal("penalty_reversed", loan_id=loan_id, installment=new.number,
                                 amount=old.penalty_charged - new.penalty_charged,
                                 payment_id=payment_id)
                was_on_time = old.settled_us is not None and old.settled_us < old.due_end_us
                on_time = new.settled_us is not None and new.settled_us < new.due_end_us
                if on_time and not was_on_time and (old.reported == "overdue" or old.warned):
                    cleared.append(old)
                    if old.reported == "overdue" and not self.defect(
                            "no_correction_on_late_arrival"):
                        new.reported = "current"
                elif old.reported == "overdue" and self._settled_before_threshold(new) and \
                        not self._settled_before_threshold(old):
                    # late, but paid before the reporting threshold: the delinquency reported
                    # while the repayment was in transit (the wait for a file ran out) is false
                    corrected.append(old)
                    if not self.defect("no_correction_on_late_arrival"):
                        new.reported = "current"
                self.db.execute(
                    "UPDATE installments SET paid = ?, penalty_paid = ?, penalty_charged = ?,"
                    " settled_us = ?, max_dpd = ?, reported = ?, attention = ?"
                    " WHERE loan_id = ? AND number = ?",
                    (new.paid, new.penalty_paid, new.penalty_charged, new.settled_us,
                     new.max_dpd, new.reported, new.attention, loan_id, new.number))
            refunded = remaining
            applied = amount - refunded
            self.db.execute(
                "INSERT INTO postings VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (posting_id, payment_id, key, loan_id, amount, applied, refunded, value_us,
                 effective_us, to_us(now), json.dumps(allocation)))
            self._forget_in_transit([payment_id])
            for inst in cleared:
                self._clear_overdue(loan_id, inst, payment_id)
            for inst in corrected:
                self._correct_record(loan_id, inst)
            # what the loan was paid beyond everything it owes goes back to the borrower, as
            # part of the payment whose allocation left it over
            returns = [(paid_by, now_refunded - refunded_before.get(posted, 0))
                       for posted, paid_by, now_refunded in self.db.execute(
                           "SELECT posting_id, payment_id, refunded FROM postings"
                           " WHERE loan_id = ? ORDER BY posting_id", (loan_id,))
                       if now_refunded > refunded_before.get(posted, 0)] if overtaken else \
                [(payment_id, refunded)] if refunded > 0 else []
        self._postings += 1
        for paid_by, surplus in returns:
            self.env.network.give_back(paid_by, surplus, by=self.name)
        self._latest_effective[loan_id] = max(self._latest(loan_id), effective_us)
        response_body = {
            "posting_id": posting_id, "payment_id": payment_id, "loan_id": loan_id,
            "amount": amount, "applied": applied, "refunded": refunded,
            "value_time": iso_us(value_us), "status": "posted",
        }
        self.journal("posted", payment_id=payment_id, posting_id=posting_id, loan_id=loan_id,
                     amount=amount, applied=applied, refunded=refunded,
                     value_time=value_time, effective=from_us(effective_us))
        if cleared or corrected:
            self.outbox.schedule(now)
        return Response(201, response_body)

    def _given_back(self, loan_id: str) -> int:
        """How much of the loan's postings the bank has recorded as surplus to give back."""
        (total,) = self.db.execute(
            "SELECT coalesce(sum(refunded), 0) FROM postings WHERE loan_id = ?",
            (loan_id,)).fetchone()
        return int(total)

    def _latest(self, loan_id: str) -> int:
        """The latest effective time among the loan's postings (0 when none)."""
        latest = self._latest_effective.get(loan_id)
        if latest is None:
            (found,) = self.db.execute("SELECT max(effective_us) FROM postings WHERE loan_id = ?",
                                       (loan_id,)).fetchone()
            latest = self._latest_effective[loan_id] = found or 0
        return latest

    def _record_allocation(self, posting_id: str, amount: int, allocation: list[list[int]],
                           refunded: int) -> None:
        """Store a re-run allocation of an earlier posting (inside the caller's transaction)."""
        self.db.execute(
            "UPDATE postings SET applied = ?, refunded = ?, allocation = ? WHERE posting_id = ?",
            (amount - refunded, refunded, json.dumps(allocation), posting_id))

    def _clear_overdue(self, loan_id: str, inst: OpenInstallment, payment_id: str) -> None:
        """An on-time repayment arrived late: undo what "overdue" set in motion (in a txn)."""
        period = self.db.execute(
            "SELECT period FROM installments WHERE loan_id = ? AND number = ?",
            (loan_id, inst.number)).fetchone()[0]
        self.journal("overdue_cleared", loan_id=loan_id, installment=inst.number,
                     payment_id=payment_id)
        self.outbox.enqueue("bank->platform", "installment_cleared",
                      {"loan_id": loan_id, "installment": inst.number, "kind": "cleared"},
                      ref=loan_id)
        if inst.reported == "overdue":
            self._correct_record(loan_id, inst, period)

    def _settled_before_threshold(self, inst: OpenInstallment) -> bool:
        """Was the installment settled before it reached the reporting threshold?"""
        return inst.settled_us is not None and \
            inst.settled_us < self._threshold_us(inst.grace_end)

    def _correct_record(self, loan_id: str, inst: OpenInstallment,
                        period: str | None = None) -> None:
        """Queue a correction of the installment's record back to current (in a txn)."""
        if self.defect("no_correction_on_late_arrival"):
            return
        if period is None:
            period = self.db.execute(
                "SELECT period FROM installments WHERE loan_id = ? AND number = ?",
                (loan_id, inst.number)).fetchone()[0]
        subject = self._subject(loan_id)
        record = {"subject_id": subject, "account": loan_id, "installment": inst.number,
                  "period": period, "status": "current", "days_past_due": 0,
                  "correction": True}
        self.outbox.enqueue("bank->bureau", "submit_reports",
                            {"furnisher": "bank", "records": [record]}, ref=loan_id)
        self.journal("correction_queued", loan_id=loan_id, installment=inst.number)

    def _posting_body(self, posting_id: str) -> Body:
        row = self.db.execute(
            "SELECT posting_id, payment_id, loan_id, amount, applied, refunded, value_us"
            " FROM postings WHERE posting_id = ?", (posting_id,)).fetchone()
        if row is None:
            raise Problem(404, "Unknown posting", f"no posting {posting_id}")
        return {"posting_id": row[0], "payment_id": row[1], "loan_id": row[2],
                "amount": row[3], "applied": row[4], "refunded": row[5],
                "value_time": iso_us(row[6]), "status": "posted"}

    def op_get_posting(self, body: Body, headers: Mapping[str, str]) -> Response:
        return Response(200, self._posting_body(body["posting_id"]))

    def op_list_postings(self, body: Body, headers: Mapping[str, str]) -> Response:
        """A page of postings in posting-id order, each with when the bank received it."""
        after = str(body.get("after", ""))
        limit = int(body.get("limit", _PAGE))
        if not 1 <= limit <= 1000:
            raise Problem(422, "Invalid request", "list_postings: limit must be 1 to 1000")
        rows = self.db.execute(
            "SELECT posting_id, payment_id, loan_id, amount, applied, refunded, value_us,"
            " received_us FROM postings WHERE posting_id > ? ORDER BY posting_id LIMIT ?",
            (after, limit + 1)).fetchall()
        page = [{"posting_id": r[0], "payment_id": r[1], "loan_id": r[2], "amount": r[3],
                 "applied": r[4], "refunded": r[5], "value_time": iso_us(r[6]),
                 "status": "posted", "received_at": iso_us(r[7])} for r in rows[:limit]]
        more = len(rows) > limit
        return Response(200, {"postings": page,
                              "next": page[-1]["posting_id"] if more else None})

    def op_book_loans(self, body: Body, headers: Mapping[str, str]) -> Response:
        """Book a file of loans in one transaction (all or none)."""
        loans = body["loans"]
        if not isinstance(loans, list) or not loans:
            raise Problem(422, "Invalid request", "book_loans: loans must be a non-empty list")
        loan_rows = []
        installment_rows: list[tuple[Any, ...]] = []
        answers = []
        for loan_body in loans:
            loan, installments = self._loan_rows(loan_body)
            loan_rows.append(loan)
            installment_rows.extend(installments)
            answers.append({"loan_id": loan[0], "installments": [
                {"number": i[1], "due_date": i[2], "principal": i[6], "interest": i[7]}
                for i in installments]})
        ids = [row[0] for row in loan_rows]
        with self.db:
            known = self.db.execute(
                "SELECT loan_id FROM loans WHERE loan_id IN (SELECT value FROM json_each(?))"
                " ORDER BY loan_id LIMIT 1", (json.dumps(ids),)).fetchone()
            if known is not None or len(set(ids)) != len(ids):
                raise Problem(409, "Loan exists", f"loan {known[0] if known else ids[0]} is "
                                                  "already booked")
            self._insert_loans(loan_rows, installment_rows)
        self.journal("loans_booked", loans=len(loan_rows), installments=len(installment_rows))
        return Response(201, {"loans": answers})
