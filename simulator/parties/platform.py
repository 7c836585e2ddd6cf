"""The reference platform: the borrower's app, which captures repayments and forwards them.

Reference behaviour (README, "Reference behaviour"): a repayment is captured (its value time is
the capture instant), written with its outbox entry in one transaction,
forwarded to the bank with the payment id as the idempotency key, retried with
capped exponential backoff until acknowledged; every day at 01:00 a
reconciliation file lists the previous day's captures, forwarded or not.

Forwarding is an outbox relay, as a real platform runs one: a tick forwards every
repayment that is due, oldest first. When a forward fails (the link down, a 5xx, a
lost answer) the tick stops and the relay backs off the link: the repayment that
failed waits its backoff, and the ones behind it wait with it, so an outage costs one
probe per backoff step, not one call per pending repayment. Once the probe goes
through, the same tick forwards the rest. A repayment captured meanwhile waits for the
link too. The link's pause lives in memory: a crash forgets it and the restarted relay
probes at once.

Defects planted here: ``platform.no_retry``, ``platform.new_key_per_retry``,
``platform.outbox_not_durable``, ``platform.reconciliation_omits_pending``,
``platform.value_time_is_send_time``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import Any, NamedTuple

from simulator.core.instants import utc_iso
from simulator.engine.links import Body, Reply, Response
from simulator.parties.base import Env, Operation, Party, Problem
from simulator.parties.outbox import backoff, refused_for_good
from simulator.scenarios.model import PlatformPolicy

__all__ = ["Platform"]

RECON_AT = time(1, 0)

SCHEMA = """
CREATE TABLE loans (
    loan_id TEXT PRIMARY KEY, borrower TEXT NOT NULL, phone TEXT NOT NULL,
    principal INTEGER NOT NULL, months INTEGER NOT NULL, disbursed TEXT NOT NULL
);
CREATE TABLE payments (
    payment_id TEXT PRIMARY KEY, borrower TEXT NOT NULL, loan_id TEXT NOT NULL,
    amount INTEGER NOT NULL, value_time TEXT NOT NULL, captured_on TEXT NOT NULL,
    status TEXT NOT NULL,            -- pending | acked | refunded | abandoned
    posting_id TEXT,
    refunded_on TEXT                 -- local date of the refund
);
CREATE INDEX payments_refunded ON payments (refunded_on) WHERE refunded_on IS NOT NULL;
CREATE INDEX payments_day ON payments (captured_on);
CREATE INDEX payments_loan ON payments (loan_id);
CREATE TABLE outbox (
    payment_id TEXT PRIMARY KEY, attempts INTEGER NOT NULL, next_at TEXT NOT NULL
);
CREATE INDEX outbox_next ON outbox (next_at);
CREATE TABLE reconciliation (
    business_date TEXT PRIMARY KEY, status TEXT NOT NULL,   -- pending | sent
    attempts INTEGER NOT NULL, next_at TEXT NOT NULL
);
CREATE TABLE notices (
    seq INTEGER PRIMARY KEY, loan_id TEXT NOT NULL, installment INTEGER NOT NULL,
    kind TEXT NOT NULL, at TEXT NOT NULL
);
"""



class _Pending(NamedTuple):
    """A repayment waiting to be forwarded: an outbox row with its payment's facts."""

    payment_id: str
    loan_id: str
    amount: int
    value_time: str
    attempts: int
    next_at: datetime


