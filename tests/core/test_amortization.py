"""Loan schedules in minor units, cross-checked against numpy-financial."""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import numpy as np
import numpy_financial as npf
import pytest
from hypothesis import example, given

from simulator.core.amortization import ScheduledInstallment, monthly_rate, round_minor, schedule
from tests.support.strategies import (
    annual_rates,
    consumer_loan_months,
    loan_months,
    methods,
    positive_annual_rates,
    principals,
    realistic_principals,
    unrounded_amounts,
)


def half_up(value: float) -> int:
    """``value`` rounded half-up to a whole minor unit, as an outside reference would."""
    return int(Decimal(repr(float(value))).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def round_half_up(value: Fraction) -> int:
    """An exact amount rounded half-up (away from zero for a positive amount)."""
    return math.floor(value + Fraction(1, 2))


def balances_before(rows: tuple[ScheduledInstallment, ...], principal: int) -> list[int]:
    """The outstanding principal before each installment."""
    balances, balance = [], principal
    for row in rows:
        balances.append(balance)
        balance -= row.principal
    return balances


# -- helpers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("0.5", 1, id="half-rounds-up"),
        pytest.param("2.5", 3, id="half-rounds-up-not-to-even"),
        pytest.param("2.4999", 2, id="below-half"),
        pytest.param("-0.5", -1, id="negative-half-away-from-zero"),
        pytest.param("7", 7, id="whole"),
    ],
)
def test_round_minor(value: str, expected: int) -> None:
    """``round_minor`` rounds half-up (away from zero) to a whole minor unit."""
    assert round_minor(Decimal(value)) == expected


@given(value=unrounded_amounts)
def test_round_minor_is_half_up_away_from_zero(value: Decimal) -> None:
    """For any amount, ``round_minor`` is the nearest whole unit, a half going away from zero,
    worked with exact fractions."""
    exact = Fraction(value)
    magnitude = math.floor(abs(exact) + Fraction(1, 2))
    assert round_minor(value) == (magnitude if exact >= 0 else -magnitude)


def test_monthly_rate_is_a_twelfth() -> None:
    """The monthly rate is the yearly rate divided by twelve, exactly."""
    assert monthly_rate(Decimal("0.18")) == Decimal("0.015")


# -- worked examples ------------------------------------------------------------------


#: 12,000.00 at 18% over 12 months, worked by hand: the monthly rate is 1.5%, the annuity
#: 1,200,000 × 0.015 × 1.015¹² / (1.015¹² − 1) = 110,015.99 fen, so 1,100.16 a month; each
#: interest is the balance before it × 1.5% rounded half-up (1,107,984 × 0.015 = 16,619.76 →
#: 16,620); the principal part is 110,016 minus that; the last installment takes the balance
#: left, 1,083.93, plus its interest 16.26. numpy-financial's ipmt gives, row by row,
#: 18,000.00 16,619.76 15,218.82 13,796.86 12,353.57 10,888.64 9,401.73 7,892.51 6,360.66
#: 4,805.83 3,227.68 1,625.85.
#: (number, balance before, principal part, interest part)
TWELVE_AT_18 = [
    (1, 1_200_000, 92_016, 18_000),
    (2, 1_107_984, 93_396, 16_620),
    (3, 1_014_588, 94_797, 15_219),
    (4, 919_791, 96_219, 13_797),
    (5, 823_572, 97_662, 12_354),
    (6, 725_910, 99_127, 10_889),
    (7, 626_783, 100_614, 9_402),
    (8, 526_169, 102_123, 7_893),
    (9, 424_046, 103_655, 6_361),
    (10, 320_391, 105_210, 4_806),
    (11, 215_181, 106_788, 3_228),
    (12, 108_393, 108_393, 1_626),
]


