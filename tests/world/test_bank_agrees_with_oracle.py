"""The reference bank and the oracle are two independent readings of one contract: driven by
the same random payment streams, they must agree on every installment.

Hypothesis makes the streams — amounts exact, short, over, tiny or whole-loan; instants on
the due date, at its last second, just after local midnight, days late, early; through the
app or at the bank's counter — runs them through a world on healthy links, and compares
what the bank's database holds with what the oracle computed. Counterexamples it shrinks
to become the regression cases at the bottom of the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.core.calendars import add_months
from simulator.core.instants import to_us
from simulator.world.world import World
from tests.support.worlds import begin, build_world, installment

DISBURSED = date(2026, 1, 10)
MONTHS = 3


@dataclass(frozen=True)
class Pay:
    """One repayment: ``day`` days after the first due date (negative: before it), at a local
    time; ``amount`` in fen, or None for "all that is due through ``through``"."""

    day: int
    at: time
    amount: int | None
    through: int
    via: str

    def step(self) -> dict[str, Any]:
        due = add_months(DISBURSED, 1)
        when = datetime.combine(due + timedelta(days=self.day), self.at)
        body: dict[str, Any] = {"borrower": "alice", "installment": self.through}
        if self.amount is not None:
            body["amount"] = Decimal(self.amount).scaleb(-2)
        if self.via == "bank":
            body["via"] = "bank"
        return {"at": when.isoformat(timespec="seconds"), "repay": body}


#: local times that matter: mid-day, the last second of a day, just after midnight
_TIMES = st.sampled_from([time(12, 0), time(23, 59, 59), time(0, 0, 1), time(9, 30)])
_AMOUNTS = st.one_of(
    st.none(),  # what the borrower's own sums say is due
    st.integers(min_value=1, max_value=300),  # a few fen: a residual, within a tolerance
    st.integers(min_value=10_000, max_value=40_000),  # about an installment
    st.integers(min_value=100_000, max_value=130_000),  # the whole loan, and then some
)
payments = st.lists(
    st.builds(Pay, day=st.integers(min_value=-20, max_value=70), at=_TIMES, amount=_AMOUNTS,
              through=st.integers(min_value=1, max_value=MONTHS),
              via=st.sampled_from(["platform", "platform", "bank"])),
    min_size=1, max_size=5)
terms = st.fixed_dictionaries({
    "grace_days": st.sampled_from([0, 0, 3]),
    "arrears_tolerance": st.sampled_from(["0.00", "1.00"]),
    "holiday_shift": st.sampled_from(["none", "next_working_day"]),
})


def _run(pays: list[Pay], bank_terms: dict[str, Any], jurisdiction: str = "CN") -> World:
    steps = sorted((p.step() for p in pays), key=lambda step: step["at"])
    world = begin(build_world(jurisdiction=jurisdiction, start="2026-01-10T09:00",
                              until="2026-06-01T00:00",
                              principal="1000.00", annual_rate="0.12", months=MONTHS,
                              disbursed=DISBURSED.isoformat(), bank=bank_terms, steps=steps))
    world.scheduler.run_until(world.scenario.until)
    return world


def _disagreements(world: World) -> list[str]:
    found = []
    for truth in world.oracle.installments("alice"):
        held = installment(world, truth.number)
        settled_us = held["settled_us"]
        bank = {
            "settled": settled_us is not None,
            "on time": settled_us is not None and settled_us < held["due_end_us"],
            "due end": held["due_end_us"],
            "paid": held["paid"],
            "penalty paid": held["penalty_paid"],
        }
        oracle = {
            "settled": truth.settled_at is not None,
            "on time": truth.paid_on_time,
            "due end": to_us(truth.due_end),
            "paid": truth.paid,
            "penalty paid": truth.penalty_paid,
        }
        if truth.settled_at is not None and settled_us is not None:
            bank["settled at"] = settled_us
            oracle["settled at"] = to_us(truth.settled_at)
        for name in oracle:
            if bank[name] != oracle[name]:
                found.append(f"installment {truth.number} {name}: bank {bank[name]}, "
                             f"oracle {oracle[name]}")
    return found


def _close(world: World) -> None:
    for party in world.parties.values():
        party.close()


@settings(deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(pays=payments, bank_terms=terms, jurisdiction=st.sampled_from(["CN", "US"]))
def test_bank_and_oracle_agree_on_every_installment(pays: list[Pay], bank_terms: dict[str, Any],
                                                    jurisdiction: str) -> None:
    """For any stream of repayments on healthy links, in either jurisdiction, the bank's
    installments — settled or not, on time or late, when, what was paid toward each and its
    penalty — are the oracle's."""
    world = _run(pays, bank_terms, jurisdiction)
    try:
        assert _disagreements(world) == []
    finally:
        _close(world)


# -- counterexamples once found, kept as regression cases -------------------------------


def test_a_tiny_payment_into_the_penalty_of_a_late_installment() -> None:
    """Two fen paid days after the due date go to the penalty; then the installment in full:
    both sides settle it late at the same instant with the same penalty."""
    pays = [Pay(4, time(12), 2, 1, "platform"), Pay(6, time(9, 30), None, 1, "platform")]
    world = _run(pays, {"grace_days": 0, "arrears_tolerance": "0.00", "holiday_shift": "none"})
    try:
        assert _disagreements(world) == []
        assert not world.oracle.installment("alice", 1).paid_on_time
    finally:
        _close(world)


def test_the_last_second_of_the_due_date_with_grace_days() -> None:
    """Paid at 23:59:59 on the last grace day: on time for both."""
    pays = [Pay(3, time(23, 59, 59), None, 1, "bank")]
    world = _run(pays, {"grace_days": 3, "arrears_tolerance": "0.00", "holiday_shift": "none"})
    try:
        assert _disagreements(world) == []
        assert world.oracle.installment("alice", 1).paid_on_time
    finally:
        _close(world)
