"""What borrowers believe they owe, by their own sums: the schedule, the contract's penalty,
their payments and the money given back — never the oracle's allocation."""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

import pytest

from simulator.checks.oracle import GivenBack, Payment
from simulator.core.calendars import jurisdiction
from simulator.scenarios.model import Borrower, ContractTerms, LoanTerms, Pays
from simulator.world.borrowing import BorrowerLedgers

SHANGHAI = ZoneInfo("Asia/Shanghai")
# 1000.00 at 12% over 3 months, equal installments (fen): level 34002; installment 1 is
# 33002 principal + 1000 interest, installment 2 is 33332 + 670 (hand-worked in
# tests/checks/test_oracle.py).
LEVEL, PRINCIPAL_1, PRINCIPAL_2 = 34_002, 33_002, 33_332


def penalty(principal: int, days: int) -> int:
    """The contract's penalty, written out: principal × 12% × 1.5 / 360 per day, half-up."""
    exact = Decimal(principal) * Decimal("0.12") * Decimal("1.5") * days / 360
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def cn(day: int, month: int = 2, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)


def ledgers(**terms: object) -> BorrowerLedgers:
    loan = LoanTerms(100_000, Decimal("0.12"), 3, "equal_installment", date(2026, 1, 1))
    alice = Borrower("alice", "Alice", "110101199003071234", "13812345678", loan, Pays())
    return BorrowerLedgers((alice,), ContractTerms(**terms), jurisdiction("CN"))  # type: ignore[arg-type]


def paid(book: BorrowerLedgers, payment_id: str, amount: int, at: datetime) -> None:
    book.heard(Payment(payment_id, "alice", "L-alice", amount, at))


@pytest.mark.parametrize(
    ("number", "at", "expected"),
    [
        pytest.param(1, cn(1, hour=23, minute=59), LEVEL, id="one-on-due-date"),
        pytest.param(2, cn(1), 2 * LEVEL, id="two-installments"),
        pytest.param(1, cn(5, hour=10), LEVEL + penalty(PRINCIPAL_1, 4), id="four-days-late"),
        pytest.param(1, cn(2, hour=0), LEVEL + penalty(PRINCIPAL_1, 1), id="at-due-end-one-day"),
        pytest.param(2, cn(5, month=3, hour=10),
                     2 * LEVEL + penalty(PRINCIPAL_1, 32) + penalty(PRINCIPAL_2, 4),
                     id="both-late-with-penalties"),
    ],
)
def test_due_through(number: int, at: datetime, expected: int) -> None:
    """What is due through installment k: the unpaid scheduled amounts and the penalty of
    each late one, as of the instant."""
    assert ledgers().due_through("alice", number, at) == expected


def test_a_late_payment_clears_its_penalty_too() -> None:
    """Paying installment 1 four days late with its penalty leaves only installment 2 due."""
    book = ledgers()
    paid(book, "P1", LEVEL + penalty(PRINCIPAL_1, 4), cn(5, hour=10))
    assert book.due_through("alice", 1, cn(20)) == 0
    assert book.due_through("alice", 2, cn(20)) == LEVEL


def test_money_given_back_is_owed_again() -> None:
    """A payment the platform gave back no longer counts: the borrower owes it again, now
    with the penalty of the days since."""
    book = ledgers()
    paid(book, "P1", LEVEL, cn(1, hour=9))
    book.heard(GivenBack("P1", LEVEL, "platform", cn(3), True))
    assert book.due_through("alice", 1, cn(3, hour=12)) == LEVEL + penalty(PRINCIPAL_1, 2)


def test_grace_days_and_holiday_shift_move_the_borrowers_dates() -> None:
    """The borrower reads the contract too: with a holiday shift installment 1 of a loan
    disbursed 2026-09-01 falls due on 2026-10-08, the first working day after National Day
    (hand-checked against the State Council's 2026 notice)."""
    loan = LoanTerms(100_000, Decimal("0.12"), 3, "equal_installment", date(2026, 9, 1))
    hua = Borrower("hua", "Hua", "110101199003071234", "13812345678", loan, Pays())
    book = BorrowerLedgers((hua,), ContractTerms(holiday_shift="next_working_day"),
                           jurisdiction("CN"))
    assert book.due_date("hua", 1) == date(2026, 10, 8)