def test_equal_installment_worked_example() -> None:
    """12,000.00 at 18% over 12 months is the hand-worked table: 1,100.16 a month, the last
    1,100.19, 1,201.95 of interest in all."""
    rows = schedule(1_200_000, Decimal("0.18"), 12, "equal_installment")
    assert [(row.number, row.principal, row.interest) for row in rows] == [
        (number, principal, interest) for number, _, principal, interest in TWELVE_AT_18]
    assert [row.amount for row in rows] == [110_016] * 11 + [110_019]
    assert sum(row.interest for row in rows) == 120_195
    for number, balance, _, interest in TWELVE_AT_18:  # the table's own working
        assert interest == round_half_up(Fraction(balance) * Fraction("0.015"))
        assert abs(interest + float(npf.ipmt(0.015, number, 12, 1_200_000))) <= 0.5


def test_three_month_worked_example() -> None:
    """12,000.00 at 18% over 3 months (the party tests' loan): 4,120.60 a month, by hand."""
    # annuity 1,200,000 × 0.015 × 1.015³ / (1.015³ − 1) = 412,059.55 → 412,060; interests
    # 18,000, 805,940 × 0.015 = 12,089.1 → 12,089 and 405,969 × 0.015 = 6,089.535 → 6,090
    rows = schedule(1_200_000, Decimal("0.18"), 3, "equal_installment")
    assert [(row.principal, row.interest) for row in rows] == [
        (394_060, 18_000), (399_971, 12_089), (405_969, 6_090)]


def test_equal_principal_worked_example() -> None:
    """12,000.00 at 12% over 12 months repays 1,000.00 a month with falling interest."""
    # by hand: the balance before installment k + 1 is 1,200,000 − 100,000k, at 1% a month
    rows = schedule(1_200_000, Decimal("0.12"), 12, "equal_principal")
    assert [row.principal for row in rows] == [100_000] * 12
    assert [row.interest for row in rows] == [12_000 - 1_000 * k for k in range(12)]


def test_amount_is_principal_plus_interest() -> None:
    """An installment's amount is its principal part plus its interest part."""
    assert ScheduledInstallment(3, 1_000, 25).amount == 1_025


# -- properties -------------------------------------------------------------------------


@given(principal=principals, rate=annual_rates, months=loan_months, method=methods)
@example(principal=1, rate=Decimal("0.36"), months=360, method="equal_installment")
@example(principal=11, rate=Decimal(0), months=7, method="equal_installment")
def test_principal_parts_sum_to_the_loan(
    principal: int, rate: Decimal, months: int, method: str
) -> None:
    """For both methods the principal parts add up exactly to the principal."""
    rows = schedule(principal, rate, months, method)
    assert len(rows) == months
    assert [row.number for row in rows] == list(range(1, months + 1))
    assert sum(row.principal for row in rows) == principal


@given(principal=principals, rate=annual_rates, months=loan_months, method=methods)
def test_parts_are_never_negative(principal: int, rate: Decimal, months: int, method: str) -> None:
    """No principal or interest part is negative."""
    rows = schedule(principal, rate, months, method)
    assert all(row.principal >= 0 and row.interest >= 0 for row in rows)


@given(principal=principals, rate=annual_rates, months=loan_months, method=methods)
def test_interest_is_the_rounded_monthly_interest_on_the_balance(
    principal: int, rate: Decimal, months: int, method: str
) -> None:
    """Installment k's interest is the balance before k × yearly rate / 12, worked out exactly
    (fractions, no Decimal context) and rounded half-up, exact halves included."""
    rows = schedule(principal, rate, months, method)
    for row, balance in zip(rows, balances_before(rows, principal), strict=True):
        assert row.interest == round_half_up(Fraction(balance) * Fraction(rate) / 12), row


@pytest.mark.parametrize("method", ["equal_installment", "equal_principal"])
@pytest.mark.parametrize(
    ("principal", "exact", "rounded"),
    [
        pytest.param(15_048, Fraction(627, 2), 314, id="313.5-to-314"),
        pytest.param(15_000, Fraction(625, 2), 313, id="312.5-to-313-not-to-even"),
    ],
)
def test_exact_half_unit_of_interest_rounds_up(
    method: str, principal: int, exact: Fraction, rounded: int
) -> None:
    """A first month's interest of exactly half a fen more than a whole rounds up, never to
    even (150.00 at 25% accrues 312.5 fen: 313)."""
    assert Fraction(principal) * Fraction("0.25") / 12 == exact  # the premise
    assert schedule(principal, Decimal("0.25"), 12, method)[0].interest == rounded


