"""The scenario model: what a scenario file says, as typed, validated data.

:mod:`simulator.scenarios.loader` builds these from YAML; everything downstream (the
world, the oracle, the runner) reads only these classes. Money is in minor
units (``int``), rates are :class:`~decimal.Decimal`, instants are aware.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Literal

__all__ = [
    "INVARIANTS",
    "PENALTY_FACTOR",
    "BankPolicy",
    "Borrower",
    "BureauExpectation",
    "Check",
    "ContractTerms",
    "Dispute",
    "Expect",
    "ExpectedViolation",
    "Fault",
    "LoanTerms",
    "Pays",
    "PlatformPolicy",
    "Repay",
    "Scenario",
    "Step",
]

#: Invariant names, in the order reports list them (README, "What it checks"; an interface).
INVARIANTS: tuple[str, ...] = (
    "no_false_overdue",
    "no_false_overdue_sms",
    "exactly_once_posting",
    "money_conserved",
    "true_overdue_reported",
    "false_reports_corrected",
    "bureau_matches_truth",
    "no_wrongful_refund",
    "in_transit_bounded",
)

Method = Literal["equal_installment", "equal_principal"]
PaysKind = Literal["manual", "on_due_date", "early", "late", "never"]
FaultKind = Literal["outage", "timeout_after_commit", "delay", "duplicate", "error", "crash"]
BureauStatus = Literal["current", "overdue", "none"]


@dataclass(frozen=True, slots=True)
class LoanTerms:
    """A loan contract: amounts in minor units, the rate as a Decimal fraction."""

    principal: int
    annual_rate: Decimal
    months: int
    method: Method
    disbursed: date


@dataclass(frozen=True, slots=True)
class Pays:
    """How a borrower repays without explicit steps: ``early:N``/``late:N`` carry N days."""

    kind: PaysKind = "manual"
    days: int = 0


@dataclass(frozen=True, slots=True)
class Borrower:
    """One borrower with one loan. ``id`` is the scenario's handle (``alice``, ``b0001``).

    ``name``, ``id_number`` and ``phone`` are personal data: generated, never
    printed unmasked (see :mod:`simulator.core.privacy`).
    """

    id: str
    name: str = field(repr=False)
    id_number: str = field(repr=False)
    phone: str = field(repr=False)
    loan: LoanTerms
    pays: Pays


#: Penalty interest on a late installment, per day late, is its principal × annual rate ×
#: this factor / 360 (a term of every loan contract; README, "Scenario reference").
PENALTY_FACTOR = Decimal("1.5")


@dataclass(frozen=True, slots=True)
class ContractTerms:
    """Terms of every loan contract in the scenario (``world.bank``'s contractual keys).

    They are agreed with the borrower, so the oracle judges by them; the bank is given
    them with each booking.
    """

    grace_days: int = 0
    arrears_tolerance: int = 0  # minor units
    holiday_shift: Literal["none", "next_working_day"] = "none"


@dataclass(frozen=True, slots=True)
class BankPolicy:
    """The reference bank's operational settings (``world.bank``'s other keys): how it runs,
    never what the oracle judges by."""

    batch_at: time = time(0, 30)
    recon_max_wait: timedelta = timedelta(days=3)


@dataclass(frozen=True, slots=True)
class PlatformPolicy:
    """The reference platform's forwarding settings (``world.platform``).

    ``forward_after`` is how long a captured repayment waits in the outbox
    before the relay first forwards it (the relay's polling interval).
    """

    forward_after: timedelta = timedelta(minutes=10)
    retry_first: timedelta = timedelta(minutes=1)
    retry_max: timedelta = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Repay:
    """A borrower repays installment ``installment`` (1-based).

    ``amount`` pays exactly that; ``short_by`` pays what is due minus that;
    neither pays all that is due.
    """

    borrower: str
    installment: int
    via: Literal["platform", "bank"] = "platform"
    amount: int | None = None
    short_by: int | None = None


@dataclass(frozen=True, slots=True)
class Fault:
    """A fault active on ``link`` (or, for ``crash``, on ``party``) from ``start`` to ``end``.

    ``by`` is the delay of ``delay``; ``status`` and ``rate`` belong to ``error``
    (``rate`` is the fraction of calls that fail, default 1).
    """

    kind: FaultKind
    start: datetime
    end: datetime
    link: str | None = None
    party: str | None = None
    by: timedelta | None = None
    status: int | None = None
    rate: Decimal | None = None
    #: the scenario says it may affect nothing (else a fault that never fires fails the run)
    may_not_fire: bool = False
    line: int | None = None

    @property
    def where(self) -> str:
        """``outage on platform->bank`` / ``crash of bank``, for messages."""
        return f"{self.kind} on {self.link}" if self.link else f"{self.kind} of {self.party}"


@dataclass(frozen=True, slots=True)
class Dispute:
    """A borrower disputes the bureau's record for ``period`` (``YYYY-MM``)."""

    borrower: str
    period: str


@dataclass(frozen=True, slots=True)
class BureauExpectation:
    """The bureau's status for a borrower's period: current, overdue or none."""

    borrower: str
    period: str
    status: BureauStatus
    line: int | None = None


@dataclass(frozen=True, slots=True)
class Check:
    """Expectations checked at the step's instant rather than at the end of the run."""

    bureau: tuple[BureauExpectation, ...]


@dataclass(frozen=True, slots=True)
class Step:
    """One scripted action at an instant; ``line`` is its line in the file."""

    at: datetime
    action: Repay | Fault | Dispute | Check
    line: int | None = None


@dataclass(frozen=True, slots=True)
class ExpectedViolation:
    """Violations of ``invariant`` a scenario demands, and the only ones it tolerates.

    ``borrowers`` and ``installments`` narrow the scope (empty: any); ``count``, when
    given, is how many violations in scope there must be.
    """

    invariant: str
    borrowers: tuple[str, ...] = ()
    installments: tuple[int, ...] = ()
    count: int | None = None
    line: int | None = None

    def covers(self, borrower: str | None, installment: int | None) -> bool:
        """Is a violation about ``borrower``'s ``installment`` within this scope?"""
        if self.borrowers and borrower not in self.borrowers:
            return False
        return not self.installments or installment in self.installments

    def describe(self) -> str:
        """``no_false_overdue (alice, installment 1, 1 time)`` for messages."""
        scope = [", ".join(self.borrowers)] if self.borrowers else []
        if self.installments:
            numbers = ", ".join(str(n) for n in self.installments)
            scope.append(f"installment{'s' if len(self.installments) > 1 else ''} {numbers}")
        if self.count is not None:
            scope.append(f"{self.count} time{'s' if self.count != 1 else ''}")
        return self.invariant + (f" ({'; '.join(scope)})" if scope else "")


@dataclass(frozen=True, slots=True)
class Expect:
    """What makes the scenario pass (README, "Scenario reference")."""

    invariants: tuple[str, ...] = INVARIANTS
    violations: tuple[ExpectedViolation, ...] = ()
    bureau: tuple[BureauExpectation, ...] = ()

    @property
    def violated(self) -> tuple[str, ...]:
        """The invariants the scenario demands violations of, in catalogue order."""
        named = {expected.invariant for expected in self.violations}
        return tuple(name for name in INVARIANTS if name in named)


@dataclass(frozen=True, slots=True)
class Scenario:
    """A whole scenario file, validated."""

    id: str
    summary: str
    start: datetime
    until: datetime
    borrowers: tuple[Borrower, ...]
    tags: tuple[str, ...] = ()
    jurisdiction: Literal["CN", "US"] = "CN"
    seed: int = 0
    terms: ContractTerms = field(default_factory=ContractTerms)
    bank: BankPolicy = field(default_factory=BankPolicy)
    platform: PlatformPolicy = field(default_factory=PlatformPolicy)
    defects: tuple[str, ...] = ()
    steps: tuple[Step, ...] = ()
    expect: Expect = field(default_factory=Expect)
    file: Path | None = None
