"""Loan schedules in minor units: equal installment (等额本息) and equal principal (等额本金).

Shared money arithmetic, cross-checked against ``numpy-financial`` in the
tests. Each installment is rounded half-up to the minor unit; the last one
absorbs the rounding remainder so the principal parts sum to the loan.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext

__all__ = ["ScheduledInstallment", "monthly_rate", "round_minor", "schedule"]


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


@functools.lru_cache(maxsize=1024)
def schedule(
    principal: int, annual_rate: Decimal, months: int, method: str
) -> tuple[ScheduledInstallment, ...]:
    """The repayment schedule of a loan of ``principal`` minor units (cached: it is pure)."""
    if principal <= 0 or months <= 0:
        raise ValueError(f"principal and months must be positive (got {principal}, {months})")
    with localcontext() as ctx:
        ctx.prec = 40
        rate = monthly_rate(annual_rate)
        balance = principal
        rows: list[ScheduledInstallment] = []
        if method == "equal_installment":
            if rate == 0:
                payment = Decimal(principal) / months
            else:
                growth = (1 + rate) ** months
                payment = principal * rate * growth / (growth - 1)
            level = round_minor(payment)
            for number in range(1, months + 1):
                interest = round_minor(balance * rate)
                part = balance if number == months else min(balance, level - interest)
                rows.append(ScheduledInstallment(number, part, interest))
                balance -= part
        elif method == "equal_principal":
            part_each = principal // months
            for number in range(1, months + 1):
                interest = round_minor(balance * rate)
                part = balance if number == months else part_each
                rows.append(ScheduledInstallment(number, part, interest))
                balance -= part
        else:
            raise ValueError(
                f"method must be equal_installment or equal_principal (got {method!r})")
        return tuple(rows)
