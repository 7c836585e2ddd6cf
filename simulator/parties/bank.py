"""The reference bank: the lender of funds.

Reference behaviour (DESIGN §7, issue "lendsim core"):

* books loans and their schedules (minor units; the last installment absorbs
  rounding);
* posts repayments **by value time**, allocating penalties → interest →
  principal, oldest installment first; a replayed idempotency key answers
  with the original response and posts nothing;
* runs a day-end batch (COB) at ``batch_at`` for the previous business date
  in two stages — *classify* (days past due, penalty interest) and *act* —
  holding real-time postings with 409 in between;
* acts on "unpaid" (overdue text message, bureau delinquency) only once that
  day's reconciliation file has arrived, or ``recon_max_wait`` after the batch
  when it has not; a repayment listed in any reconciliation file with an
  on-time value time counts as paid while its transfer is pending;
* when an on-time repayment arrives late for an installment it already treated
  as overdue, it reverses the penalty interest and sends the bureau a
  correction;
* reports to the bureau per jurisdiction: CN every night from 1 day past due
  plus a monthly status of every installment due; US monthly on the 1st,
  delinquent from 30 days past due;
* answers the bureau's dispute verification, asking the platform for
  repayments it has not received yet.

Messages to other parties go through a durable outbox, sent in order per link
and retried with capped backoff.

Defects planted here: every ``bank.*`` name in the catalogue.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from simulator.amortization import round_minor, schedule
from simulator.calendars import add_months, local_midnight, period_of
from simulator.clock import UTC
from simulator.links import Body, Response
from simulator.parties.base import Env, Operation, Party, Problem, Rows
from simulator.scenario import BankPolicy

__all__ = ["Bank"]

SCHEMA = """
CREATE TABLE loans (
    loan_id TEXT PRIMARY KEY, borrower TEXT NOT NULL, subject_id TEXT NOT NULL,
    name TEXT NOT NULL, phone TEXT NOT NULL, principal INTEGER NOT NULL,
    annual_rate TEXT NOT NULL, months INTEGER NOT NULL, method TEXT NOT NULL,
    disbursed TEXT NOT NULL
);
CREATE TABLE installments (
    loan_id TEXT NOT NULL, number INTEGER NOT NULL,
    due_date TEXT NOT NULL, period TEXT NOT NULL,
    grace_end INTEGER NOT NULL,          -- ordinal of the last day before it is late
    due_end_us INTEGER NOT NULL,         -- the instant it becomes late (UTC µs)
    principal INTEGER NOT NULL, interest INTEGER NOT NULL,
    paid INTEGER NOT NULL DEFAULT 0,             -- principal and interest received
    penalty_paid INTEGER NOT NULL DEFAULT 0,
    penalty_charged INTEGER NOT NULL DEFAULT 0,  -- accrued by the day-end batch
    settled_us INTEGER,                  -- effective time the residual fell within tolerance
    max_dpd INTEGER NOT NULL DEFAULT 0,
    warned INTEGER NOT NULL DEFAULT 0,
    reported TEXT,                       -- last status sent to the bureau
    attention INTEGER NOT NULL DEFAULT 0,  -- 1: the next batch must look at it
    PRIMARY KEY (loan_id, number)
);
CREATE INDEX installments_open ON installments (grace_end) WHERE settled_us IS NULL;
CREATE INDEX installments_attention ON installments (loan_id, number) WHERE attention = 1;
CREATE INDEX installments_unreported ON installments (due_date) WHERE reported IS NULL;
CREATE TABLE postings (
    posting_id TEXT PRIMARY KEY, payment_id TEXT NOT NULL, idempotency_key TEXT,
    loan_id TEXT NOT NULL, amount INTEGER NOT NULL, applied INTEGER NOT NULL,
    refunded INTEGER NOT NULL, value_us INTEGER NOT NULL, effective_us INTEGER NOT NULL,
    received_us INTEGER NOT NULL, allocation TEXT NOT NULL
);
CREATE INDEX postings_payment ON postings (payment_id, posting_id);
CREATE INDEX postings_key ON postings (idempotency_key);
CREATE INDEX postings_loan ON postings (loan_id, effective_us);
CREATE TABLE reconciliation_files (
    business_date TEXT PRIMARY KEY, received_us INTEGER NOT NULL,
    count INTEGER NOT NULL, total INTEGER NOT NULL, matched INTEGER NOT NULL,
    in_transit INTEGER NOT NULL
);
CREATE TABLE in_transit (
    payment_id TEXT PRIMARY KEY, loan_id TEXT NOT NULL, amount INTEGER NOT NULL,
    value_us INTEGER NOT NULL, source TEXT NOT NULL
);
CREATE INDEX in_transit_loan ON in_transit (loan_id);
CREATE TABLE cob (
    business_date TEXT PRIMARY KEY, stage TEXT NOT NULL,   -- classified | waiting | acted
    classified_us INTEGER NOT NULL
);
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY, link TEXT NOT NULL, op TEXT NOT NULL, body TEXT NOT NULL,
    ref TEXT, attempts INTEGER NOT NULL DEFAULT 0, next_us INTEGER NOT NULL
);
"""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ACT_DELAY = timedelta(minutes=2)
_OUTBOX_FIRST = timedelta(minutes=1)
_OUTBOX_MAX = timedelta(hours=1)
#: penalty interest: the contract rate plus 50%, per day, on the installment's principal
_PENALTY_FACTOR = Decimal("1.5")


def to_us(instant: datetime) -> int:
    delta = instant - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(value: int) -> datetime:
    return _EPOCH + timedelta(microseconds=value)


def _iso_us(value: int) -> str:
    return from_us(value).isoformat()



_INSTALLMENT_COLUMNS = ("number", "principal", "interest", "paid", "penalty_paid",
                        "penalty_charged", "grace_end", "due_end_us", "settled_us", "max_dpd",
                        "reported", "warned", "attention")
_SELECT_INSTALLMENTS = f"SELECT {', '.join(_INSTALLMENT_COLUMNS)} FROM installments"


class _Open:
    """One installment as the allocation sees it; ``original`` is the row it was read as."""

    __slots__ = ("original", *_INSTALLMENT_COLUMNS)

    number: int
    principal: int
    interest: int
    paid: int
    penalty_paid: int
    penalty_charged: int
    grace_end: int
    due_end_us: int
    settled_us: int | None
    max_dpd: int
    reported: str | None
    warned: int
    attention: int

    def __init__(self, row: tuple[Any, ...]) -> None:
        self.original = row
        (self.number, self.principal, self.interest, self.paid, self.penalty_paid,
         self.penalty_charged, self.grace_end, self.due_end_us, self.settled_us, self.max_dpd,
         self.reported, self.warned, self.attention) = row

    def row(self) -> tuple[Any, ...]:
        return (self.number, self.principal, self.interest, self.paid, self.penalty_paid,
                self.penalty_charged, self.grace_end, self.due_end_us, self.settled_us,
                self.max_dpd, self.reported, self.warned, self.attention)


class Bank(Party):
    """The lender."""

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
        self._drain_at: datetime | None = None
        self._postings = 0  # how many postings exist: ids are PST00000001, …
        self._counter_payments = 0
        self._due_cache: dict[tuple[date, int], tuple[date, int, int]] = {}
        self._rates: dict[str, Decimal] = {}  # loan terms never change: cached
        # caches of what the database says, dropped in a crash and rebuilt on demand
        self._latest_effective: dict[str, int] = {}  # loan -> latest posting's effective time
        self._in_transit_rows: int | None = None

    def routes(self) -> dict[str, Operation]:
        return {
            "book_loan": self.op_book_loan,
            "get_loan": self.op_get_loan,
            "post_repayment": self.op_post_repayment,
            "get_posting": self.op_get_posting,
            "pay_at_counter": self.op_pay_at_counter,
            "submit_reconciliation": self.op_submit_reconciliation,
            "get_reconciliation": self.op_get_reconciliation,
            "verify_dispute": self.op_verify_dispute,
        }

    # -- loans ---------------------------------------------------------------------
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

    def _loan_rows(self, body: Body) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]]:
        """The loan row and its installment rows, as booking stores them."""
        disbursed = date.fromisoformat(body["disbursed"])
        rows = schedule(body["principal"], Decimal(body["annual_rate"]), body["months"],
                        body["method"])
        loan = (body["loan_id"], body["borrower"], body["subject_id"], body["name"],
                body["phone"], body["principal"], body["annual_rate"], body["months"],
                body["method"], body["disbursed"])
        installments = []
        for row in rows:
            due_date, grace_end, due_end_us = self._due(disbursed, row.number)
            installments.append((body["loan_id"], row.number, due_date.isoformat(),
                                 period_of(due_date), grace_end, due_end_us,
                                 row.principal, row.interest))
        return loan, installments

    def _insert_loans(self, loans: list[tuple[Any, ...]],
                      installments: list[tuple[Any, ...]]) -> None:
        self.db.executemany("INSERT INTO loans VALUES (?,?,?,?,?,?,?,?,?,?)", loans)
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

    def _rate(self, loan_id: str) -> Decimal | None:
        rate = self._rates.get(loan_id)
        if rate is None:
            row = self.db.execute("SELECT annual_rate FROM loans WHERE loan_id = ?",
                                  (loan_id,)).fetchone()
            if row is None:
                return None
            rate = self._rates[loan_id] = Decimal(row[0])
        return rate

    def _installments(self, loan_id: str) -> list[_Open]:
        """Every installment of a loan, oldest first."""
        return [_Open(row) for row in self.db.execute(
            _SELECT_INSTALLMENTS + " WHERE loan_id = ? ORDER BY number", (loan_id,))]

    def _open_installments(self, loan_id: str, read: list[_Open]) -> Iterator[_Open]:
        """Installments still owing anything, oldest first, read a few at a time (most
        repayments touch one); each one read is also appended to ``read``."""
        after = 0
        while True:
            rows = self.db.execute(
                _SELECT_INSTALLMENTS + " WHERE loan_id = ? AND number > ? AND (settled_us IS NULL"
                " OR paid < principal + interest OR penalty_paid < penalty_charged)"
                " ORDER BY number LIMIT 2", (loan_id, after)).fetchall()
            for row in rows:
                inst = _Open(row)
                read.append(inst)
                yield inst
            if len(rows) < 2:
                return
            after = rows[-1][0]

    def _penalty(self, inst: _Open, rate: Decimal, effective_us: int) -> int:
        """Penalty interest owed on an installment settled (or paid) at ``effective_us``."""
        if effective_us < inst.due_end_us:
            return 0
        local_day = from_us(effective_us).astimezone(self._tz).date().toordinal()
        days = max(local_day - inst.grace_end, 1)
        return round_minor(inst.principal * rate * _PENALTY_FACTOR * days / 360)

    # -- repayments ------------------------------------------------------------------
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
        if self._cob_running:
            raise Problem(409, "Day-end batch running", "retry after the batch",
                          retry_after=int(_ACT_DELAY.total_seconds()))
        value_time = datetime.fromisoformat(body["value_time"])
        return self._post(body["payment_id"], body["loan_id"], body["amount"], value_time, key)

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
                          retry_after=int(_ACT_DELAY.total_seconds()))
        self._counter_payments += 1
        payment_id = f"CTR{self._counter_payments:08d}"
        self.env.funds.capture(row[0], loan_id, body["amount"], self.now, payment_id)
        return self._post(payment_id, loan_id, body["amount"], self.now, None)

    def _allocate(self, installments: Iterable[_Open], rate: Decimal, amount: int,
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
                self._penalty(inst, rate, effective_us)
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
            if inst.settled_us is None and residual <= self._tolerance:
                inst.settled_us = effective_us
                if effective_us < inst.due_end_us:
                    inst.max_dpd = 0
                else:
                    day = from_us(effective_us).astimezone(self._tz).date().toordinal()
                    inst.max_dpd = max(inst.max_dpd, day - inst.grace_end)
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
        rate = self._rate(loan_id)
        if rate is None:
            raise Problem(404, "Unknown loan", f"no loan {loan_id}")
        now = self.now
        value_us = to_us(value_time)
        effective_us = to_us(now) if self.defect("posts_by_receipt_time") else value_us
        posting_id = f"PST{self._postings + 1:08d}"
        with self.db:
            overtaken = self._latest(loan_id) > effective_us
            read: list[_Open]
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
                    shares, left = self._allocate(read, rate, earlier_amount, earlier_us,
                                                  earlier_payment)
                    self._record_allocation(earlier_id, earlier_amount, shares, left)
                allocation, remaining = self._allocate(read, rate, amount, effective_us,
                                                       payment_id)
                for earlier_id, earlier_payment, earlier_amount, earlier_us in postings:
                    if earlier_us > effective_us:
                        shares, left = self._allocate(read, rate, earlier_amount, earlier_us,
                                                      earlier_payment)
                        self._record_allocation(earlier_id, earlier_amount, shares, left)
            else:
                read = []
                allocation, remaining = self._allocate(
                    self._open_installments(loan_id, read), rate, amount, effective_us,
                    payment_id)
            cleared = []
            for new in read:
                if new.row() == new.original:
                    continue
                old = _Open(new.original)
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
        self._postings += 1
        self._latest_effective[loan_id] = max(self._latest(loan_id), effective_us)
        response_body = {
            "posting_id": posting_id, "payment_id": payment_id, "loan_id": loan_id,
            "amount": amount, "applied": applied, "refunded": refunded,
            "value_time": _iso_us(value_us), "status": "posted",
        }
        self.journal("posted", payment_id=payment_id, posting_id=posting_id, loan_id=loan_id,
                     amount=amount, applied=applied, refunded=refunded,
                     value_time=value_time, effective=from_us(effective_us))
        if cleared:
            self._schedule_drain(now)
        return Response(201, response_body)

    def _latest(self, loan_id: str) -> int:
        """The latest effective time among the loan's postings (0 when none)."""
        latest = self._latest_effective.get(loan_id)
        if latest is None:
            (found,) = self.db.execute("SELECT max(effective_us) FROM postings WHERE loan_id = ?",
                                       (loan_id,)).fetchone()
            latest = self._latest_effective[loan_id] = found or 0
        return latest

    def _forget_in_transit(self, payment_ids: list[str]) -> None:
        """Posted or refunded: these repayments are no longer in transit (in a transaction)."""
        if self._in_transit_rows is None:
            (self._in_transit_rows,) = self.db.execute(
                "SELECT count(*) FROM in_transit").fetchone()
        if self._in_transit_rows:
            for payment_id in payment_ids:
                self._in_transit_rows -= self.db.execute(
                    "DELETE FROM in_transit WHERE payment_id = ?", (payment_id,)).rowcount

    def _record_allocation(self, posting_id: str, amount: int, allocation: list[list[int]],
                           refunded: int) -> None:
        """Store a re-run allocation of an earlier posting (inside the caller's transaction)."""
        self.db.execute(
            "UPDATE postings SET applied = ?, refunded = ?, allocation = ? WHERE posting_id = ?",
            (amount - refunded, refunded, json.dumps(allocation), posting_id))

    def _clear_overdue(self, loan_id: str, inst: _Open, payment_id: str) -> None:
        """An on-time repayment arrived late: undo what "overdue" set in motion (in a txn)."""
        period = self.db.execute(
            "SELECT period FROM installments WHERE loan_id = ? AND number = ?",
            (loan_id, inst.number)).fetchone()[0]
        self.journal("overdue_cleared", loan_id=loan_id, installment=inst.number,
                     payment_id=payment_id)
        self._enqueue("bank->platform", "installment_cleared",
                      {"loan_id": loan_id, "installment": inst.number, "kind": "cleared"},
                      ref=loan_id)
        if inst.reported == "overdue" and not self.defect("no_correction_on_late_arrival"):
            subject = self._subject(loan_id)
            record = {"subject_id": subject, "account": loan_id, "installment": inst.number,
                      "period": period, "status": "current", "days_past_due": 0,
                      "correction": True}
            self._enqueue("bank->bureau", "submit_reports",
                          {"furnisher": "bank", "records": [record]}, ref=loan_id)
            self.journal("correction_queued", loan_id=loan_id, installment=inst.number)

    def _subject(self, loan_id: str) -> str:
        return str(self.db.execute("SELECT subject_id FROM loans WHERE loan_id = ?",
                                   (loan_id,)).fetchone()[0])

    def _posting_body(self, posting_id: str) -> Body:
        row = self.db.execute(
            "SELECT posting_id, payment_id, loan_id, amount, applied, refunded, value_us"
            " FROM postings WHERE posting_id = ?", (posting_id,)).fetchone()
        if row is None:
            raise Problem(404, "Unknown posting", f"no posting {posting_id}")
        return {"posting_id": row[0], "payment_id": row[1], "loan_id": row[2],
                "amount": row[3], "applied": row[4], "refunded": row[5],
                "value_time": _iso_us(row[6]), "status": "posted"}

    def op_get_posting(self, body: Body, headers: Mapping[str, str]) -> Response:
        return Response(200, self._posting_body(body["posting_id"]))

    # -- reconciliation --------------------------------------------------------------
    def op_submit_reconciliation(self, body: Body, headers: Mapping[str, str]) -> Response:
        business_date = body["business_date"]
        entries = body["entries"]
        if len(entries) != body["count"] or sum(e["amount"] for e in entries) != body["total"]:
            raise Problem(422, "Inconsistent file", "count or total does not match the entries")
        if self.db.execute("SELECT 1 FROM reconciliation_files WHERE business_date = ?",
                           (business_date,)).fetchone():
            return self.op_get_reconciliation(body, headers)
        posted = {
            row[0] for row in self.db.execute(
                "SELECT payment_id FROM postings WHERE payment_id IN (SELECT value FROM"
                " json_each(?))", (json.dumps([e["payment_id"] for e in entries]),))
        }
        pending = [
            (e["payment_id"], e["loan_id"], e["amount"],
             to_us(datetime.fromisoformat(e["value_time"])), "reconciliation")
            for e in entries if e["payment_id"] not in posted
        ]
        refunded = [(r["payment_id"],) for r in body.get("refunds", [])]
        with self.db:
            self.db.executemany("INSERT OR IGNORE INTO in_transit VALUES (?,?,?,?,?)", pending)
            self._in_transit_rows = None  # recounted when next needed
            # a repayment the platform gave back will never arrive: it covers nothing now
            self._forget_in_transit([payment_id for (payment_id,) in refunded])
            self.db.execute("INSERT INTO reconciliation_files VALUES (?,?,?,?,?,?)",
                            (business_date, to_us(self.now), len(entries), body["total"],
                             len(entries) - len(pending), len(pending)))
        self.journal("reconciliation_received", business_date=business_date,
                     count=len(entries), in_transit=len(pending))
        stage = self.db.execute("SELECT stage FROM cob WHERE business_date = ?",
                                (business_date,)).fetchone()
        if stage is not None and stage[0] == "waiting":
            self.timer(self.now, self._act, business_date)
        return self.op_get_reconciliation(body, headers)

    def op_get_reconciliation(self, body: Body, headers: Mapping[str, str]) -> Response:
        row = self.db.execute(
            "SELECT count, total, matched, in_transit FROM reconciliation_files"
            " WHERE business_date = ?", (body["business_date"],)).fetchone()
        if row is None:
            raise Problem(404, "Unknown file",
                          f"no reconciliation file for {body['business_date']}")
        return Response(200, {"business_date": body["business_date"], "count": row[0],
                              "total": row[1], "matched": row[2], "in_transit": row[3],
                              "status": "received"})

    # -- day-end batch ---------------------------------------------------------------
    def _next_batch_instant(self) -> datetime:
        local_now = self.env.clock.local()
        today = datetime.combine(local_now.date(), self.policy.batch_at, tzinfo=self._tz)
        return today if today > local_now else today + timedelta(days=1)

    def _daily_batch(self) -> None:
        self._run_batch(self.env.clock.local().date() - timedelta(days=1))
        self.timer(self._next_batch_instant(), self._daily_batch)

    def _run_batch(self, business_date: date) -> None:
        """Stage 1, classify: days past due and penalty interest of every unpaid installment."""
        if business_date < self._first_business_date:
            return
        day = business_date.isoformat()
        if self.db.execute("SELECT 1 FROM cob WHERE business_date = ?", (day,)).fetchone():
            return
        self._cob_running = True
        ordinal = business_date.toordinal()
        updates = []
        for loan_id, number, principal, grace_end, _due_end_us, max_dpd in self.db.execute(
            "SELECT loan_id, number, principal, grace_end, due_end_us, max_dpd FROM installments"
            " WHERE settled_us IS NULL AND grace_end <= ?", (ordinal,)
        ).fetchall():
            rate = self._rate(loan_id) or Decimal(0)
            dpd = ordinal + 1 - grace_end
            penalty = round_minor(principal * rate * _PENALTY_FACTOR * dpd / 360)
            updates.append((max(max_dpd, dpd), penalty, loan_id, number))
        with self.db:
            self.db.executemany(
                "UPDATE installments SET max_dpd = ?, penalty_charged = ?, attention = 1"
                " WHERE loan_id = ? AND number = ?", updates)
            self.db.execute("INSERT INTO cob VALUES (?, 'classified', ?)", (day, to_us(self.now)))
        self.journal("batch_classified", business_date=day, overdue=len(updates))
        self.timer(self.now + _ACT_DELAY, self._gate, day)

    def _gate(self, day: str) -> None:
        """Stage 2: act now if the day's reconciliation file is in, else wait for it."""
        self._cob_running = False
        received = self.db.execute("SELECT 1 FROM reconciliation_files WHERE business_date = ?",
                                   (day,)).fetchone()
        if received or self.defect("reports_without_reconciliation"):
            self._act(day)
            return
        with self.db:
            self.db.execute("UPDATE cob SET stage = 'waiting' WHERE business_date = ?", (day,))
        self.journal("batch_waiting", business_date=day)
        (classified_us,) = self.db.execute(
            "SELECT classified_us FROM cob WHERE business_date = ?", (day,)).fetchone()
        self.timer(from_us(classified_us) + self.policy.recon_max_wait, self._act, day)

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

    def _act(self, day: str) -> None:
        """Send overdue warnings and bureau records for business date ``day``."""
        stage = self.db.execute("SELECT stage FROM cob WHERE business_date = ?", (day,)).fetchone()
        if stage is None or stage[0] == "acted":
            return
        business_date = date.fromisoformat(day)
        ordinal = business_date.toordinal()
        received = self.db.execute("SELECT 1 FROM reconciliation_files WHERE business_date = ?",
                                   (day,)).fetchone() is not None
        month_end = (business_date + timedelta(days=1)).day == 1
        messages: list[dict[str, Any]] = []
        records: list[dict[str, Any]] = []
        notices: list[tuple[str, int]] = []
        report_daily = self._threshold <= 1
        suppress = self.defect("suppresses_delinquency")
        with self.db:
            overdue = self.db.execute(
                "SELECT i.loan_id, i.number, i.period, i.due_end_us, i.max_dpd, i.warned,"
                " i.reported, l.borrower, l.phone, l.subject_id, i.settled_us IS NULL"
                " FROM installments i JOIN loans l USING (loan_id)"
                " WHERE i.attention = 1 AND i.max_dpd >= 1 AND i.grace_end <= ?"
                " AND (i.settled_us IS NULL OR i.settled_us >= i.due_end_us)"
                " ORDER BY i.loan_id, i.number", (ordinal,)).fetchall()
            done = []
            for (loan_id, number, period, due_end_us, max_dpd, warned, reported, borrower, phone,
                 subject, unpaid) in overdue:
                if unpaid and self._covered(loan_id, number, due_end_us):
                    done.append((loan_id, number))
                    continue
                if not warned and unpaid:
                    messages.append({"borrower": borrower, "phone": phone, "loan_id": loan_id,
                                     "installment": number, "reason": "overdue_warning",
                                     "text": f"Installment {number} of loan {loan_id} is overdue."})
                    notices.append((loan_id, number))
                    self.db.execute("UPDATE installments SET warned = 1 WHERE loan_id = ?"
                                    " AND number = ?", (loan_id, number))
                delinquent = max_dpd >= self._threshold and (report_daily or month_end)
                if not unpaid and max_dpd >= self._threshold and reported != "overdue" \
                        and not delinquent and not suppress:
                    continue  # settled late: it waits for the monthly report
                done.append((loan_id, number))
                if delinquent and reported != "overdue" and not suppress:
                    records.append({"subject_id": subject, "account": loan_id,
                                    "installment": number, "period": period,
                                    "status": "overdue", "days_past_due": max_dpd,
                                    "correction": False})
                    self.db.execute("UPDATE installments SET reported = 'overdue'"
                                    " WHERE loan_id = ? AND number = ?", (loan_id, number))
            self.db.executemany("UPDATE installments SET attention = 0 WHERE loan_id = ?"
                                " AND number = ?", done)
            if month_end:
                current = self.db.execute(
                    "SELECT i.loan_id, i.number, i.period, l.subject_id FROM installments i"
                    " JOIN loans l USING (loan_id) WHERE i.reported IS NULL AND i.due_date <= ?"
                    " ORDER BY i.loan_id, i.number", (day,)).fetchall()
                records.extend(
                    {"subject_id": subject, "account": loan_id, "installment": number,
                     "period": period, "status": "current", "days_past_due": 0,
                     "correction": False}
                    for loan_id, number, period, subject in current)
                self.db.execute("UPDATE installments SET reported = 'current'"
                                " WHERE reported IS NULL AND due_date <= ?", (day,))
            if messages:
                self._enqueue("bank->sms", "send_batch",
                              {"sender": "bank", "messages": messages}, ref=day)
            for loan_id, number in notices:
                self._enqueue("bank->platform", "installment_overdue",
                              {"loan_id": loan_id, "installment": number, "kind": "overdue"},
                              ref=loan_id)
            if records:
                self._enqueue("bank->bureau", "submit_reports",
                              {"furnisher": "bank", "records": records}, ref=day)
            self.db.execute("UPDATE cob SET stage = 'acted' WHERE business_date = ?", (day,))
        self.journal("batch_acted", business_date=day, reconciled=received,
                     warnings=len(messages), reports=len(records))
        if messages or records or notices:
            self._schedule_drain(self.now)

    # -- disputes --------------------------------------------------------------------
    def op_verify_dispute(self, body: Body, headers: Mapping[str, str]) -> Response:
        """The bureau asks the furnisher to verify a period; ask the platform what it holds."""
        account = body["account"]
        period = body["period"]
        if not self.db.execute("SELECT 1 FROM loans WHERE loan_id = ?", (account,)).fetchone():
            raise Problem(404, "Unknown account", f"no account {account}")
        reply = self.env.link("bank->platform").call("list_payments", {"loan_id": account},
                                                     ref=account)
        if reply.ok and reply.response is not None:
            known = {row[0] for row in self.db.execute(
                "SELECT payment_id FROM postings WHERE loan_id = ?", (account,))}
            pending = [
                (p["payment_id"], account, p["amount"],
                 to_us(datetime.fromisoformat(p["value_time"])), "dispute")
                for p in reply.response.body["payments"]
                if p["payment_id"] not in known and p["status"] not in ("refunded", "abandoned")
            ]
            with self.db:
                self.db.executemany("INSERT OR IGNORE INTO in_transit VALUES (?,?,?,?,?)",
                                    pending)
                self._in_transit_rows = None
        records = []
        with self.db:
            for number, due_end_us, max_dpd, settled_us, reported in self.db.execute(
                "SELECT number, due_end_us, max_dpd, settled_us, reported FROM installments"
                " WHERE loan_id = ? AND period = ? ORDER BY number", (account, period)
            ).fetchall():
                on_time = settled_us is not None and settled_us < due_end_us
                covered = settled_us is None and self._covered(account, number, due_end_us)
                late = max_dpd >= self._threshold and not (on_time or covered)
                status = "overdue" if late else "current"
                if reported is not None and reported != status:
                    self.db.execute("UPDATE installments SET reported = ? WHERE loan_id = ?"
                                    " AND number = ?", (status, account, number))
                records.append({"installment": number, "period": period, "status": status,
                                "days_past_due": max_dpd if late else 0})
        self.journal("dispute_verified", account=account, period=period,
                     statuses=[r["status"] for r in records])
        return Response(200, {"dispute_id": body["dispute_id"], "account": account,
                              "period": period, "records": records})

    # -- outbox ------------------------------------------------------------------------
    def _enqueue(self, link: str, op: str, body: Body, *, ref: str | None) -> None:
        """Queue a message (inside the caller's transaction)."""
        self.db.execute("INSERT INTO outbox (link, op, body, ref, next_us) VALUES (?,?,?,?,?)",
                        (link, op, json.dumps(body), ref, to_us(self.now)))

    def _schedule_drain(self, at: datetime) -> None:
        if self._drain_at is not None and self._drain_at <= at:
            return
        self._drain_at = at
        self.timer(at, self._drain)

    def _drain(self) -> None:
        """Send queued messages in order per link; a link that fails waits with backoff."""
        self._drain_at = None
        now_us = to_us(self.now)
        blocked: set[str] = set()
        rows = self.db.execute(
            "SELECT id, link, op, body, ref, attempts, next_us FROM outbox ORDER BY id").fetchall()
        for row_id, link, op, body, ref, attempts, next_us in rows:
            if link in blocked:
                continue
            if next_us > now_us:
                blocked.add(link)
                continue
            reply = self.env.link(link).call(op, json.loads(body), ref=ref)
            if not self.up:
                return
            if reply.ok or (reply.status is not None and 400 <= reply.status < 500
                            and reply.status not in (408, 409, 429)):
                with self.db:
                    self.db.execute("DELETE FROM outbox WHERE id = ?", (row_id,))
                continue
            backoff = min(_OUTBOX_FIRST * (2 ** min(attempts, 20)), _OUTBOX_MAX)
            with self.db:
                self.db.execute("UPDATE outbox SET attempts = ?, next_us = ? WHERE id = ?",
                                (attempts + 1, to_us(self.now + backoff), row_id))
            blocked.add(link)
        # wake when the first waiting message of some link is due (those behind it wait)
        (next_us,) = self.db.execute(
            "SELECT min(next_us) FROM outbox WHERE id IN (SELECT min(id) FROM outbox"
            " GROUP BY link)").fetchone()
        if next_us is not None:
            self._schedule_drain(max(from_us(next_us), self.now + timedelta(seconds=1)))

    # -- lifecycle -----------------------------------------------------------------------
    def book(self, loans: Iterable[Body]) -> None:
        """Book the scenario's loans when the world opens (the platform originated them)."""
        loan_rows = []
        installment_rows: list[tuple[Any, ...]] = []
        for body in loans:
            loan, installments = self._loan_rows(body)
            loan_rows.append(loan)
            installment_rows.extend(installments)
        with self.db:
            self._insert_loans(loan_rows, installment_rows)
        self.journal("loans_booked", loans=len(loan_rows), installments=len(installment_rows))

    def forget(self) -> None:
        self._cob_running = False
        self._drain_at = None
        self._rates = {}
        self._latest_effective = {}
        self._in_transit_rows = None

    def recover(self) -> None:
        """Resume unfinished batches, catch up missed business dates, re-arm the outbox."""
        (self._postings,) = self.db.execute("SELECT count(*) FROM postings").fetchone()
        (self._counter_payments,) = self.db.execute(
            "SELECT count(*) FROM postings WHERE payment_id LIKE 'CTR%'").fetchone()
        for day, stage, classified_us in self.db.execute(
                "SELECT business_date, stage, classified_us FROM cob WHERE stage != 'acted'"
                " ORDER BY business_date").fetchall():
            if stage == "classified":
                self.timer(self.now, self._gate, day)
            else:
                wait_end = from_us(classified_us) + self.policy.recon_max_wait
                self.timer(max(wait_end, self.now), self._act, day)
        local_now = self.env.clock.local()
        ran_today = local_now.time() >= self.policy.batch_at
        last_due = local_now.date() - timedelta(days=1 if ran_today else 2)
        (last_done,) = self.db.execute("SELECT max(business_date) FROM cob").fetchone()
        day = date.fromisoformat(last_done) + timedelta(days=1) if last_done else \
            self._first_business_date
        while day <= last_due:
            self.timer(self.now, self._run_batch, day)
            day += timedelta(days=1)
        self.timer(self._next_batch_instant(), self._daily_batch)
        if self.db.execute("SELECT 1 FROM outbox LIMIT 1").fetchone():
            self._schedule_drain(self.now)

    # -- final state, for invariants -----------------------------------------------------
    def postings_at_end(self) -> Rows:
        """Every posting, (posting_id, payment_id, amount, applied, refunded, received),
        in payment-id order, read from disk as it is iterated."""
        return Rows(self.disk,
                    "SELECT posting_id, payment_id, amount, applied, refunded, received_us"
                    " FROM postings ORDER BY payment_id, posting_id",
                    lambda row: (*row[:5], from_us(row[5])))
