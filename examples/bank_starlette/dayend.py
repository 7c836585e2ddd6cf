"""The bank's day: the day-end batch, reconciliation files, bureau reports, disputes, relay.

* **Day-end batch**, at 00:30 local time for the day just ended: every unpaid
  installment past its grace days gets its days past due. Then the bank *acts* —
  texts the borrower, tells the platform, reports to the bureau — but only once
  the platform's reconciliation file for that day is in and every earlier day
  has acted (business dates act in order), or after waiting :data:`RECON_WAIT`
  for it. A repayment listed in a file with an on-time value time counts as
  paid while it is in transit; a late one stops the days past due at its value
  time.
* **Reporting**: CN — every night, from 1 day past due; US — at each month's
  end, from 30 days past due. At each month's end every installment due so far
  that the bureau has not heard of is reported current.
* **Disputes**: the bureau asks to verify a period; the bank first asks the
  platform which repayments it captured (some may still be on their way).
* **Relay**: messages to partners wait in the outbox, written with their cause;
  they are sent in order per partner and retried with capped exponential
  backoff (1 minute, doubling, at most 1 hour); a message refused for good
  (a 4xx other than 408, 409, 429) is dropped.

Nothing runs by itself: :meth:`Bank.run_due` runs what is due when the clock moves.
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
from ledger import Ledger, Problem
from signing import Signer
from store import from_us, to_us

__all__ = ["Bank"]

log = logging.getLogger("bank")

DAY_END = time(0, 30)
RECON_WAIT = timedelta(days=3)
RETRY_FIRST = timedelta(minutes=1)
RETRY_CAP = timedelta(hours=1)


def _backoff(attempts: int) -> timedelta:
    return min(RETRY_FIRST * (1 << min(attempts - 1, 20)), RETRY_CAP)


class Bank(Ledger):
    """A bank: its ledger, its day and its partners."""

    def __init__(self, *args: Any, signer: Signer, peers: dict[str, str]) -> None:
        super().__init__(*args)
        self.signer = signer
        self.peers = peers
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        with self.store.transaction() as db:
            db.execute("INSERT INTO settings VALUES ('next_day_end', ?)",
                       (self.local_date().isoformat(),))

    def close(self) -> None:
        for session in self._sessions:
            session.close()
        self.store.close()

    # -- reconciliation files ----------------------------------------------------------
    def submit_reconciliation(self, body: dict[str, Any]) -> dict[str, Any]:
        day, entries = body["business_date"], body["entries"]
        if len(entries) != body["count"] or sum(e["amount"] for e in entries) != body["total"]:
            raise Problem(422, "Inconsistent file", "count or total does not match the entries")
        with self.store.transaction() as db:
            if db.execute("SELECT 1 FROM reconciliation_files WHERE business_date = ?",
                          (day,)).fetchone() is None:
                posted = {row[0] for row in db.execute(
                    "SELECT payment_id FROM postings WHERE payment_id IN (SELECT value FROM"
                    " json_each(?))", (json.dumps([e["payment_id"] for e in entries]),))}
                pending = [(e["payment_id"], e["loan_id"], e["amount"],
                            to_us(datetime.fromisoformat(e["value_time"])))
                           for e in entries if e["payment_id"] not in posted]
                db.executemany("INSERT OR IGNORE INTO in_transit VALUES (?,?,?,?)", pending)
                db.executemany("DELETE FROM in_transit WHERE payment_id = ?",
                               [(r["payment_id"],) for r in body.get("refunds", [])])
                db.execute("INSERT INTO reconciliation_files VALUES (?,?,?,?,?,?)",
                           (day, to_us(self.clock), len(entries), body["total"],
                            len(entries) - len(pending), len(pending)))
                # a batch waiting for this file acts now
                db.execute("UPDATE day_end SET act_us = ? WHERE business_date = ?"
                           " AND stage = 'waiting'", (to_us(self.clock), day))
        return self.reconciliation(day)

    def reconciliation(self, day: str) -> dict[str, Any]:
        row = self.store.one("SELECT count, total, matched, in_transit FROM"
                             " reconciliation_files WHERE business_date = ?", (day,))
        if row is None:
            raise Problem(404, "Unknown file", "no reconciliation file for that date")
        return {"business_date": day, "count": row[0], "total": row[1], "matched": row[2],
                "in_transit": row[3], "status": "received"}

    def _covered(self, db: Any, loan_id: str, number: int, due_end_us: int) -> bool:
        """Do repayments known to be in transit, captured on time, pay this installment?"""
        (available,) = db.execute("SELECT coalesce(sum(amount), 0) FROM in_transit"
                                  " WHERE loan_id = ? AND value_us < ?",
                                  (loan_id, due_end_us)).fetchone()
        if not available:
            return False
        (owed,) = db.execute("SELECT coalesce(sum(principal + interest - paid), 0) FROM"
                             " installments WHERE loan_id = ? AND number <= ?",
                             (loan_id, number)).fetchone()
        (tolerance,) = db.execute("SELECT tolerance FROM loans WHERE loan_id = ?",
                                  (loan_id,)).fetchone()
        return bool(owed - available <= tolerance)

    def _in_transit_dpd(self, db: Any, loan_id: str, number: int, grace_end: int,
                        dpd: int) -> int:
        """Days past due of an unpaid installment, stopped at the value time of the
        repayments in transit that settle it (with those before it); ``dpd`` if none do."""
        (owed,) = db.execute("SELECT coalesce(sum(principal + interest - paid), 0) FROM"
                             " installments WHERE loan_id = ? AND number <= ?",
                             (loan_id, number)).fetchone()
        (tolerance,) = db.execute("SELECT tolerance FROM loans WHERE loan_id = ?",
                                  (loan_id,)).fetchone()
        available = 0
        for amount, value_us in db.execute("SELECT amount, value_us FROM in_transit WHERE"
                                           " loan_id = ? ORDER BY value_us", (loan_id,)):
            available += amount
            if owed - available <= tolerance:
                paid_on = self.local_date(from_us(value_us)).toordinal()
                return min(dpd, max(paid_on - grace_end, 0))
        return dpd

    # -- the day-end batch -------------------------------------------------------------
    def _next_day_end(self) -> tuple[date, datetime]:
        (text,) = self.store.one("SELECT value FROM settings WHERE name = 'next_day_end'") \
            or ("",)
        day = date.fromisoformat(text)
        return day, datetime.combine(day + timedelta(days=1), DAY_END, tzinfo=self.tz)

    def _classify(self, day: date) -> None:
        """Days past due of every unpaid installment late by the end of ``day``."""
        ordinal = day.toordinal()
        with self.store.transaction() as db:
            db.execute("UPDATE installments SET max_dpd = max(max_dpd, ? + 1 - grace_end)"
                       " WHERE settled_us IS NULL AND grace_end <= ?", (ordinal, ordinal))
            received = db.execute("SELECT 1 FROM reconciliation_files WHERE business_date = ?",
                                  (day.isoformat(),)).fetchone() is not None
            act_at = self.clock if received else self.clock + RECON_WAIT
            db.execute("INSERT INTO day_end VALUES (?, 'waiting', ?)",
                       (day.isoformat(), to_us(act_at)))
            db.execute("UPDATE settings SET value = ? WHERE name = 'next_day_end'",
                       ((day + timedelta(days=1)).isoformat(),))

    def _act(self, day_text: str) -> None:
        """Texts, platform notices and bureau records for business date ``day_text``."""
        day = date.fromisoformat(day_text)
        month_end = (day + timedelta(days=1)).day == 1
        report_now = self.jurisdiction == "CN" or month_end
        messages: list[dict[str, Any]] = []
        records: list[dict[str, Any]] = []
        with self.store.transaction() as db:
            for (loan_id, number, period, due_end_us, grace_end, max_dpd, settled_us, warned,
                 borrower, phone, subject) in db.execute(
                    "SELECT i.loan_id, i.number, i.period, i.due_end_us, i.grace_end,"
                    " i.max_dpd, i.settled_us, i.warned, l.borrower, l.phone, l.subject_id"
                    " FROM installments i JOIN loans l USING (loan_id) WHERE i.closed = 0"
                    " AND (i.reported IS NULL OR i.reported != 'overdue') AND i.grace_end <= ?"
                    " AND (i.settled_us IS NULL OR i.settled_us >= i.due_end_us)"
                    " ORDER BY i.loan_id, i.number", (day.toordinal(),)).fetchall():
                if settled_us is None:
                    if max_dpd < 1 or self._covered(db, loan_id, number, due_end_us):
                        continue
                    # paid late and still in transit: the warning is true; it is delinquent
                    # only as late as the repayment was (none if before the threshold)
                    dpd = self._in_transit_dpd(db, loan_id, number, grace_end, max_dpd)
                    if not warned:
                        messages.append({"borrower": borrower, "phone": phone,
                                         "loan_id": loan_id, "installment": number,
                                         "reason": "overdue_warning",
                                         "text": f"Installment {number} of loan {loan_id}"
                                                 " is overdue."})
                        self.enqueue(db, "platform", "/callbacks/installment-overdue",
                                     {"loan_id": loan_id, "installment": number,
                                      "kind": "overdue"})
                        db.execute("UPDATE installments SET warned = 1 WHERE loan_id = ? AND"
                                   " number = ?", (loan_id, number))
                else:  # settled late: how late it was when paid
                    dpd = self.local_date(from_us(settled_us)).toordinal() - grace_end
                    if dpd < self.threshold:
                        db.execute("UPDATE installments SET closed = 1 WHERE loan_id = ? AND"
                                   " number = ?", (loan_id, number))
                        continue
                if dpd >= self.threshold and report_now:
                    records.append({"subject_id": subject, "account": loan_id,
                                    "installment": number, "period": period,
                                    "status": "overdue", "days_past_due": dpd,
                                    "correction": False})
                    db.execute("UPDATE installments SET reported = 'overdue' WHERE"
                               " loan_id = ? AND number = ?", (loan_id, number))
            if month_end:
                for loan_id, number, period, subject in db.execute(
                        "SELECT i.loan_id, i.number, i.period, l.subject_id FROM installments i"
                        " JOIN loans l USING (loan_id) WHERE i.reported IS NULL AND"
                        " i.due_date <= ? ORDER BY i.loan_id, i.number", (day_text,)).fetchall():
                    records.append({"subject_id": subject, "account": loan_id,
                                    "installment": number, "period": period,
                                    "status": "current", "days_past_due": 0,
                                    "correction": False})
                db.execute("UPDATE installments SET reported = 'current' WHERE reported IS NULL"
                           " AND due_date <= ?", (day_text,))
            if messages:
                self.enqueue(db, "sms", "/messages", {"sender": "bank", "messages": messages})
            for first in range(0, len(records), 1000):
                self.enqueue(db, "bureau", "/reports",
                             {"furnisher": "bank", "records": records[first:first + 1000]})
            db.execute("UPDATE day_end SET stage = 'acted' WHERE business_date = ?",
                       (day_text,))
        log.info("day-end %s: %d texts, %d records", day_text, len(messages), len(records))

    # -- disputes ------------------------------------------------------------------------
    def verify_dispute(self, body: dict[str, Any]) -> dict[str, Any]:
        account, period = body["account"], body["period"]
        if self.store.one("SELECT 1 FROM loans WHERE loan_id = ?", (account,)) is None:
            raise Problem(404, "Unknown account", "no account with this id")
        try:
            answer = self._http("GET", f"{self.peers.get('platform', '')}/loans/{account}"
                                       "/payments")
            captured = answer.json()["payments"] if answer.status_code == 200 else None
        except (requests.RequestException, ValueError, KeyError):
            captured = None
        if captured is None:  # what the books alone say may be what is disputed
            raise Problem(503, "Verification unavailable",
                          "the platform's repayments could not be read; ask again later")
        records = []
        with self.store.transaction() as db:
            known = {row[0] for row in db.execute(
                "SELECT payment_id FROM postings WHERE loan_id = ?", (account,))}
            db.executemany("INSERT OR IGNORE INTO in_transit VALUES (?,?,?,?)", [
                (p["payment_id"], account, p["amount"],
                 to_us(datetime.fromisoformat(p["value_time"])))
                for p in captured if p["payment_id"] not in known
                and p["status"] not in ("refunded", "abandoned")])
            for number, due_end_us, grace_end, max_dpd, settled_us, reported in db.execute(
                    "SELECT number, due_end_us, grace_end, max_dpd, settled_us, reported FROM"
                    " installments WHERE loan_id = ? AND period = ? ORDER BY number",
                    (account, period)).fetchall():
                on_time = settled_us is not None and settled_us < due_end_us
                dpd = self._in_transit_dpd(db, account, number, grace_end, max_dpd) \
                    if settled_us is None else \
                    self.local_date(from_us(settled_us)).toordinal() - grace_end  # when paid
                late = dpd >= self.threshold and not on_time
                status = "overdue" if late else "current"
                if reported is not None and reported != status:
                    db.execute("UPDATE installments SET reported = ? WHERE loan_id = ? AND"
                               " number = ?", (status, account, number))
                records.append({"installment": number, "period": period, "status": status,
                                "days_past_due": dpd if late else 0})
        return {"dispute_id": body["dispute_id"], "account": account, "period": period,
                "records": records}

    # -- time -----------------------------------------------------------------------------
    def next_wakeup(self) -> datetime:
        """The next instant work is due: a message, a batch's action, the next batch."""
        waiting, outbox = self.store.one(
            "SELECT (SELECT act_us FROM day_end WHERE stage = 'waiting' ORDER BY"
            " business_date LIMIT 1), (SELECT min(next_us) FROM outbox WHERE id IN"
            " (SELECT min(id) FROM outbox GROUP BY peer))") or (None, None)
        due = [from_us(v) for v in (waiting, outbox) if v is not None]
        due.append(self._next_day_end()[1])
        return min(due)

    def run_due(self) -> None:
        """Everything due at or before the clock, in order, until nothing is."""
        now_us = to_us(self.clock)
        blocked: set[str] = set()
        while True:
            day, batch_at = self._next_day_end()
            # business dates act in order: an earlier day's file may list a repayment in
            # transit that a later day's actions must count
            act = self.store.one("SELECT business_date, act_us FROM day_end WHERE"
                                 " stage = 'waiting' ORDER BY business_date LIMIT 1")
            if act is not None and act[1] > now_us:
                act = None
            if batch_at <= self.clock and (act is None or to_us(batch_at) <= act[1]):
                self._classify(day)
                continue
            if act is not None:
                self._act(act[0])
                continue
            message = self.store.one(
                "SELECT id, peer, path, payload, attempts FROM outbox WHERE id IN (SELECT"
                " min(id) FROM outbox GROUP BY peer) AND next_us <= ? AND peer NOT IN"
                " (SELECT value FROM json_each(?)) ORDER BY next_us, id LIMIT 1",
                (now_us, json.dumps(sorted(blocked))))
            if message is None:
                return
            if not self._deliver(*message):
                blocked.add(message[1])

    def _deliver(self, message_id: int, peer: str, path: str, payload: str,
                 attempts: int) -> bool:
        try:
            status = self._http("POST", f"{self.peers.get(peer, '')}{path}",
                                payload.encode()).status_code
        except requests.RequestException:
            status = 0
        if 200 <= status < 300 or (400 <= status < 500 and status not in (408, 409, 429)):
            if status >= 300:
                log.error("%s%s refused for good (%d): dropped", peer, path, status)
            with self.store.transaction() as db:
                db.execute("DELETE FROM outbox WHERE id = ?", (message_id,))
            return True
        with self.store.transaction() as db:
            db.execute("UPDATE outbox SET attempts = ?, next_us = ? WHERE id = ?",
                       (attempts + 1, to_us(self.clock + _backoff(attempts + 1)), message_id))
        return False

    def _http(self, method: str, url: str, data: bytes = b"") -> requests.Response:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            session.trust_env = False
            self._sessions.append(session)
        headers = self.signer.headers(method, urlsplit(url).path, data, self.clock)
        if data:
            headers["Content-Type"] = "application/json"
        return session.request(method, url, data=data or None, headers=headers,
                               timeout=(5, 30))