class Platform(Party):
    """The intermediary platform."""

    name = "platform"
    SCHEMA = SCHEMA

    def __init__(self, env: Env, policy: PlatformPolicy, first_business_date: date) -> None:
        super().__init__(env)
        self.policy = policy
        self._first_business_date = first_business_date
        # platform.outbox_not_durable keeps pending forwards here instead of the database
        self._memory_outbox: dict[str, _Pending] = {}
        # the relay's next tick and the link's pause after a failed forward (in memory:
        # forgotten in a crash); a tick whose number is not the latest was superseded
        self._relay_at: datetime | None = None
        self._relay_ticks = 0
        self._paused_until: datetime | None = None
        # the repayment whose failed forward paused the link, and those journaled as held
        # behind it (each once, until it is forwarded)
        self._paused_by = ""
        self._held: set[str] = set()
        # caches of immutable facts, rebuilt from the database by recover()
        self._borrower_of: dict[str, str] = {}
        self._payments = 0

    def routes(self) -> dict[str, Operation]:
        return {
            "open_loan": self.op_open_loan,
            "repay": self.op_repay,
            "list_loans": self.op_list_loans,
            "list_payments": self.op_list_payments,
            "list_pending": self.op_list_pending,
            "installment_overdue": self.op_notice,
            "installment_cleared": self.op_notice,
        }

    # -- borrower-facing operations ----------------------------------------------
    def op_open_loan(self, body: Body, headers: Mapping[str, str]) -> Response:
        if body["loan_id"] in self._borrower_of:
            raise Problem(409, "Loan exists", f"loan {body['loan_id']} is already open")
        with self.db:
            self.db.execute(
                "INSERT INTO loans VALUES (?,?,?,?,?,?)",
                (body["loan_id"], body["borrower"], body["phone"], body["principal"],
                 body["months"], body["disbursed"]),
            )
        self._borrower_of[body["loan_id"]] = body["borrower"]
        return Response(201, {"loan_id": body["loan_id"], "status": "open"})

    def op_repay(self, body: Body, headers: Mapping[str, str]) -> Response:
        """Capture a repayment: payment and outbox entry commit together."""
        loan_id = body["loan_id"]
        amount = body["amount"]
        if not isinstance(amount, int) or amount <= 0:
            raise Problem(422, "Invalid amount", "amount must be a positive number of minor units")
        borrower = self._borrower_of.get(loan_id)
        if borrower is None:
            raise Problem(404, "Unknown loan", f"no loan {loan_id}")
        now = self.now
        value_time = utc_iso(now)
        local_day = now.astimezone(self.env.clock.tz).date().isoformat()
        payment_id = f"PAY{self._payments + 1:08d}"
        forward_at = now + self.policy.forward_after
        with self.db:
            self.db.execute(
                "INSERT INTO payments VALUES (?,?,?,?,?,?,'pending',NULL,NULL)",
                (payment_id, borrower, loan_id, amount, value_time, local_day),
            )
            if self.defect("outbox_not_durable"):
                self._memory_outbox[payment_id] = _Pending(
                    payment_id, loan_id, amount, value_time, 0, forward_at)
            else:
                self.db.execute("INSERT INTO outbox VALUES (?,0,?)",
                                (payment_id, utc_iso(forward_at)))
        self._payments += 1
        self.journal("captured", payment_id=payment_id, loan_id=loan_id, amount=amount)
        if self._paused_until is not None and forward_at < self._paused_until:
            self._hold(payment_id)
        self._schedule_relay(forward_at)
        return Response(201, {"payment_id": payment_id, "loan_id": loan_id, "amount": amount,
                              "value_time": value_time, "status": "accepted"})

    def op_list_loans(self, body: Body, headers: Mapping[str, str]) -> Response:
        rows = self.db.execute(
            "SELECT loan_id, principal, months, disbursed FROM loans WHERE borrower = ?"
            " ORDER BY loan_id", (body["borrower"],)).fetchall()
        return Response(200, {"loans": [
            {"loan_id": r[0], "principal": r[1], "months": r[2], "disbursed": r[3]}
            for r in rows]})

    def op_list_payments(self, body: Body, headers: Mapping[str, str]) -> Response:
        """The bank asks which repayments the platform captured for a loan (disputes)."""
        rows = self.db.execute(
            "SELECT payment_id, amount, value_time, status FROM payments WHERE loan_id = ?"
            " ORDER BY payment_id", (body["loan_id"],)).fetchall()
        return Response(200, {"loan_id": body["loan_id"], "payments": [
            {"payment_id": r[0], "amount": r[1], "value_time": r[2], "status": r[3]}
            for r in rows]})

    def op_list_pending(self, body: Body, headers: Mapping[str, str]) -> Response:
        """A page of the repayments still to be forwarded (in the outbox), by payment id."""
        after = str(body.get("after", ""))
        limit = int(body.get("limit", 500))
        if not 1 <= limit <= 1000:
            raise Problem(422, "Invalid request", "list_pending: limit must be 1 to 1000")
        held = set(self._memory_outbox)
        rows = self.db.execute(
            "SELECT payment_id, loan_id, amount, value_time FROM payments WHERE payment_id > ?"
            " AND (payment_id IN (SELECT payment_id FROM outbox) OR payment_id IN"
            " (SELECT value FROM json_each(?))) ORDER BY payment_id LIMIT ?",
            (after, json.dumps(sorted(held)), limit + 1)).fetchall()
        page = [{"payment_id": r[0], "loan_id": r[1], "amount": r[2], "value_time": r[3]}
                for r in rows[:limit]]
        return Response(200, {"payments": page,
                              "next": page[-1]["payment_id"] if len(rows) > limit else None})

    def op_notice(self, body: Body, headers: Mapping[str, str]) -> Response:
        """A bank callback: an installment became overdue, or was cleared."""
        with self.db:
            self.db.execute(
                "INSERT INTO notices (loan_id, installment, kind, at) VALUES (?,?,?,?)",
                (body["loan_id"], body["installment"], body["kind"], utc_iso(self.now)))
        return Response(204, {})

    # -- forwarding: the outbox relay --------------------------------------------
    def _schedule_relay(self, at: datetime) -> None:
        """Tick at ``at`` (or when the link's pause ends), unless a tick comes earlier."""
        if self._paused_until is not None and at < self._paused_until:
            at = self._paused_until
        if self._relay_at is not None and self._relay_at <= at:
            return
        self._relay_at = at
        self._relay_ticks += 1
        self.timer(at, self._relay, self._relay_ticks)

    def _relay(self, tick: int) -> None:
        """Forward every repayment due, oldest first; stop at the first failed forward."""
        if tick != self._relay_ticks:
            return  # an earlier tick was scheduled after this one: it ran instead
        self._relay_at = self._paused_until = None  # a tick never runs before the pause ends
        for pending in self._outbox(due_by=self.now):
            reply = self._forward(pending)
            if not self.up:
                return  # the platform crashed meanwhile: its timers died with it
            self._held.discard(pending.payment_id)
            retry_at = self._on_forward_reply(pending, reply)
            if retry_at is not None:
                # the link failed: this repayment waits, and so does every other one that
                # falls due before it is tried again
                self._paused_until, self._paused_by = retry_at, pending.payment_id
                for other in self._outbox(due_by=retry_at, before=True):
                    if other.payment_id != pending.payment_id:
                        self._hold(other.payment_id)
                self._schedule_relay(retry_at)
                return
        upcoming = self._next_due()
        if upcoming is not None:
            self._schedule_relay(upcoming)

    def _hold(self, payment_id: str) -> None:
        """Journal, once, that a repayment waits for the paused link (its timeline says why
        it is not forwarded)."""
        if payment_id in self._held:
            return
        self._held.add(payment_id)
        self.journal("forward_held", payment_id=payment_id, behind=self._paused_by,
                     until=self._paused_until)

    def _outbox(self, due_by: datetime, *, before: bool = False) -> list[_Pending]:
        """The repayments to be forwarded by ``due_by`` (or ``before`` it), oldest first:
        from the durable outbox, or memory under ``platform.outbox_not_durable``. (The
        outbox's instants are :func:`utc_iso` text, which sorts as the instants do.)"""
        bound = "<" if before else "<="
        waiting = [
            _Pending(payment_id, loan_id, amount, value_time, attempts,
                     datetime.fromisoformat(next_at))
            for payment_id, loan_id, amount, value_time, attempts, next_at in self.db.execute(
                "SELECT p.payment_id, p.loan_id, p.amount, p.value_time, o.attempts, o.next_at"
                f" FROM outbox o JOIN payments p USING (payment_id) WHERE o.next_at {bound} ?"
                " ORDER BY payment_id", (utc_iso(due_by),))]
        if self._memory_outbox:
            waiting = sorted([*waiting, *(
                p for p in self._memory_outbox.values()
                if p.next_at < due_by or (p.next_at == due_by and not before))])
        return waiting

    def _next_due(self) -> datetime | None:
        """When the first repayment still to be forwarded falls due (None: none is)."""
        (first,) = self.db.execute("SELECT min(next_at) FROM outbox").fetchone()
        instants = [p.next_at for p in self._memory_outbox.values()]
        if first is not None:
            instants.append(datetime.fromisoformat(first))
        return min(instants, default=None)

    def _forward(self, pending: _Pending) -> Reply:
        """Forward one repayment to the bank."""
        payment_id = pending.payment_id
        value_time = utc_iso(self.now) if self.defect("value_time_is_send_time") else \
            pending.value_time
        key = payment_id
        if pending.attempts and self.defect("new_key_per_retry"):
            key = f"{payment_id}-{pending.attempts}"
        body = {"payment_id": payment_id, "loan_id": pending.loan_id, "amount": pending.amount,
                "currency": self.env.jurisdiction.currency, "value_time": value_time}
        headers = {"Idempotency-Key": key}
        return self.env.link("platform->bank").call("post_repayment", body, headers,
                                                    ref=payment_id)

    def _on_forward_reply(self, pending: _Pending, reply: Reply) -> datetime | None:
        """Record what became of a forward; the instant of its retry if it is to be retried
        (the link failed), else None."""
        payment_id = pending.payment_id
        response = reply.response
        if reply.ok and response is not None:
            with self.db:
                self.db.execute(
                    "UPDATE payments SET status = 'acked', posting_id = ? WHERE payment_id = ?",
                    (response.body.get("posting_id"), payment_id))
                self.db.execute("DELETE FROM outbox WHERE payment_id = ?", (payment_id,))
            self._memory_outbox.pop(payment_id, None)
            return None
        status = reply.status
        if status is not None and refused_for_good(status):
            self._refund(payment_id, pending.amount, status)
            return None
        if self.defect("no_retry"):
            with self.db:
                self.db.execute("UPDATE payments SET status = 'abandoned' WHERE payment_id = ?",
                                (payment_id,))
                self.db.execute("DELETE FROM outbox WHERE payment_id = ?", (payment_id,))
            self._memory_outbox.pop(payment_id, None)
            self.journal("forward_abandoned", payment_id=payment_id)
            return None
        attempts = pending.attempts + 1
        next_at = self.now + self._backoff(attempts)
        if self.defect("outbox_not_durable"):
            self._memory_outbox[payment_id] = pending._replace(attempts=attempts,
                                                               next_at=next_at)
        else:
            with self.db:
                self.db.execute("UPDATE outbox SET attempts = ?, next_at = ? WHERE payment_id = ?",
                                (attempts, utc_iso(next_at), payment_id))
        return next_at

    def _backoff(self, attempts: int) -> timedelta:
        return backoff(attempts, self.policy.retry_first, self.policy.retry_max)

    def _refund(self, payment_id: str, amount: int, status: int) -> None:
        """The bank refused the repayment for good: give the borrower the money back."""
        with self.db:
            self.db.execute(
                "UPDATE payments SET status = 'refunded', refunded_on = ? WHERE payment_id = ?",
                (self.env.clock.local().date().isoformat(), payment_id))
            self.db.execute("DELETE FROM outbox WHERE payment_id = ?", (payment_id,))
        self.env.network.give_back(payment_id, amount, by=self.name)
        self._memory_outbox.pop(payment_id, None)
        self.journal("refunded", payment_id=payment_id, amount=amount, bank_status=status)
        borrower, phone = self.db.execute(
            "SELECT p.borrower, l.phone FROM payments p JOIN loans l USING (loan_id)"
            " WHERE p.payment_id = ?", (payment_id,)).fetchone()
        self.env.link("platform->sms").call("send_batch", {"sender": "platform", "messages": [
            {"borrower": borrower, "phone": phone, "reason": "repayment_refunded",
             "text": f"Your repayment {payment_id} was returned by the bank."}]}, ref=payment_id)

    # -- reconciliation ----------------------------------------------------------
    def _schedule_reconciliation(self) -> None:
        local_now = self.env.clock.local()
        today_run = datetime.combine(local_now.date(), RECON_AT, tzinfo=self.env.clock.tz)
        run_at = today_run if today_run > local_now else today_run + timedelta(days=1)
        self.timer(run_at, self._daily_reconciliation)

    def _daily_reconciliation(self) -> None:
        business_date = self.env.clock.local().date() - timedelta(days=1)
        with self.db:
            self.db.execute("INSERT OR IGNORE INTO reconciliation VALUES (?, 'pending', 0, ?)",
                            (business_date.isoformat(), utc_iso(self.now)))
        self._send_reconciliation(business_date.isoformat())
        self._schedule_reconciliation()

    def _send_reconciliation(self, business_date: str) -> None:
        """Send the file of ``business_date`` unless it was sent."""
        row = self.db.execute(
            "SELECT status, attempts FROM reconciliation WHERE business_date = ?",
            (business_date,)).fetchone()
        if row is None or row[0] == "sent":
            return
        # the day's captures and refunds in one read: a file entry is a capture not given
        # back; a refund is one given back that day (both in payment-id order)
        listed = "captured_on = ? AND status != 'refunded'"
        if self.defect("reconciliation_omits_pending"):
            listed += " AND status = 'acked'"
        entries: list[dict[str, Any]] = []
        refunds: list[dict[str, Any]] = []
        for payment_id, loan_id, amount, value_time, entry, refund in self.db.execute(
                f"SELECT payment_id, loan_id, amount, value_time, {listed}, refunded_on = ?"
                " FROM payments WHERE captured_on = ? OR refunded_on = ? ORDER BY payment_id",
                (business_date,) * 4):
            if entry:
                entries.append({"payment_id": payment_id, "loan_id": loan_id, "amount": amount,
                                "value_time": value_time})
            if refund:
                refunds.append({"payment_id": payment_id, "loan_id": loan_id, "amount": amount})
        body = {"business_date": business_date, "count": len(entries),
                "total": sum(e["amount"] for e in entries), "entries": entries,
                "refunds": refunds}
        reply = self.env.link("recon").call("submit_reconciliation", body, ref=business_date)
        if reply.ok:
            with self.db:
                self.db.execute(
                    "UPDATE reconciliation SET status = 'sent' WHERE business_date = ?",
                    (business_date,))
            return
        attempts = int(row[1]) + 1
        next_at = self.now + self._backoff(attempts)
        with self.db:
            self.db.execute(
                "UPDATE reconciliation SET attempts = ?, next_at = ? WHERE business_date = ?",
                (attempts, utc_iso(next_at), business_date))
        self.timer(next_at, self._send_reconciliation, business_date)

    # -- lifecycle ---------------------------------------------------------------
    def forget(self) -> None:
        self._memory_outbox = {}
        self._borrower_of = {}
        self._relay_at = self._paused_until = None
        self._held = set()

    def recover(self) -> None:
        """Re-arm the relay and reconciliation files from the database; catch up missed
        days."""
        self._borrower_of = dict(self.db.execute("SELECT loan_id, borrower FROM loans"))
        (self._payments,) = self.db.execute("SELECT count(*) FROM payments").fetchone()
        upcoming = self._next_due()
        if upcoming is not None:
            self._schedule_relay(max(upcoming, self.now))
        local_now = self.env.clock.local()
        last_due = local_now.date() - timedelta(days=1 if local_now.time() >= RECON_AT else 2)
        (last_known,) = self.db.execute("SELECT max(business_date) FROM reconciliation").fetchone()
        day = (date.fromisoformat(last_known) + timedelta(days=1)) if last_known else \
            self._first_business_date
        with self.db:
            while day <= last_due:
                self.db.execute("INSERT OR IGNORE INTO reconciliation VALUES (?,'pending',0,?)",
                                (day.isoformat(), utc_iso(self.now)))
                day += timedelta(days=1)
        for (business_date,) in self.db.execute(
                "SELECT business_date FROM reconciliation WHERE status = 'pending'"
                " ORDER BY business_date").fetchall():
            self.timer(self.now, self._send_reconciliation, business_date)
        self._schedule_reconciliation()

    # -- final state, for invariants ---------------------------------------------
    def in_transit(self) -> dict[str, int]:
        """Payments still waiting to be forwarded (durable outbox or, if not durable, memory)."""
        pending = dict(self.disk.execute(
            "SELECT p.payment_id, p.amount FROM outbox o JOIN payments p USING (payment_id)"
        ).fetchall())
        for payment_id, held in self._memory_outbox.items():
            pending[payment_id] = held.amount
        return pending

