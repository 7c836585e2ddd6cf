"""Loan schedules in minor units, cross-checked against numpy-financial."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import numpy_financial as npf
import pytest
from hypothesis import example, given

from simulator.core.amortization import ScheduledInstallment, monthly_rate, round_minor, schedule
from tests.support.strategies import (
    annual_rates,
    loan_months,
    methods,
    positive_annual_rates,
    principals,
    realistic_principals,
)


def half_up(value: float) -> int:
    """``value`` rounded half-up to a whole minor unit, as an outside reference would."""
    return int(Decimal(repr(float(value))).quantize(Decimal(1), rounding=ROUND_HALF_UP))


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


def test_monthly_rate_is_a_twelfth() -> None:
    """The monthly rate is the yearly rate divided by twelve, exactly."""
    assert monthly_rate(Decimal("0.18")) == Decimal("0.015")


# -- worked examples ------------------------------------------------------------------


def test_equal_installment_worked_example() -> None:
    """12,000.00 at 18% over 12 months pays 1,100.16 a month; the first holds 180.00 interest."""
    rows = schedule(1_200_000, Decimal("0.18"), 12, "equal_installment")
    assert [row.number for row in rows] == list(range(1, 13))
    assert rows[0] == ScheduledInstallment(1, 92_016, 18_000)
    assert [row.amount for row in rows[:-1]] == [110_016] * 11
    assert rows[1].interest == 16_620  # round(1,107,984 * 0.015) = round(16,619.76)
    assert sum(row.principal for row in rows) == 1_200_000


def test_equal_principal_worked_example() -> None:
    """12,000.00 at 12% over 12 months repays 1,000.00 a month with falling interest."""
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
    """Installment k's interest is round-half-up(balance before k × yearly rate / 12).

    Exact halves are left to test_exact_half_unit_of_interest_rounds_up (a known bug).
    """
    rows = schedule(principal, rate, months, method)
    for row, balance in zip(rows, balances_before(rows, principal), strict=True):
        exact = Fraction(balance) * Fraction(rate) / 12
        if exact.denominator == 2:
            continue
        expected = (Decimal(balance) * rate / 12).quantize(Decimal(1), rounding=ROUND_HALF_UP)
        assert row.interest == int(expected), row


@pytest.mark.parametrize("method", ["equal_installment", "equal_principal"])
def test_exact_half_unit_of_interest_rounds_up(method: str) -> None:
    """150.48 at 25% accrues exactly 313.5 fen in the first month, which rounds up to 314."""
    assert Fraction(15_048) * Fraction("0.25") / 12 == Fraction(627, 2)  # the premise
    assert schedule(15_048, Decimal("0.25"), 12, method)[0].interest == 314


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
