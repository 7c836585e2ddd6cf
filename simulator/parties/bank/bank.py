"""The reference bank, assembled from its ledger, day-end batch and dispute handling."""

from __future__ import annotations

from datetime import date, timedelta

from simulator.core.instants import from_us
from simulator.parties.bank.batch import DayEndBatch
from simulator.parties.bank.disputes import Disputes
from simulator.parties.bank.ledger import Ledger
from simulator.parties.base import Operation, Rows

__all__ = ["Bank"]


class Bank(Ledger, DayEndBatch, Disputes):
    """The lender."""

    def routes(self) -> dict[str, Operation]:
        return {
            "book_loan": self.op_book_loan,
            "book_loans": self.op_book_loans,
            "get_loan": self.op_get_loan,
            "post_repayment": self.op_post_repayment,
            "get_posting": self.op_get_posting,
            "list_postings": self.op_list_postings,
            "pay_at_counter": self.op_pay_at_counter,
            "submit_reconciliation": self.op_submit_reconciliation,
            "get_reconciliation": self.op_get_reconciliation,
            "verify_dispute": self.op_verify_dispute,
        }

    def forget(self) -> None:
        self._cob_running = False
        self.outbox.forget()
        self._terms = {}
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
        self.outbox.recover()

    def postings_at_end(self) -> Rows:
        """Every posting, (posting_id, payment_id, amount, applied, refunded, loan_id), in
        payment-id order, read from disk as it is iterated."""
        return Rows(self.disk,
                    "SELECT posting_id, payment_id, amount, applied, refunded, loan_id"
                    " FROM postings ORDER BY payment_id, posting_id")
