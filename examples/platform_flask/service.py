"""The platform's business: loans in the app, repayments captured and relayed to the bank.

A repayment is captured at once — its value time is the capture instant — and
written together with an outbox entry in one transaction. The relay forwards it
to the bank ten minutes later with the payment id as ``Idempotency-Key`` and
retries with capped exponential backoff (1 minute, doubling, at most 1 hour)
until the bank answers. A repayment the bank refuses for good is given back to
the borrower (through the payment network) and the borrower is told by text.
Every day at 01:00 local time the bank gets the reconciliation file of the
previous day: every capture, forwarded or not, and the refunds; it is sent again,
with the same backoff, until the bank takes it (while the bank is unreachable, one
file probes and the others wait).

Jobs (relay, retries, files) run only when the clock is moved
(:meth:`Platform.run_due`); business time is the wall clock (:func:`now`).

``EXAMPLE_BUG=1`` plants the integration bug of the README: a forward that
cannot reach the bank (refused, timed out) is marked as forwarded anyway.
"""

from __future__ import annotations

import json
import logging
import os
import time as time_module
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import requests

from .signing import Signer
from .store import Store, from_us, to_us

__all__ = ["Platform", "Problem"]

log = logging.getLogger("platform")

FORWARD_AFTER = timedelta(minutes=10)
RETRY_FIRST = timedelta(minutes=1)
RETRY_CAP = timedelta(hours=1)
RECONCILE_AT = time(1, 0)
CURRENCY = {"CN": "CNY", "US": "USD"}
PAGE = 500


class Problem(Exception):
    """An answer with an RFC 9457 problem document."""

    def __init__(self, status: int, title: str, detail: str = "") -> None:
        super().__init__(detail or title)
        self.status, self.title, self.detail = status, title, detail


def now() -> datetime:
    """The wall clock, in UTC (read from the epoch clock: correct whatever zone the host,
    or a test harness, gives naive local times)."""
    return datetime.fromtimestamp(time_module.time(), UTC)


def backoff(attempts: int) -> timedelta:
    return min(RETRY_FIRST * (1 << min(attempts - 1, 20)), RETRY_CAP)


def refused_for_good(status: int) -> bool:
    return 400 <= status < 500 and status not in (408, 409, 429)


@dataclass
class Peers:
    bank: str = ""
    sms: str = ""
    payments: str = ""


