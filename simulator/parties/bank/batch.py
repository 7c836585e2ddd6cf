"""The bank's day-end batch (COB) and the reconciliation files it waits for.

The batch runs at ``batch_at`` for the previous business date in two stages:
*classify* (days past due, penalty interest of every unpaid installment), then
*act* (overdue text messages, bureau delinquencies) — but only once that
day's reconciliation file from the platform has arrived and every earlier day has
acted (an earlier file may list a repayment still in transit), or after
``recon_max_wait``. A repayment listed in a file with an on-time value time
counts as paid while its transfer is pending; one made before the reporting
threshold keeps its installment from being reported delinquent (late, but not
delinquent). CN reports every night from 1
day past due, plus a monthly status of every installment due; US reports
monthly, delinquent from 30 days past due.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from simulator.core.instants import from_us, to_us
from simulator.engine.links import Body, Response
from simulator.parties.bank.base import ACT_DELAY, BankBase, penalty_interest
from simulator.parties.base import Problem

__all__ = ["DayEndBatch"]


class DayEndBatch(BankBase):
    """Reconciliation files and the two-stage day-end batch."""

    def op_submit_reconciliation(self, body: Body, headers: Mapping[str, str]) -> Response:
        business_date = body["business_date"]
        entries = body["entries"]
        if len(entries) != body["count"] or sum(e["amount"] for e in entries) != body["total"]:
            raise Problem(422, "Inconsistent file", "count or total does not match the entries")
        # in one read: is the file in already, the day's batch stage, whether an earlier day
        # still has to act (taking the file in changes neither)
        known, stage, earlier = self.db.execute(
            "SELECT EXISTS (SELECT 1 FROM reconciliation_files WHERE business_date = ?1),"
            " (SELECT stage FROM cob WHERE business_date = ?1),"
            " EXISTS (SELECT 1 FROM cob WHERE business_date < ?1 AND stage != 'acted')",
            (business_date,)).fetchone()
        if known:
            return self.op_get_reconciliation(body, headers)
        posted = {
            row[0] for row in self.db.execute(
                "SELECT payment_id FROM postings WHERE payment_id IN (SELECT value FROM"
                " json_each(?))", (json.dumps([e["payment_id"] for e in entries]),))
        } if entries else set()  # an empty file lists nothing posted
        pending = [
            (e["payment_id"], e["loan_id"], e["amount"],
             to_us(datetime.fromisoformat(e["value_time"])), "reconciliation")
            for e in entries if e["payment_id"] not in posted
        ]
        refunded = [(r["payment_id"],) for r in body.get("refunds", [])]
        with self.db:
            if pending:
                self.db.executemany("INSERT OR IGNORE INTO in_transit VALUES (?,?,?,?,?)",
                                    pending)
                self._in_transit_rows = None  # recounted when next needed
            # a repayment the platform gave back will never arrive: it covers nothing now
            self._forget_in_transit([payment_id for (payment_id,) in refunded])
            self.db.execute("INSERT INTO reconciliation_files VALUES (?,?,?,?,?,?)",
                            (business_date, to_us(self.now), len(entries), body["total"],
                             len(entries) - len(pending), len(pending)))
        self.journal("reconciliation_received", business_date=business_date,
                     count=len(entries), in_transit=len(pending))
        if stage == "waiting" and not earlier:
            self.timer(self.now, self._act, business_date)
        return self.op_get_reconciliation(body, headers)

    def _in_transit_dpd(self, loan_id: str, number: int, grace_end: int, dpd: int) -> int:
        """Days past due of an unpaid installment, stopped at the value time of the repayments
        in transit that settle it (and those before it); ``dpd`` when none do."""
        (required,) = self.db.execute(
            "SELECT coalesce(sum(principal + interest - paid), 0) FROM installments"
            " WHERE loan_id = ? AND number <= ?", (loan_id, number)).fetchone()
        terms = self._loan_terms(loan_id)
        tolerance = terms.tolerance if terms is not None else 0
        available = 0
        for amount, value_us in self.db.execute(
                "SELECT amount, value_us FROM in_transit WHERE loan_id = ? ORDER BY value_us",
                (loan_id,)).fetchall():
            available += amount
            if required - available <= tolerance:
                day = from_us(value_us).astimezone(self._tz).date().toordinal()
                return min(dpd, max(day - grace_end, 1))
        return dpd

    def _earlier_pending(self, day: str) -> bool:
        """Has the batch of an earlier business date still to act? Its file may list a
        repayment in transit that this day's actions must count, so this day waits for it."""
        return self.db.execute("SELECT 1 FROM cob WHERE business_date < ? AND stage != 'acted'"
                               " LIMIT 1", (day,)).fetchone() is not None

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
            terms = self._loan_terms(loan_id)
            rate = terms.rate if terms is not None else Decimal(0)
            dpd = ordinal + 1 - grace_end
            penalty = penalty_interest(principal, rate, dpd)
            updates.append((max(max_dpd, dpd), penalty, loan_id, number))
        with self.db:
            if updates:  # most days nothing is overdue
                self.db.executemany(
                    "UPDATE installments SET max_dpd = ?, penalty_charged = ?, attention = 1"
                    " WHERE loan_id = ? AND number = ?", updates)
            self.db.execute("INSERT INTO cob VALUES (?, 'classified', ?)", (day, to_us(self.now)))
        self.journal("batch_classified", business_date=day, overdue=len(updates))
        self.timer(self.now + ACT_DELAY, self._gate, day)

    def _gate(self, day: str) -> None:
        """Stage 2: act now if the day's reconciliation file is in, else wait for it."""
        self._cob_running = False
        # in one read: is the file in, has an earlier day still to act, when was this one
        # classified
        received, earlier, classified_us = self.db.execute(
            "SELECT EXISTS (SELECT 1 FROM reconciliation_files WHERE business_date = ?1),"
            " EXISTS (SELECT 1 FROM cob WHERE business_date < ?1 AND stage != 'acted'),"
            " (SELECT classified_us FROM cob WHERE business_date = ?1)", (day,)).fetchone()
        if (received and not earlier) or self.defect("reports_without_reconciliation"):
            self._act(day)
            return
        with self.db:
            self.db.execute("UPDATE cob SET stage = 'waiting' WHERE business_date = ?", (day,))
        self.journal("batch_waiting", business_date=day)
        self.timer(from_us(classified_us) + self.policy.recon_max_wait, self._act, day)

    def _act(self, day: str) -> None:
        """Send overdue warnings and bureau records for business date ``day``."""
        # in one read (acting changes no other day's batch): the stage, whether the file is
        # in, whether a later day is classified and not acted, and the first later day
        # waiting with its file in
        row = self.db.execute(
            "SELECT stage, EXISTS (SELECT 1 FROM reconciliation_files WHERE business_date = ?1),"
            " EXISTS (SELECT 1 FROM cob WHERE business_date > ?1 AND stage != 'acted'),"
            " (SELECT c.business_date FROM cob c JOIN reconciliation_files f"
            " USING (business_date) WHERE c.business_date > ?1 AND c.stage = 'waiting'"
            " ORDER BY c.business_date LIMIT 1)"
            " FROM cob WHERE business_date = ?1", (day,)).fetchone()
        if row is None or row[0] == "acted":
            return
        _, file_in, later, following = row
        received = bool(file_in)  # journaled as true or false
        business_date = date.fromisoformat(day)
        ordinal = business_date.toordinal()
        month_end = (business_date + timedelta(days=1)).day == 1
        messages: list[dict[str, Any]] = []
        records: list[dict[str, Any]] = []
        notices: list[tuple[str, int]] = []
        report_daily = self._threshold <= 1
        suppress = self.defect("suppresses_delinquency")
        with self.db:
            overdue = self.db.execute(
                "SELECT i.loan_id, i.number, i.period, i.due_end_us, i.grace_end, i.max_dpd,"
                " i.warned, i.reported, l.borrower, l.phone, l.subject_id, i.settled_us IS NULL"
                " FROM installments i JOIN loans l USING (loan_id)"
                " WHERE i.attention = 1 AND i.max_dpd >= 1 AND i.grace_end <= ?"
                " AND (i.settled_us IS NULL OR i.settled_us >= i.due_end_us)"
                " ORDER BY i.loan_id, i.number", (ordinal,)).fetchall()
            done = []
            for (loan_id, number, period, due_end_us, grace_end, max_dpd, warned, reported,
                 borrower, phone, subject, unpaid) in overdue:
                if unpaid and self._covered(loan_id, number, due_end_us):
                    done.append((loan_id, number))
                    continue
                # paid late but before the reporting threshold, the payment still in transit:
                # late (the warning is true), never a delinquency
                threshold_us = self._threshold_us(grace_end)
                paid_in_time = unpaid and threshold_us > due_end_us and \
                    self._covered(loan_id, number, threshold_us)
                if not warned and unpaid:
                    messages.append({"borrower": borrower, "phone": phone, "loan_id": loan_id,
                                     "installment": number, "reason": "overdue_warning",
                                     "text": f"Installment {number} of loan {loan_id} is overdue."})
                    notices.append((loan_id, number))
                    self.db.execute("UPDATE installments SET warned = 1 WHERE loan_id = ?"
                                    " AND number = ?", (loan_id, number))
                # a late repayment in transit stops the days past due at its value time
                dpd = self._in_transit_dpd(loan_id, number, grace_end, max_dpd) \
                    if unpaid else max_dpd
                delinquent = dpd >= self._threshold and (report_daily or month_end) \
                    and not paid_in_time
                if not unpaid and dpd >= self._threshold and reported != "overdue" \
                        and not delinquent and not suppress:
                    continue  # settled late: it waits for the monthly report
                done.append((loan_id, number))
                if delinquent and reported != "overdue" and not suppress:
                    records.append({"subject_id": subject, "account": loan_id,
                                    "installment": number, "period": period,
                                    "status": "overdue", "days_past_due": dpd,
                                    "correction": False})
                    self.db.execute("UPDATE installments SET reported = 'overdue'"
                                    " WHERE loan_id = ? AND number = ?", (loan_id, number))
            # a later business date already classified (this day acts late: its file was
            # late) flagged the same installments for its own act, a month end perhaps: they
            # stay flagged for it
            if done and not later:
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
                self.outbox.enqueue("bank->sms", "send_batch",
                              {"sender": "bank", "messages": messages}, ref=day)
            for loan_id, number in notices:
                self.outbox.enqueue("bank->platform", "installment_overdue",
                              {"loan_id": loan_id, "installment": number, "kind": "overdue"},
                              ref=loan_id)
            if records:
                self.outbox.enqueue("bank->bureau", "submit_reports",
                              {"furnisher": "bank", "records": records}, ref=day)
            self.db.execute("UPDATE cob SET stage = 'acted' WHERE business_date = ?", (day,))
        self.journal("batch_acted", business_date=day, reconciled=received,
                     warnings=len(messages), reports=len(records))
        if messages or records or notices:
            self.outbox.schedule(self.now)
        # the next business date waiting only for this one acts now, if its file is in
        if following is not None and not self._earlier_pending(following):
            self.timer(self.now, self._act, following)
