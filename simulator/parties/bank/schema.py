"""The bank's database: loans, installments, postings, reconciliation files, batches.

Instants are stored as microseconds since the epoch (:mod:`simulator.core.instants`);
an installment's ``grace_end`` is the ordinal of its last day before it is late.
:class:`OpenInstallment` is one installment row as the allocation works on it.
"""

from __future__ import annotations

from typing import Any

from simulator.parties.outbox import OUTBOX_SCHEMA

__all__ = ["INSTALLMENT_COLUMNS", "SCHEMA", "SELECT_INSTALLMENTS", "OpenInstallment"]

SCHEMA = """
CREATE TABLE loans (
    loan_id TEXT PRIMARY KEY, borrower TEXT NOT NULL, subject_id TEXT NOT NULL,
    name TEXT NOT NULL, phone TEXT NOT NULL, principal INTEGER NOT NULL,
    annual_rate TEXT NOT NULL, months INTEGER NOT NULL, method TEXT NOT NULL,
    disbursed TEXT NOT NULL,
    grace_days INTEGER NOT NULL, tolerance INTEGER NOT NULL,   -- contract terms
    holiday_shift TEXT NOT NULL
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
""" + OUTBOX_SCHEMA

INSTALLMENT_COLUMNS = ("number", "principal", "interest", "paid", "penalty_paid",
                       "penalty_charged", "grace_end", "due_end_us", "settled_us", "max_dpd",
                       "reported", "warned", "attention")
SELECT_INSTALLMENTS = f"SELECT {', '.join(INSTALLMENT_COLUMNS)} FROM installments"


class OpenInstallment:
    """One installment as the allocation sees it; ``original`` is the row it was read as."""

    __slots__ = ("original", *INSTALLMENT_COLUMNS)

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