class Platform:
    """One platform: its database, its peers and its jobs (fresh at every reset)."""

    def __init__(self, signer: Signer, peers: Peers, jurisdiction: str, tz: ZoneInfo,
                 clock: datetime) -> None:
        self.signer = signer
        self.peers = peers
        self.jurisdiction = jurisdiction
        self.tz = tz
        self.clock = clock
        self.store = Store()
        self.bug = os.environ.get("EXAMPLE_BUG") == "1"
        self.http = requests.Session()
        self.http.trust_env = False
        with self.store.transaction() as db:
            db.execute("INSERT INTO settings VALUES ('next_reconciliation', ?)",
                       (clock.astimezone(tz).date().isoformat(),))

    def close(self) -> None:
        self.http.close()
        self.store.close()

    # -- borrowers ---------------------------------------------------------------------
    def open_loan(self, body: dict[str, Any]) -> dict[str, Any]:
        loan_id = body["loan_id"]
        with self.store.transaction() as db:
            if db.execute("SELECT 1 FROM loans WHERE loan_id = ?", (loan_id,)).fetchone():
                raise Problem(409, "Loan exists", "a loan with this id is already open")
            db.execute("INSERT INTO loans VALUES (?,?,?,?,?,?)",
                       (loan_id, body["borrower"], body["phone"], body["principal"],
                        body["months"], body["disbursed"]))
        return {"loan_id": loan_id, "status": "open"}

    def list_loans(self, borrower: str) -> dict[str, Any]:
        rows = self.store.read("SELECT loan_id, principal, months, disbursed FROM loans"
                               " WHERE borrower = ? ORDER BY loan_id", (borrower,))
        return {"loans": [dict(zip(("loan_id", "principal", "months", "disbursed"), row,
                                   strict=True)) for row in rows]}

    def repay(self, body: dict[str, Any]) -> dict[str, Any]:
        """Capture the money now; the payment and its outbox entry commit together."""
        loan_id, amount = body["loan_id"], body["amount"]
        captured = now()
        value_time = captured.isoformat()
        with self.store.transaction() as db:
            if not db.execute("SELECT 1 FROM loans WHERE loan_id = ?", (loan_id,)).fetchone():
                raise Problem(404, "Unknown loan", "no loan with this id")
            (count,) = db.execute("SELECT count(*) FROM payments").fetchone()
            payment_id = f"PAY{count + 1:08d}"
            db.execute("INSERT INTO payments VALUES (?,?,?,?,?,'pending',NULL,NULL)",
                       (payment_id, loan_id, amount, value_time,
                        captured.astimezone(self.tz).date().isoformat()))
            forward = {"payment_id": payment_id, "loan_id": loan_id, "amount": amount,
                       "currency": CURRENCY[self.jurisdiction], "value_time": value_time}
            db.execute("INSERT INTO outbox (topic, ref, payload, next_us) VALUES (?,?,?,?)",
                       ("forward", payment_id, json.dumps(forward),
                        to_us(captured + FORWARD_AFTER)))
        log.info("captured %s on %s: %d", payment_id, loan_id, amount)
        return {"payment_id": payment_id, "loan_id": loan_id, "amount": amount,
                "value_time": value_time, "status": "accepted"}

    def list_payments(self, loan_id: str) -> dict[str, Any]:
        rows = self.store.read("SELECT payment_id, amount, value_time, status FROM payments"
                               " WHERE loan_id = ? ORDER BY payment_id", (loan_id,))
        return {"loan_id": loan_id, "payments": [
            dict(zip(("payment_id", "amount", "value_time", "status"), row, strict=True))
            for row in rows]}

    def list_pending(self, after: str, limit: int) -> dict[str, Any]:
        """Repayments still on their way to the bank (in the outbox), by payment id."""
        rows = self.store.read(
            "SELECT p.payment_id, p.loan_id, p.amount, p.value_time FROM payments p"
            " JOIN outbox o ON o.topic = 'forward' AND o.ref = p.payment_id"
            " WHERE p.payment_id > ? ORDER BY p.payment_id LIMIT ?", (after, limit + 1))
        page = [dict(zip(("payment_id", "loan_id", "amount", "value_time"), row, strict=True))
                for row in rows[:limit]]
        return {"payments": page, "next": page[-1]["payment_id"] if len(rows) > limit else None}

    def notice(self, body: dict[str, Any]) -> None:
        """The bank says an installment became overdue, or was cleared."""
        with self.store.transaction() as db:
            db.execute("INSERT INTO notices (loan_id, installment, kind, at_us) VALUES"
                       " (?,?,?,?)", (body["loan_id"], body["installment"], body["kind"],
                                      to_us(now())))

    # -- time ----------------------------------------------------------------------------
    def next_wakeup(self) -> datetime | None:
        """The next instant a job is due (the next daily file at the latest)."""
        (outbox, files) = self.store.one(
            "SELECT (SELECT min(next_us) FROM outbox),"
            " (SELECT min(next_us) FROM reconciliation WHERE status = 'pending')") or (None,
                                                                                      None)
        due = [from_us(int(v)) for v in (outbox, files) if v is not None]
        due.append(self._next_file_run())
        return min(due)

    def _next_file_run(self) -> datetime:
        row = self.store.one("SELECT value FROM settings WHERE name = 'next_reconciliation'")
        assert row is not None
        day = date.fromisoformat(str(row[0])) + timedelta(days=1)
        return datetime.combine(day, RECONCILE_AT, tzinfo=self.tz).astimezone(UTC)

    def run_due(self, until: datetime) -> None:
        """Run every job due at or before ``until``, oldest first, until none is."""
        limit = to_us(until)
        while True:
            file_run = self._next_file_run()
            row = self.store.one(
                "SELECT 'outbox', id, next_us FROM outbox WHERE next_us <= ?1 UNION ALL"
                " SELECT 'file', business_date, next_us FROM reconciliation"
                " WHERE status = 'pending' AND next_us <= ?1 ORDER BY 3, 2 LIMIT 1", (limit,))
            if file_run <= until and (row is None or to_us(file_run) <= int(row[2])):
                self._open_file()
            elif row is None:
                return
            elif row[0] == "outbox":
                self._send(int(row[1]))
            else:
                self._send_file(str(row[1]))

    # -- the relay -----------------------------------------------------------------------
    def _send(self, outbox_id: int) -> None:
        found = self.store.one("SELECT topic, ref, payload, attempts FROM outbox WHERE id = ?",
                               (outbox_id,))
        if found is None:
            return
        topic, ref, payload, attempts = str(found[0]), str(found[1]), str(found[2]), \
            int(str(found[3]))
        body = json.loads(payload)
        if topic == "forward":
            url = f"{self.peers.bank}/repayments"
            headers = {"Idempotency-Key": ref}
        elif topic == "give_back":
            url, headers = f"{self.peers.payments}/returns", {}
        else:
            url, headers = f"{self.peers.sms}/messages", {}
        try:
            answer = self._post(url, body, headers)
        except requests.RequestException as error:
            if self.bug and topic == "forward":
                # the bug: "the bank will have it" — marked forwarded though it never arrived
                log.warning("forward %s failed (%s); marking it forwarded", ref, error)
                with self.store.transaction() as db:
                    db.execute("UPDATE payments SET status = 'acked' WHERE payment_id = ?",
                               (ref,))
                    db.execute("DELETE FROM outbox WHERE id = ?", (outbox_id,))
                return
            self._retry(outbox_id, attempts, f"{type(error).__name__}")
            return
        if answer.ok:
            with self.store.transaction() as db:
                if topic == "forward":
                    db.execute("UPDATE payments SET status = 'acked', posting_id = ?"
                               " WHERE payment_id = ?", (answer.json().get("posting_id"), ref))
                db.execute("DELETE FROM outbox WHERE id = ?", (outbox_id,))
        elif refused_for_good(answer.status_code):
            if topic == "forward":
                self._refund(outbox_id, ref, body, answer.status_code)
            else:
                log.error("%s %s refused for good (%d): dropped", topic, ref,
                          answer.status_code)
                with self.store.transaction() as db:
                    db.execute("DELETE FROM outbox WHERE id = ?", (outbox_id,))
        else:
            self._retry(outbox_id, attempts, str(answer.status_code))

    def _retry(self, outbox_id: int, attempts: int, why: str) -> None:
        """Try again after a backoff; the others waiting for the same partner wait as long
        (a circuit breaker: one probe at a time while the partner is unreachable)."""
        wait = backoff(attempts + 1)
        retry_us = to_us(now() + wait)
        with self.store.transaction() as db:
            db.execute("UPDATE outbox SET attempts = ?, next_us = ? WHERE id = ?",
                       (attempts + 1, retry_us, outbox_id))
            db.execute("UPDATE outbox SET next_us = ? WHERE next_us < ? AND topic ="
                       " (SELECT topic FROM outbox WHERE id = ?)",
                       (retry_us, retry_us, outbox_id))
        log.info("outbox %d failed (%s): retry in %s", outbox_id, why, wait)

    def _refund(self, outbox_id: int, payment_id: str, forward: dict[str, Any],
                status: int) -> None:
        """The bank refused the repayment for good: the borrower gets the money back."""
        log.warning("bank refused %s for good (%d): refunding", payment_id, status)
        borrower, phone = self.store.one("SELECT borrower, phone FROM loans WHERE loan_id = ?",
                                         (forward["loan_id"],)) or ("", "")
        text = f"Your repayment {payment_id} was returned by the bank."
        with self.store.transaction() as db:
            db.execute("UPDATE payments SET status = 'refunded', refunded_on = ?"
                       " WHERE payment_id = ?",
                       (now().astimezone(self.tz).date().isoformat(), payment_id))
            db.execute("DELETE FROM outbox WHERE id = ?", (outbox_id,))
            due = to_us(now())
            db.execute("INSERT INTO outbox (topic, ref, payload, next_us) VALUES (?,?,?,?)",
                       ("give_back", payment_id, json.dumps(
                           {"payment_id": payment_id, "amount": forward["amount"]}), due))
            db.execute("INSERT INTO outbox (topic, ref, payload, next_us) VALUES (?,?,?,?)",
                       ("sms", payment_id, json.dumps({"sender": "platform", "messages": [
                           {"borrower": borrower, "phone": phone,
                            "reason": "repayment_refunded", "text": text}]}), due))

    # -- the daily reconciliation file --------------------------------------------------
    def _open_file(self) -> None:
        """01:00: the previous day's file is due; tomorrow's run is set."""
        row = self.store.one("SELECT value FROM settings WHERE name = 'next_reconciliation'")
        assert row is not None
        business_date = date.fromisoformat(str(row[0]))
        with self.store.transaction() as db:
            db.execute("INSERT OR IGNORE INTO reconciliation (business_date, status, next_us)"
                       " VALUES (?, 'pending', ?)", (business_date.isoformat(), to_us(now())))
            db.execute("UPDATE settings SET value = ? WHERE name = 'next_reconciliation'",
                       ((business_date + timedelta(days=1)).isoformat(),))

    def _send_file(self, business_date: str) -> None:
        entries = [dict(zip(("payment_id", "loan_id", "amount", "value_time"), row,
                            strict=True)) for row in self.store.read(
            "SELECT payment_id, loan_id, amount, value_time FROM payments"
            " WHERE captured_on = ? AND status != 'refunded' ORDER BY payment_id",
            (business_date,))]
        refunds = [dict(zip(("payment_id", "loan_id", "amount"), row, strict=True))
                   for row in self.store.read(
            "SELECT payment_id, loan_id, amount FROM payments WHERE refunded_on = ?"
            " ORDER BY payment_id", (business_date,))]
        body = {"business_date": business_date, "count": len(entries),
                "total": sum(int(e["amount"]) for e in entries), "entries": entries,
                "refunds": refunds}
        try:
            answer = self._post(f"{self.peers.bank}/reconciliation-files", body, {})
            status = answer.status_code
        except requests.RequestException:
            status = 0
        if 200 <= status < 300:
            with self.store.transaction() as db:
                db.execute("UPDATE reconciliation SET status = 'sent' WHERE business_date = ?",
                           (business_date,))
            return
        # the bank holds its day-end actions until the file is in: never give up on it; while
        # the bank is unreachable the other files wait as long (one probe, oldest first)
        log.info("reconciliation file %s not taken (%s): retrying", business_date,
                 status or "unreachable")
        (attempts,) = self.store.one("SELECT attempts FROM reconciliation WHERE"
                                     " business_date = ?", (business_date,)) or (0,)
        attempts = int(str(attempts)) + 1
        retry_us = to_us(now() + backoff(attempts))
        with self.store.transaction() as db:
            db.execute("UPDATE reconciliation SET attempts = ?, next_us = ? WHERE"
                       " business_date = ?", (attempts, retry_us, business_date))
            if not refused_for_good(status):
                db.execute("UPDATE reconciliation SET next_us = ? WHERE status = 'pending'"
                           " AND next_us < ?", (retry_us, retry_us))

    # -- calling partners ----------------------------------------------------------------
    def _post(self, url: str, body: dict[str, Any], headers: dict[str, str]
              ) -> requests.Response:
        data = json.dumps(body, separators=(",", ":")).encode()
        path = urlsplit(url).path
        signed = {**headers, "Content-Type": "application/json",
                  **self.signer.headers("POST", path, data, now())}
        return self.http.post(url, data=data, headers=signed, timeout=(5, 30))
