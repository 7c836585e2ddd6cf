"""The invariants: properties that must hold over a whole run (README, "What it checks").

Each check reads only :class:`~simulator.checks.facts.Facts` and returns violations that
carry their evidence: the borrower (masked), the installment, the instants, and the
journal entries that prove it, so a failing run explains itself. The checks live by
subject: false alarms (:mod:`~simulator.checks.alarms`), money
(:mod:`~simulator.checks.money`), credit reporting (:mod:`~simulator.checks.reporting`).
"""

from __future__ import annotations

from collections.abc import Callable

from simulator.checks.alarms import no_false_overdue, no_false_overdue_sms
from simulator.checks.facts import Facts, Violation
from simulator.checks.money import (
    exactly_once_posting,
    in_transit_bounded,
    money_conserved,
    no_wrongful_refund,
)
from simulator.checks.reporting import (
    bureau_matches_truth,
    false_reports_corrected,
    true_overdue_reported,
)
from simulator.scenarios.model import INVARIANTS

__all__ = ["CHECKS", "check_all"]

CHECKS: dict[str, Callable[[Facts], list[Violation]]] = {
    "no_false_overdue": no_false_overdue,
    "no_false_overdue_sms": no_false_overdue_sms,
    "exactly_once_posting": exactly_once_posting,
    "money_conserved": money_conserved,
    "true_overdue_reported": true_overdue_reported,
    "false_reports_corrected": false_reports_corrected,
    "bureau_matches_truth": bureau_matches_truth,
    "no_wrongful_refund": no_wrongful_refund,
    "in_transit_bounded": in_transit_bounded,
}
if tuple(CHECKS) != INVARIANTS:  # a check per invariant name, in the same order
    raise ImportError(f"the invariant registry {tuple(CHECKS)} does not match {INVARIANTS}")


def check_all(facts: Facts, names: tuple[str, ...] = INVARIANTS) -> dict[str, list[Violation]]:
    """Run the named checks; every name maps to its violations (empty when it holds)."""
    return {name: CHECKS[name](facts) for name in names}
