"""The reference bank with late repayments still in transit: days past due count to the value
time, and a repayment made before the reporting threshold never makes a delinquency."""

from __future__ import annotations

import pytest

from simulator.core.instants import to_us
from simulator.world.world import World
from tests.support.worlds import (
    LOAN,
    MakeWorld,
    advance,
    begin,
    entries,
    fault,
    installment,
    instant,
    repay,
)


def bureau_holds(world: World, period: str) -> str:
    """The bureau's status of alice's ``period`` (``overdue``, ``current`` or ``none``)."""
    return world.bureau.read_period_status(world.scenario.borrowers[0].id_number, LOAN, period)


def overdue_records(world: World) -> list[tuple[int, int]]:
    """(installment, days past due) of every overdue record in alice's credit file."""
    return [(row[2], row[5]) for row in world.bureau.all_records() if row[4] == "overdue"]


@pytest.mark.parametrize(
    ("disbursed", "days_late", "reported"),
    [
        # due 03-02, paid 03-31: 29 days past due, before Metro 2's 30
        pytest.param("2026-02-02", 29, False, id="29-days-late"),
        # due 03-01, paid 03-31: 30 days past due, a true delinquency
        pytest.param("2026-02-01", 30, True, id="30-days-late"),
    ],
)
def test_us_repayment_in_transit_over_the_month_end_report(
    make_world: MakeWorld, disbursed: str, days_late: int, reported: bool,
) -> None:
    """A US repayment made on 03-31 and still in transit when the month-end batch acts (the
    file lists it) keeps its installment out of the report when it was made before 30 days
    past due, though the batch counts 30 for it; made at 30 days, it is reported."""
    world = begin(make_world(jurisdiction="US", disbursed=disbursed, steps=[
        fault("2026-03-31T12:00", "outage", link="platform->bank", for_="3d"),
        repay("2026-03-31T20:00")]))
    advance(world, "2026-04-01T12:00")  # the month-end batch has acted; the payment is away
    assert installment(world, 1)["settled_us"] is None
    assert bool(overdue_records(world)) is reported
    advance(world, "2026-04-05T00:00")
    assert installment(world, 1)["settled_us"] == to_us(instant(world, "2026-03-31T20:00"))
    assert installment(world, 1)["max_dpd"] == days_late
    assert [number for number, _ in overdue_records(world)] == ([1] if reported else [])
    assert bureau_holds(world, "2026-03") == ("overdue" if reported else "current")


def test_days_past_due_count_to_the_value_time(make_world: MakeWorld) -> None:
    """The batch counts days past due while a repayment is in transit; when it lands, its
    installment's days past due are those at its value time, and a US repayment made at 29
    days is not reported at the next month-end although the batch had counted 34."""
    world = begin(make_world(jurisdiction="US", disbursed="2026-02-05", steps=[
        fault("2026-04-03T18:00", "outage", link="platform->bank", for_="5d"),
        repay("2026-04-03T20:00")]))  # due 03-05: 29 days past due
    advance(world, "2026-04-08T06:00")
    # the batch of 04-07 (at 00:30 on 04-08) counted 03-05 → 04-08: 26 + 8 = 34 days
    assert installment(world, 1)["max_dpd"] == 34
    advance(world, "2026-05-02T00:00")  # landed 04-08 evening; April's report on 05-01
    assert installment(world, 1)["max_dpd"] == 29
    assert overdue_records(world) == []
    assert bureau_holds(world, "2026-03") == "current"


def test_cn_days_past_due_of_a_late_repayment_in_transit(make_world: MakeWorld) -> None:
    """A CN repayment two days late that reaches the bank six days later counts two days past
    due (not eight); the one-day record the bank sent while it was away stays, being true."""
    world = begin(make_world(steps=[
        fault("2026-02-03T08:00", "outage", link="platform->bank", for_="6d"),
        repay("2026-02-03T12:00")]))  # due 02-01: 2 days past due
    advance(world, "2026-02-10T00:00")
    assert installment(world, 1)["settled_us"] == to_us(instant(world, "2026-02-03T12:00"))
    assert installment(world, 1)["max_dpd"] == 2
    assert overdue_records(world) == [(1, 1)]
    assert entries(world, "bureau.correction") == []


@pytest.mark.parametrize(
    "defects", [pytest.param((), id="reference"),
                pytest.param(("bank.no_correction_on_late_arrival",),
                             id="bank.no_correction_on_late_arrival")])
def test_delinquency_paid_before_the_threshold_is_corrected(
    make_world: MakeWorld, defects: tuple[str, ...],
) -> None:
    """A US repayment made at 28 days past due is stuck with the docking link beyond the bank's
    wait, so the bank reports the installment delinquent; when it lands the bank corrects the
    record (it was paid before the threshold) — unless it never corrects late arrivals."""
    world = begin(make_world(jurisdiction="US", disbursed="2026-02-02", defects=defects, steps=[
        fault("2026-03-30T12:00", "outage", link="platform->bank", for_="6d"),
        fault("2026-03-30T12:00", "outage", link="recon", for_="6d"),
        repay("2026-03-30T20:00")]))  # due 03-02: 28 days past due
    advance(world, "2026-04-05T00:00")  # the wait ran out at 04-04 00:30
    assert [number for number, _ in overdue_records(world)] == [1]
    advance(world, "2026-04-07T00:00")  # landed 04-05 12:13
    corrected = not defects
    assert [e.data["installment"] for e in entries(world, "bureau.correction")] == (
        [1] if corrected else [])
    assert bureau_holds(world, "2026-03") == ("current" if corrected else "overdue")
    # the warning was true (the installment was late): nothing tells the platform to clear it
    assert entries(world, "bank.overdue_cleared") == []