@given(principal=realistic_principals, rate=positive_annual_rates, months=loan_months)
def test_level_payment_matches_numpy_financial(
    principal: int, rate: Decimal, months: int
) -> None:
    """The level payment is round-half-up(-npf.pmt(r, n, P)) within one minor unit."""
    rows = schedule(principal, rate, months, "equal_installment")
    expected = half_up(-npf.pmt(float(rate) / 12, months, principal))
    assert abs(rows[0].amount - expected) <= 1


@given(principal=realistic_principals, rate=positive_annual_rates, months=loan_months)
@example(principal=1_200_000, rate=Decimal("0.18"), months=360)
@example(principal=1_200_000, rate=Decimal("0.24"), months=480)
def test_every_installment_is_level_within_one_unit(
    principal: int, rate: Decimal, months: int
) -> None:
    """Every installment is the level payment of numpy-financial give or take one minor unit.

    The principal parts follow the exact annuity, so rounding never compounds:
    even the last installment, which absorbs the remainder, stays within a few
    units of the level payment.
    """
    rows = schedule(principal, rate, months, "equal_installment")
    level = half_up(-npf.pmt(float(rate) / 12, months, principal))
    assert [row.number for row in rows[:-1] if abs(row.amount - level) > 1] == []
    assert abs(rows[-1].amount - level) <= months


@given(principal=realistic_principals, rate=positive_annual_rates, months=loan_months)
def test_interest_tracks_numpy_financial(principal: int, rate: Decimal, months: int) -> None:
    """Interest is within one unit of npf.ipmt until the rounded payment's drift compounds.

    The level payment is rounded, so the balance drifts from the ideal annuity by
    at most one unit a month, compounded: installment k's interest lies within
    (1 + r)**(k - 1) - 1/2 units of npf.ipmt — half a unit for the first.
    """
    r = float(rate) / 12
    rows = schedule(principal, rate, months, "equal_installment")
    for row in rows:
        ideal = -float(npf.ipmt(r, row.number, months, principal))
        bound = max((1 + r) ** (row.number - 1) - 0.5, 0.5) + 1e-6
        if bound <= 1:
            assert abs(row.interest - ideal) <= 1, row
        assert abs(row.interest - ideal) <= bound, (row, ideal, bound)


@given(principal=realistic_principals, rate=positive_annual_rates, months=consumer_loan_months)
@example(principal=1_200_000, rate=Decimal("0.18"), months=12)
@example(principal=1_000_000_000, rate=Decimal("0.36"), months=12)
def test_consumer_loan_interest_is_within_a_minor_unit_of_numpy_financial(
    principal: int, rate: Decimal, months: int
) -> None:
    """For loans of up to 12 months every interest part is within one minor unit of npf.ipmt.

    The bound above, (1 + r)**(k - 1) - 1/2, is at most 1.03**11 - 1/2 = 0.88 here (r at
    most 3% a month, k at most 12).
    """
    r = float(rate) / 12
    rows = schedule(principal, rate, months, "equal_installment")
    for row in rows:
        assert abs(row.interest + float(npf.ipmt(r, row.number, months, principal))) <= 1, row


