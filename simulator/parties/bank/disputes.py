"""The bank's side of a credit-file dispute: verify a period, asking the platform first.

The bureau asks the furnisher to verify what it reported for a period. The
bank asks the platform which repayments it captured for the loan (some may be
in transit), then answers each installment's status as it now sees it. A bank
that cannot ask cannot verify: it answers 503 and changes nothing, so the
bureau asks again later (and deletes what stays unverifiable by its limit),
rather than confirming a delinquency from its own books alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from simulator.core.instants import to_us
from simulator.engine.links import Body, Response
from simulator.parties.bank.base import BankBase
from simulator.parties.base import Problem

__all__ = ["Disputes"]


class Disputes(BankBase):
    """Dispute verification."""

    def op_verify_dispute(self, body: Body, headers: Mapping[str, str]) -> Response:
        """The bureau asks the furnisher to verify a period; ask the platform what it holds."""
        account = body["account"]
        period = body["period"]
        if not self.db.execute("SELECT 1 FROM loans WHERE loan_id = ?", (account,)).fetchone():
            raise Problem(404, "Unknown account", f"no account {account}")
        reply = self.env.link("bank->platform").call("list_payments", {"loan_id": account},
                                                     ref=account)
        if not reply.ok or reply.response is None:
            self.journal("dispute_unverifiable", account=account, period=period,
                         platform=reply.outcome.value, status=reply.status)
            raise Problem(503, "Verification unavailable",
                          f"the platform's repayments for {account} could not be read; ask "
                          "again later")
        known = {row[0] for row in self.db.execute(
            "SELECT payment_id FROM postings WHERE loan_id = ?", (account,))}
        pending = [
            (p["payment_id"], account, p["amount"],
             to_us(datetime.fromisoformat(p["value_time"])), "dispute")
            for p in reply.response.body["payments"]
            if p["payment_id"] not in known and p["status"] not in ("refunded", "abandoned")
        ]
        with self.db:
            self.db.executemany("INSERT OR IGNORE INTO in_transit VALUES (?,?,?,?,?)", pending)
            self._in_transit_rows = None
        records = []
        with self.db:
            for number, due_end_us, grace_end, max_dpd, settled_us, reported in self.db.execute(
                "SELECT number, due_end_us, grace_end, max_dpd, settled_us, reported"
                " FROM installments WHERE loan_id = ? AND period = ? ORDER BY number",
                (account, period)).fetchall():
                on_time = settled_us is not None and settled_us < due_end_us
                # a repayment still in transit made before the reporting threshold: never a
                # delinquency (however many days the batch counted meanwhile)
                covered = settled_us is None and self._covered(
                    account, number, self._threshold_us(grace_end))
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
