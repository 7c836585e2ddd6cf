"""The reference bank verifies a disputed period only after asking the platform: one it cannot
ask, it does not verify from its own books."""

from __future__ import annotations

import pytest

from tests.support.worlds import (
    LOAN,
    MakeWorld,
    advance,
    begin,
    dispute,
    entries,
    fault,
    installment,
    instant,
    repay,
)


@pytest.mark.parametrize(
    "lookup_fault",
    [
        pytest.param({"kind": "outage"}, id="outage"),
        pytest.param({"kind": "timeout_after_commit"}, id="answer-lost"),
        pytest.param({"kind": "error", "status": 404}, id="error-404"),
        pytest.param({"kind": "error", "status": 500}, id="error-500"),
    ],
)
def test_dispute_is_not_verified_while_the_platform_cannot_be_asked(
    make_world: MakeWorld, lookup_fault: dict[str, object],
) -> None:
    """A false record disputed while the docking link is down: while the bank's look-up at the
    platform fails, it answers the bureau 503 and changes nothing; the bureau asks again the
    next day, and the bank, able to ask, finds the repayment and the record is corrected."""
    kind = str(lookup_fault["kind"])
    extra = {k: v for k, v in lookup_fault.items() if k != "kind"}
    world = begin(make_world(platform={"retry_max": "6h"}, steps=[
        fault("2026-02-01T08:00", "outage", link="platform->bank", for_="25d"),
        fault("2026-02-01T08:00", "outage", link="recon", for_="25d"),
        repay("2026-02-01T21:00"),
        dispute("2026-02-06T12:00", "2026-02"),
        # the bureau verifies at 12:00 on 02-07; the look-up at the platform fails then
        fault("2026-02-07T11:55", kind, link="bank->platform", for_="10m", **extra)]))
    advance(world, "2026-02-07T13:00")
    subject = world.scenario.borrowers[0].id_number
    asked = [e for e in entries(world, "link.call")
             if e.party == "bureau->bank" and e.data["op"] == "verify_dispute"]
    assert [(e.at, e.data["status"]) for e in asked] == [(instant(world, "2026-02-07T12:00"), 503)]
    assert entries(world, "bank.dispute_verified") == []
    assert installment(world, 1)["reported"] == "overdue"  # nothing changed
    assert world.bureau.read_period_status(subject, LOAN, "2026-02") == "overdue"
    advance(world, "2026-02-08T13:00")
    verified = entries(world, "bank.dispute_verified")
    assert [(e.at, e.data["statuses"]) for e in verified] == [
        (instant(world, "2026-02-08T12:00"), ["current"])]
    assert world.bureau.read_period_status(subject, LOAN, "2026-02") == "current"
    assert entries(world, "bank.posted") == []  # the repayment itself is still away


def test_true_delinquency_is_verified_once_the_platform_answers(make_world: MakeWorld) -> None:
    """A true delinquency disputed while the platform cannot be asked is not deleted for that:
    the bureau asks again, and the bank, having asked the platform, confirms it."""
    world = begin(make_world(steps=[
        dispute("2026-02-03T10:00", "2026-02"),
        fault("2026-02-04T09:55", "outage", link="bank->platform", for_="10m")]))
    advance(world, "2026-02-06T00:00")
    subject = world.scenario.borrowers[0].id_number
    assert [e.data["statuses"] for e in entries(world, "bank.dispute_verified")] == [["overdue"]]
    assert [e.data["outcome"] for e in entries(world, "bureau.dispute_resolved")] == ["verified"]
    assert world.bureau.read_period_status(subject, LOAN, "2026-02") == "overdue"


def test_us_dispute_counts_a_late_repayment_made_before_the_threshold(
    make_world: MakeWorld,
) -> None:
    """A US delinquency reported when the wait ran out, disputed while the repayment (made at
    28 days past due) is still in transit: the platform holds it, so the bank verifies the
    month current, though the repayment was late."""
    world = begin(make_world(jurisdiction="US", disbursed="2026-02-02",
                             platform={"retry_max": "6h"}, steps=[
        fault("2026-03-30T12:00", "outage", link="platform->bank", for_="10d"),
        fault("2026-03-30T12:00", "outage", link="recon", for_="10d"),
        repay("2026-03-30T20:00"),  # due 03-02: 28 days past due
        dispute("2026-04-04T12:00", "2026-03")]))
    advance(world, "2026-04-05T13:00")
    subject = world.scenario.borrowers[0].id_number
    assert [e.data["statuses"] for e in entries(world, "bank.dispute_verified")] == [["current"]]
    assert world.bureau.read_period_status(subject, LOAN, "2026-03") == "current"
    assert installment(world, 1)["settled_us"] is None  # still in transit
