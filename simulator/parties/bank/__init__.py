"""The reference bank: the lender of funds.

Reference behaviour (README, "Reference behaviour"):

* books loans and their schedules (minor units; the last installment absorbs
  rounding) — :mod:`~simulator.parties.bank.ledger`;
* posts repayments **by value time**, allocating penalties → interest →
  principal, oldest installment first; a replayed idempotency key answers
  with the original response and posts nothing — ``ledger``;
* runs a day-end batch (COB) at ``batch_at`` for the previous business date
  in two stages, *classify* and *act*, holding real-time postings with 409 in
  between, and acts on "unpaid" only once that day's reconciliation file has
  arrived or ``recon_max_wait`` has passed — :mod:`~simulator.parties.bank.batch`;
* when an on-time repayment arrives late for an installment it already treated
  as overdue, reverses the penalty interest and sends the bureau a correction,
  and corrects a delinquency it reported for an installment that turns out paid
  before the reporting threshold; days past due count to the value time — ``ledger``;
* answers the bureau's dispute verification, asking the platform for
  repayments it has not received yet (and not verifying when it cannot ask) —
  :mod:`~simulator.parties.bank.disputes`.

Messages to other parties go through a durable outbox
(:class:`simulator.parties.outbox.Outbox`), sent in order per link and retried
with capped backoff. Defects planted here: every ``bank.*`` name in the
catalogue.
"""

from simulator.parties.bank.bank import Bank

__all__ = ["Bank"]