@given(principal=realistic_principals, rate=positive_annual_rates, months=loan_months)
@example(principal=1_200_000, rate=Decimal("0.18"), months=12)
@example(principal=1_200_000, rate=Decimal("0.24"), months=480)
def test_total_interest_matches_numpy_financial(
    principal: int, rate: Decimal, months: int
) -> None:
    """The interest of the whole schedule is numpy-financial's total interest, give or take
    S - n/2 minor units, where S = ((1 + r)**n - 1) / r (about n/2 for a cheap loan).

    Working: with the exact annuity A, the rounded level L (|L - A| <= 1/2) and rounding
    errors d_k (|d_k| <= 1/2) in each interest, the loan is repaid exactly, so the total paid
    is n·A + (L - A)(n - S) + sum d_k (1 + r)**(n - k), and the ideal total interest is
    n·A - P. Following the exact annuity's balance instead (long dear loans) stays within
    n (1 + r) / 2 of it, which is less.
    """
    r = float(rate) / 12
    n = months
    rows = schedule(principal, rate, n, "equal_installment")
    ideal = -float(np.sum(npf.ipmt(r, np.arange(1, n + 1), n, principal)))
    annuity_sum = ((1 + r) ** n - 1) / r
    float_error = 1e-9 * principal * (1 + r) ** n
    assert abs(sum(row.interest for row in rows) - ideal) <= annuity_sum - n / 2 + float_error
    assert sum(row.amount for row in rows) == principal + sum(row.interest for row in rows)


@given(principal=principals, rate=annual_rates, months=loan_months)
def test_equal_principal_parts_are_even(principal: int, rate: Decimal, months: int) -> None:
    """Every equal-principal part is P // n except the last, which takes the remainder."""
    rows = schedule(principal, rate, months, "equal_principal")
    assert [row.principal for row in rows[:-1]] == [principal // months] * (months - 1)
    assert rows[-1].principal == principal - (months - 1) * (principal // months)


@given(principal=principals, months=loan_months, method=methods)
def test_zero_rate_has_no_interest(principal: int, months: int, method: str) -> None:
    """At 0% every interest part is zero and the parts still sum to the principal."""
    rows = schedule(principal, Decimal(0), months, method)
    assert all(row.interest == 0 for row in rows)
    assert sum(row.principal for row in rows) == principal


@pytest.mark.parametrize(
    ("principal", "months", "parts"),
    [
        pytest.param(1_200, 12, [100] * 12, id="even"),
        pytest.param(10, 4, [3, 3, 3, 1], id="half-rounds-up-last-takes-less"),
        pytest.param(10, 3, [3, 3, 4], id="last-takes-more"),
    ],
)
def test_zero_rate_equal_installment_parts(principal: int, months: int, parts: list[int]) -> None:
    """At 0% the level payment is P / n rounded half-up and the last installment balances."""
    rows = schedule(principal, Decimal(0), months, "equal_installment")
    assert [row.principal for row in rows] == parts


# -- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("principal", "months", "method", "message"),
    [
        pytest.param(0, 12, "equal_installment", "positive", id="zero-principal"),
        pytest.param(-100, 12, "equal_principal", "positive", id="negative-principal"),
        pytest.param(100, 0, "equal_installment", "positive", id="zero-months"),
        pytest.param(100, -3, "equal_principal", "positive", id="negative-months"),
        pytest.param(100, 12, "balloon", "balloon", id="unknown-method"),
        pytest.param(100, 12, "", "method", id="empty-method"),
    ],
)
def test_bad_input_raises_value_error(
    principal: int, months: int, method: str, message: str
) -> None:
    """Non-positive principal or months and unknown methods raise ValueError saying why."""
    with pytest.raises(ValueError, match=message):
        schedule(principal, Decimal("0.12"), months, method)


@pytest.mark.parametrize("method", ["equal_installment", "equal_principal"])
def test_negative_rate_raises_value_error(method: str) -> None:
    """A negative yearly rate is rejected like the other bad inputs."""
    with pytest.raises(ValueError):
        schedule(10_000, Decimal("-0.12"), 3, method)


def test_long_loan_has_no_empty_installments() -> None:
    """A loan the schema accepts (12,000.00 at 24% over 480 months) has no 0.00 installment."""
    rows = schedule(1_200_000, Decimal("0.24"), 480, "equal_installment")
    assert [row.number for row in rows if row.amount == 0] == []
