"""The reference credit bureau: credit files, furnisher reports, corrections, disputes.

A credit file holds, per subject and account, one record per installment:
``current`` or ``overdue`` with its days past due. A furnisher's ordinary
report never turns a delinquency back into ``current`` — a true late record
stays in the history after the borrower pays — only a *correction* rewrites
it. A dispute is verified with the furnisher (over ``bureau->bank``) and
resolved within the jurisdiction's limit; every credit-report query needs a
permitted purpose and the subject's consent, and is audited.

Defects planted here: ``bureau.correction_ignored``, ``bureau.dispute_never_resolved``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from simulator.core.instants import utc_iso
from simulator.engine.links import Body, Response
from simulator.parties.base import Operation, Party, Problem, Rows
from simulator.parties.outbox import refused_for_good

__all__ = ["PERMITTED_PURPOSES", "Bureau"]

PERMITTED_PURPOSES = ("loan_application", "account_review", "dispute_investigation",
                      "subject_request")
_VERIFY_AFTER = timedelta(days=1)
_VERIFY_RETRY = timedelta(days=1)

SCHEMA = """
CREATE TABLE records (
    subject_id TEXT NOT NULL, account TEXT NOT NULL, installment INTEGER NOT NULL,
    period TEXT NOT NULL, status TEXT NOT NULL, days_past_due INTEGER NOT NULL,
    updated TEXT NOT NULL, disputed INTEGER NOT NULL DEFAULT 0,
    corrected INTEGER NOT NULL DEFAULT 0,   -- 1: rewritten by a correction or a dispute
    PRIMARY KEY (subject_id, account, installment)
);
CREATE INDEX records_period ON records (subject_id, account, period);
CREATE TABLE disputes (
    dispute_id TEXT PRIMARY KEY, subject_id TEXT NOT NULL, account TEXT NOT NULL,
    period TEXT NOT NULL, opened TEXT NOT NULL, due_by TEXT NOT NULL,
    status TEXT NOT NULL,                -- open | resolved
    resolved TEXT, outcome TEXT
);
CREATE TABLE queries (
    seq INTEGER PRIMARY KEY, requester TEXT NOT NULL, purpose TEXT NOT NULL,
    consent_ref TEXT, subject_id TEXT NOT NULL, at TEXT NOT NULL, allowed INTEGER NOT NULL
);
"""



class Bureau(Party):
    """The credit bureau."""

    name = "bureau"
    SCHEMA = SCHEMA

    def routes(self) -> dict[str, Operation]:
        return {
            "submit_reports": self.op_submit_reports,
            "open_dispute": self.op_open_dispute,
            "get_dispute": self.op_get_dispute,
            "credit_report": self.op_credit_report,
        }

    # -- furnisher reports ---------------------------------------------------------
    def op_submit_reports(self, body: Body, headers: Mapping[str, str]) -> Response:
        """Apply a furnisher's batch: ordinary records never hide a delinquency nor undo a
        correction; corrections rewrite."""
        now = utc_iso(self.now)
        ordinary = []
        corrections = []
        for record in body["records"]:
            row = (record["subject_id"], record["account"], record["installment"],
                   record["period"], record["status"], record["days_past_due"], now)
            if record.get("correction"):
                corrections.append((row, record))
            else:
                ordinary.append(row)
        ignored_corrections = self.defect("correction_ignored")
        with self.db:
            # history keeps the worst status: an overdue record is never replaced by current;
            # a corrected record stays as corrected (a late copy of an old report is stale)
            applied = self.db.executemany(
                "INSERT INTO records (subject_id, account, installment, period, status,"
                " days_past_due, updated) VALUES (?,?,?,?,?,?,?)"
                " ON CONFLICT (subject_id, account, installment) DO UPDATE SET"
                " status = excluded.status, days_past_due = excluded.days_past_due,"
                " updated = excluded.updated"
                " WHERE NOT records.corrected"
                " AND (records.status != 'overdue' OR excluded.status = 'overdue')",
                ordinary).rowcount
            if not ignored_corrections:
                applied += self.db.executemany(
                    "INSERT OR REPLACE INTO records (subject_id, account, installment, period,"
                    " status, days_past_due, updated, corrected) VALUES (?,?,?,?,?,?,?,1)",
                    [row for row, _ in corrections]).rowcount
        for record in body["records"]:
            correction = bool(record.get("correction"))
            if (correction and not ignored_corrections) or (
                    not correction and record["status"] != "current"):
                self.journal("correction" if correction else "record",
                             account=record["account"], installment=record["installment"],
                             period=record["period"], status=record["status"],
                             days_past_due=record["days_past_due"])
        self.journal("reports_received", furnisher=body["furnisher"],
                     records=len(body["records"]), applied=applied)
        return Response(200, {"received": len(body["records"]), "applied": applied,
                              "ignored": len(body["records"]) - applied})

    # -- disputes --------------------------------------------------------------------
    def op_open_dispute(self, body: Body, headers: Mapping[str, str]) -> Response:
        subject, account, period = body["subject_id"], body["account"], body["period"]
        with self.db:
            (count,) = self.db.execute("SELECT count(*) FROM disputes").fetchone()
            dispute_id = f"DSP{count + 1:06d}"
            due_by = self.now + self.env.jurisdiction.correction_limit
            self.db.execute(
                "INSERT INTO disputes VALUES (?,?,?,?,?,?,'open',NULL,NULL)",
                (dispute_id, subject, account, period, utc_iso(self.now), utc_iso(due_by)))
            self.db.execute("UPDATE records SET disputed = 1 WHERE subject_id = ? AND account = ?"
                            " AND period = ?", (subject, account, period))
        self.journal("dispute_opened", dispute_id=dispute_id, account=account, period=period,
                     due_by=due_by)
        if not self.defect("dispute_never_resolved"):
            self.timer(self.now + _VERIFY_AFTER, self._verify, dispute_id)
        return Response(201, {"dispute_id": dispute_id, "status": "open",
                              "due_by": utc_iso(due_by)})

    def op_get_dispute(self, body: Body, headers: Mapping[str, str]) -> Response:
        row = self.db.execute(
            "SELECT dispute_id, account, period, status, due_by, resolved, outcome"
            " FROM disputes WHERE dispute_id = ?", (body["dispute_id"],)).fetchone()
        if row is None:
            raise Problem(404, "Unknown dispute", f"no dispute {body['dispute_id']}")
        return Response(200, dict(zip(
            ("dispute_id", "account", "period", "status", "due_by", "resolved", "outcome"),
            row, strict=True)))

    def _verify(self, dispute_id: str) -> None:
        """Ask the furnisher to verify; apply its answer as corrections and resolve.

        A furnisher that cannot verify (it answers that it does not know the
        account), or that has not answered by the day before the limit, loses
        the record: unverifiable information is deleted, as the rules require.
        """
        row = self.db.execute(
            "SELECT subject_id, account, period, status, due_by FROM disputes"
            " WHERE dispute_id = ?", (dispute_id,)).fetchone()
        if row is None or row[3] != "open":
            return
        subject, account, period, _, due_by = row
        reply = self.env.link("bureau->bank").call(
            "verify_dispute", {"dispute_id": dispute_id, "subject_id": subject,
                               "account": account, "period": period}, ref=dispute_id)
        if reply.ok and reply.response is not None:
            self._resolve(dispute_id, subject, account, period, reply.response.body["records"])
            return
        definitive = refused_for_good(reply.status)
        last_chance = datetime.fromisoformat(due_by) - _VERIFY_RETRY
        if definitive or self.now + _VERIFY_RETRY > last_chance:
            self._resolve(dispute_id, subject, account, period, None)
            return
        self.timer(self.now + _VERIFY_RETRY, self._verify, dispute_id)

    def _resolve(self, dispute_id: str, subject: str, account: str, period: str,
                 verified: list[dict[str, object]] | None) -> None:
        """Apply the furnisher's answer, or delete what could not be verified."""
        now = utc_iso(self.now)
        changed = 0
        with self.db:
            if verified is None:
                deleted = self.db.execute(
                    "SELECT installment FROM records WHERE subject_id = ? AND account = ?"
                    " AND period = ? ORDER BY installment", (subject, account, period)).fetchall()
                self.db.execute("DELETE FROM records WHERE subject_id = ? AND account = ?"
                                " AND period = ?", (subject, account, period))
                for (installment,) in deleted:
                    changed += 1
                    self.journal("correction", account=account, installment=installment,
                                 period=period, status="deleted", days_past_due=0,
                                 dispute_id=dispute_id)
                outcome = "deleted_unverifiable"
            else:
                for record in verified:
                    current = self.db.execute(
                        "SELECT status FROM records WHERE subject_id = ? AND account = ?"
                        " AND installment = ?",
                        (subject, account, record["installment"])).fetchone()
                    if current is None or current[0] == record["status"]:
                        continue
                    self.db.execute(
                        "UPDATE records SET status = ?, days_past_due = ?, updated = ?,"
                        " corrected = 1 WHERE subject_id = ? AND account = ? AND installment = ?",
                        (record["status"], record["days_past_due"], now, subject, account,
                         record["installment"]))
                    changed += 1
                    self.journal("correction", account=account,
                                 installment=record["installment"], period=period,
                                 status=record["status"], days_past_due=record["days_past_due"],
                                 dispute_id=dispute_id)
                outcome = "corrected" if changed else "verified"
            self.db.execute("UPDATE disputes SET status = 'resolved', resolved = ?, outcome = ?"
                            " WHERE dispute_id = ?", (now, outcome, dispute_id))
            self.db.execute("UPDATE records SET disputed = 0 WHERE subject_id = ? AND account = ?"
                            " AND period = ?", (subject, account, period))
        self.journal("dispute_resolved", dispute_id=dispute_id, outcome=outcome)

    # -- credit reports ----------------------------------------------------------------
    def op_credit_report(self, body: Body, headers: Mapping[str, str]) -> Response:
        purpose = body.get("purpose", "")
        consent = body.get("consent_ref") or None
        allowed = purpose in PERMITTED_PURPOSES and (consent is not None
                                                    or purpose == "subject_request")
        with self.db:
            self.db.execute(
                "INSERT INTO queries (requester, purpose, consent_ref, subject_id, at, allowed)"
                " VALUES (?,?,?,?,?,?)",
                (body["requester"], purpose, consent, body["subject_id"], utc_iso(self.now),
                 int(allowed)))
        self.journal("queried", requester=body["requester"], purpose=purpose, allowed=allowed)
        if not allowed:
            raise Problem(403, "Query not permitted",
                          "a credit report needs a permitted purpose and the subject's consent")
        rows = self.db.execute(
            "SELECT account, period, max(status = 'overdue'), max(days_past_due) FROM records"
            " WHERE subject_id = ? GROUP BY account, period ORDER BY account, period",
            (body["subject_id"],)).fetchall()
        return Response(200, {"accounts": [
            {"account": r[0], "period": r[1], "status": "overdue" if r[2] else "current",
             "days_past_due": r[3]} for r in rows]})

    # -- lifecycle ---------------------------------------------------------------------
    def recover(self) -> None:
        if self.defect("dispute_never_resolved"):
            return
        for (dispute_id,) in self.db.execute(
                "SELECT dispute_id FROM disputes WHERE status = 'open' ORDER BY dispute_id"
        ).fetchall():
            self.timer(self.now + _VERIFY_AFTER, self._verify, dispute_id)

    # -- reads for the harness ---------------------------------------------------------
    def read_period_status(self, subject_id: str, account: str, period: str) -> str:
        """``overdue``, ``current`` or ``none``, as committed (readable while down)."""
        row = self.disk.execute(
            "SELECT max(status = 'overdue'), count(*) FROM records WHERE subject_id = ?"
            " AND account = ? AND period = ?", (subject_id, account, period)).fetchone()
        if not row[1]:
            return "none"
        return "overdue" if row[0] else "current"

    def all_records(self) -> Rows:
        """Every record, (subject_id, account, installment, period, status, dpd), in account
        and period order, read from disk as it is iterated."""
        return Rows(self.disk,
                    "SELECT subject_id, account, installment, period, status, days_past_due"
                    " FROM records ORDER BY account, period, installment")
