"""Loan schedules in minor units: equal installment (等额本息) and equal principal (等额本金).

Shared money arithmetic, cross-checked against ``numpy-financial`` in the
tests. Each installment is rounded half-up to the minor unit; the last one
absorbs the rounding remainder so the principal parts sum to the loan.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext

__all__ = ["ScheduledInstallment", "late_penalty", "monthly_rate", "round_minor", "schedule"]


@dataclass(frozen=True, slots=True)
class ScheduledInstallment:
    """Installment ``number`` (1-based): its principal and interest parts in minor units."""

    number: int
    principal: int
    interest: int

    @property
    def amount(self) -> int:
        return self.principal + self.interest


def round_minor(value: Decimal) -> int:
    """Round a Decimal amount of minor units half-up to a whole minor unit."""
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def monthly_rate(annual_rate: Decimal) -> Decimal:
    return annual_rate / 12


def _equal_installments(principal: int, annual_rate: Decimal, months: int,
                        ) -> list[ScheduledInstallment]:
    rate = monthly_rate(annual_rate)
    if rate == 0:
        payment = Decimal(principal) / months
    else:
        growth = (1 + rate) ** months
        payment = principal * rate * growth / (growth - 1)
    level = round_minor(payment)
    rows = []
    balance = principal
    for number in range(1, months + 1):
        interest = round_minor(balance * annual_rate / 12)
        part = balance if number == months else min(balance, level - interest)
        rows.append(ScheduledInstallment(number, part, interest))
        balance -= part
    if abs(rows[-1].amount - level) <= months and all(row.principal > 0 for row in rows):
        return rows
    # The rounded level payment drifted by (1 + r)ⁿ (a long, dear loan): follow the exact
    # annuity's balance instead, so each installment is the level give or take one unit.
    rows = []
    balance = principal
    exact_balance = Decimal(principal)
    for number in range(1, months + 1):
        interest = round_minor(balance * annual_rate / 12)
        exact_balance -= payment - exact_balance * annual_rate / 12
        part = balance if number == months else min(balance, balance - round_minor(exact_balance))
        rows.append(ScheduledInstallment(number, part, interest))
        balance -= part
    return rows


@functools.lru_cache(maxsize=1024)
def schedule(
    principal: int, annual_rate: Decimal, months: int, method: str
) -> tuple[ScheduledInstallment, ...]:
    """The repayment schedule of a loan of ``principal`` minor units (cached: it is pure).

    Interest is the remaining balance × annual rate / 12, rounded half-up. An
    equal installment is the annuity payment rounded half-up and the last
    installment absorbs the remainder — unless that rounding, compounded over
    a long and dear loan, would leave the last installment far from the level
    (at 24% over 480 months the loan would be repaid four months early); then
    each installment brings the balance down to the exact annuity's, rounded,
    and stays within one minor unit of the level.
    """
    if principal <= 0 or months <= 0:
        raise ValueError(f"principal and months must be positive (got {principal}, {months})")
    if annual_rate < 0:
        raise ValueError(f"annual_rate must not be negative (got {annual_rate})")
    with localcontext() as ctx:
        ctx.prec = 50
        if method == "equal_installment":
            return tuple(_equal_installments(principal, annual_rate, months))
        if method == "equal_principal":
            rows: list[ScheduledInstallment] = []
            balance = principal
            part_each = principal // months
            for number in range(1, months + 1):
                interest = round_minor(balance * annual_rate / 12)
                part = balance if number == months else part_each
                rows.append(ScheduledInstallment(number, part, interest))
                balance -= part
            return tuple(rows)
        raise ValueError(
            f"method must be equal_installment or equal_principal (got {method!r})")


def late_penalty(principal: int, annual_rate: Decimal, days: int, factor: Decimal) -> int:
    """Penalty interest for ``days`` days late on ``principal`` minor units: the annual rate
    × ``factor`` / 360 per day, rounded half-up once (the contract's rule, README "Scenario
    reference"; the oracle computes it independently and the tests compare the two)."""
    if days < 0:
        raise ValueError(f"days late must not be negative (got {days})")
    with localcontext() as ctx:
        ctx.prec = 50
        return round_minor(principal * annual_rate * factor * days / 360)
