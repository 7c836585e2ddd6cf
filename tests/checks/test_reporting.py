"""The credit-reporting checks (README, "What it checks"): each fires on a planted wrong record
and stays quiet on a right one. ``false_reports_corrected`` judges every record that was false
when it was written — whatever became of its installment — and starts its clock when the bank
could know."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from simulator.checks.facts import Violation
from simulator.checks.invariants import CHECKS
from simulator.world.runner import ScenarioResult, run_scenario
from simulator.world.world import World
from tests.support.facts import ID_NUMBER, LEVEL, FactsBuilder, facts_builder
from tests.support.scenario_text import borrower, docking_outage, load, repay, world

NEW_YORK = ZoneInfo("America/New_York")
SHANGHAI = ZoneInfo("Asia/Shanghai")


def us(day: int, month: int, hour: int = 12) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=NEW_YORK)


def cn(day: int, month: int = 2, hour: int = 12) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=SHANGHAI)


#: every deadline of alice's CN installment 1 (due 2026-02-01, late from 02-02 00:00) has passed
END = cn(15, month=3)


def check(name: str, world: FactsBuilder, end: datetime) -> list[Violation]:
    return CHECKS[name](world.facts(end))


def corrections(world: FactsBuilder, end: datetime) -> list[Violation]:
    return check("false_reports_corrected", world, end)


# -- true_overdue_reported -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reported_at", "end", "violated"),
    [
        pytest.param(None, cn(1, month=3), True, id="never-reported"),
        pytest.param(cn(2, hour=1), cn(1, month=3), False, id="reported-next-night"),
        pytest.param(cn(20), cn(1, month=3), True, id="reported-too-late"),
        pytest.param(None, cn(4), False, id="run-ends-before-deadline"),
    ],
)
def test_true_overdue_reported_on_hand_built_facts(reported_at: datetime | None, end: datetime,
                                                   violated: bool) -> None:
    """An unpaid installment must reach the bureau by threshold + cycle + wait + one day."""
    world = facts_builder()
    record = world.record(reported_at, "overdue") if reported_at is not None else None
    found = [v for v in check("true_overdue_reported", world, end) if v.installment == 1]
    assert bool(found) is violated
    if found:
        # threshold 2026-02-02 00:00 + 1 day cycle + 3 days' wait limit + 1 day
        assert found[0].instants["deadline"] == "2026-02-07T00:00:00+08:00"
        assert found[0].evidence == (() if record is None else (record,))


def test_a_delinquency_under_another_subject_is_not_reported() -> None:
    """Reporting alice's delinquency under someone else's ID number does not report hers."""
    world = facts_builder()
    world.record(cn(2, hour=1), "overdue", subject="110101198001011234")
    found = [v for v in check("true_overdue_reported", world, END) if v.installment == 1]
    assert len(found) == 1 and "never reported" in found[0].message


# -- false_reports_corrected: a record false because the installment was paid on time ------


@pytest.mark.parametrize(
    ("corrected_at", "violated"),
    [
        pytest.param(None, True, id="never-corrected"),
        pytest.param(cn(10), False, id="corrected-in-time"),
        pytest.param(cn(28), True, id="corrected-after-20-days"),
    ],
)
def test_false_reports_corrected_on_hand_built_facts(corrected_at: datetime | None,
                                                     violated: bool) -> None:
    """A false record must be corrected within 20 days (CN) of the bank learning of the payment."""
    world = facts_builder()
    world.pay("P1", LEVEL, cn(1, hour=21))
    record = world.record(cn(5, hour=1), "overdue")
    world.post("P1", LEVEL, cn(7, hour=8))  # the bank learns of the payment here
    if corrected_at is not None:
        world.record(corrected_at, "current")
    found = corrections(world, END)
    assert bool(found) is violated
    if found:
        assert found[0].instants["deadline"] == "2026-02-27T08:00:00+08:00"
        assert found[0].evidence[0] == record


def test_a_deleted_record_counts_as_corrected() -> None:
    """A false record the bureau deletes is gone: the correction clock stops there."""
    world = facts_builder()
    world.pay("P1", LEVEL, cn(1, hour=21))
    world.record(cn(5, hour=1), "overdue")
    world.post("P1", LEVEL, cn(7, hour=8))
    world.record(cn(10), "overdue", deleted=True)
    assert corrections(world, END) == []


def test_the_clock_starts_when_the_last_repayment_that_paid_it_arrives() -> None:
    """An installment paid on time by two repayments is known paid only once both have reached
    the bank: the second lands on 02-20, so a correction on 03-05 is within 20 days."""
    world = facts_builder("CN")
    world.pay("P1", 20_000, cn(1, hour=20))
    world.pay("P2", LEVEL - 20_000, cn(1, hour=21))
    world.record(cn(2, hour=1), "overdue", dpd=1)
    world.post("P1", 20_000, cn(3))
    world.post("P2", LEVEL - 20_000, cn(20))
    world.record(cn(5, month=3), "current", dpd=0)
    assert corrections(world, cn(15, month=4)) == []
    world.record(cn(13, month=3), "overdue", dpd=1)  # written false again, left standing
    (violation,) = corrections(world, cn(15, month=4))
    # a new false record after both had arrived: the clock starts when it is written
    assert violation.instants["reported_at"] == "2026-03-13T12:00:00+08:00"
    assert violation.instants["deadline"] == "2026-04-02T12:00:00+08:00"


@pytest.mark.parametrize(
    ("disputed_at", "deadline"),
    [
        pytest.param(cn(10), "2026-03-02T12:00:00+08:00", id="disputed"),
        pytest.param(None, None, id="nobody-could-know"),
    ],
)
def test_a_dispute_starts_the_clock_when_the_repayment_never_arrived(
        disputed_at: datetime | None, deadline: str | None) -> None:
    """CN: installment 1 paid on time by a repayment that never reached the bank is recorded
    overdue; a dispute on 02-10 gives the bank 20 days (to 03-02 12:00); with no dispute the
    bank had no way to know, and only ``bureau_matches_truth`` judges the record."""
    world = facts_builder("CN")
    world.pay("P1", LEVEL, cn(1, hour=21))  # lost on the way: never posted, not pending
    world.record(cn(2, hour=1), "overdue", dpd=1)
    if disputed_at is not None:
        world.dispute(disputed_at, "2026-02")
    found = corrections(world, END)
    if deadline is None:
        assert found == []
        (wrong,) = [v for v in check("bureau_matches_truth", world, END)
                    if "2026-02" in v.message]
        assert "holds 2026-02 as overdue, but the truth is current" in wrong.message
        return
    (violation,) = found
    assert violation.instants["deadline"] == deadline and "never corrected" in violation.message


# -- false_reports_corrected: a record false for any other reason --------------------------


def _paid_at_28_days_reported_at_30(corrected_at: datetime | None) -> FactsBuilder:
    """US: installment 1, due Sunday 2026-02-01 (late from 02-02 00:00), is paid on 03-01 —
    28 days past due, before the 30-day threshold of 03-03 00:00 — but the repayment is in
    transit when the bank reports it 30 days past due on 03-04; it reaches the bank on 03-09
    at 08:00 (after the switch to daylight time, so the 30 days hold no DST change)."""
    world = facts_builder("US")
    world.pay("P1", LEVEL + 1_000, us(1, 3))  # the installment, its penalty and some more
    world.record(us(4, 3, hour=1), "overdue", dpd=30)
    world.post("P1", LEVEL + 1_000, us(9, 3, hour=8))
    if corrected_at is not None:
        world.record(corrected_at, "current", dpd=0)
    return world


@pytest.mark.parametrize(
    ("corrected_at", "end", "what"),
    [
        pytest.param(us(10, 3), us(1, 5), None, id="corrected-in-time"),
        pytest.param(us(20, 4), us(1, 5), "corrected only at 2026-04-20T12:00:00-04:00",
                     id="corrected-after-the-limit"),
        pytest.param(None, us(1, 5), "never corrected", id="never-corrected"),
        pytest.param(None, us(1, 4), None, id="still-within-the-limit-at-the-end"),
    ],
)
def test_a_us_record_of_an_installment_paid_before_the_threshold_must_be_corrected(
        corrected_at: datetime | None, end: datetime, what: str | None) -> None:
    """A 30-day record of an installment paid late but at 28 days past due is false; it must
    be gone within 30 days of the repayment reaching the bank (03-09 08:00 + 30 days =
    04-08 08:00)."""
    found = corrections(_paid_at_28_days_reported_at_30(corrected_at), end)
    if what is None:
        assert found == []
        return
    (violation,) = found
    assert violation.installment == 1
    assert what in violation.message
    # counting stopped when she paid: 28 days, under the 30-day bucket the record states
    assert "(it was truly 28 day(s) past due then)" in violation.message
    assert violation.instants["deadline"] == "2026-04-08T08:00:00-04:00"


@pytest.mark.parametrize(
    ("corrected_at", "violated"),
    [
        pytest.param(us(1, 3), False, id="corrected-in-time"),
        pytest.param(None, True, id="never-corrected"),
    ],
)
def test_a_premature_record_of_an_installment_then_paid_before_the_threshold(
        corrected_at: datetime | None, violated: bool) -> None:
    """US: a record at 1 day past due on 02-03 (threshold 03-03 00:00) is premature, and stays
    false when she pays on 02-20 at 19 days past due: the bank had all it needed when it wrote
    it, so it must be gone 30 days after it appeared (03-05 01:00, before daylight time)."""
    world = facts_builder("US")
    world.record(us(3, 2, hour=1), "overdue", dpd=1)
    world.pay("P1", LEVEL + 1_000, us(20, 2))
    world.post("P1", LEVEL + 1_000, us(20, 2, hour=13))
    if corrected_at is not None:
        world.record(corrected_at, "current", dpd=0)
    found = corrections(world, us(1, 5))
    assert bool(found) is violated
    if found:
        (violation,) = found
        assert violation.instants["deadline"] == "2026-03-05T01:00:00-05:00"
        assert "it was paid at 2026-02-20T12:00:00-05:00, before it reached the reporting " \
            "threshold (30 day(s) past due) at 2026-03-03T00:00:00-05:00" in violation.message


def test_a_premature_record_that_the_truth_catches_up_with_needs_no_correction() -> None:
    """A US record at 1 day past due of an installment never paid is false when written (for
    ``no_false_overdue``), but true from the 30-day threshold on (03-03), before its 30-day
    limit (03-05): nothing false stands at the deadline."""
    world = facts_builder("US")
    world.record(us(3, 2, hour=1), "overdue", dpd=1)
    facts = world.facts(us(1, 5))
    assert CHECKS["false_reports_corrected"](facts) == []
    assert len(CHECKS["no_false_overdue"](facts)) == 1


@pytest.mark.parametrize(
    ("rewritten", "what"),
    [
        pytest.param(None, "never corrected", id="left-standing"),
        pytest.param((cn(10), "overdue", 3), None, id="rewritten-with-the-true-days"),
        pytest.param((cn(10), "current", 0), None, id="rewritten-current"),
        pytest.param((cn(10), "overdue", 40), "never corrected", id="rewritten-still-false"),
    ],
)
def test_a_record_overstating_the_days_past_due_must_be_corrected(
        rewritten: tuple[datetime, str, int] | None, what: str | None) -> None:
    """CN: installment 1 (late from 02-02 00:00) is recorded 45 days past due on 02-04, when it
    was 3 days past due (bucket 31–60 instead of 1–30), and paid on 02-06 at 5 days; the bank
    had what it needed when it wrote the record, so the 20-day clock starts then: gone by
    02-24 01:00, or a violation."""
    world = facts_builder("CN")
    world.record(cn(4, hour=1), "overdue", dpd=45)
    world.pay("P1", LEVEL + 1_000, cn(6))
    world.post("P1", LEVEL + 1_000, cn(6, hour=13))
    if rewritten is not None:
        at, status, dpd = rewritten
        world.record(at, status, dpd=dpd)
    found = corrections(world, cn(15, month=3))
    if what is None:
        assert found == []
        return
    (violation,) = found
    assert what in violation.message and "truly 3 day(s) past due" in violation.message
    assert violation.instants["deadline"] == "2026-02-24T01:00:00+08:00"


def _us_late_payment_in_transit(defects: list[str]) -> tuple[ScenarioResult, list[datetime]]:
    """A US world: installment 1 of paula's loan is due Monday 03-02 (threshold 04-01 00:00);
    she pays on 03-30 at 20:00, 28 days past due, as the docking link goes down for 6 days.
    The month-end batch (classified 04-01 00:30) waits 3 days for the file and reports on 04-04
    at 00:30; the repayment reaches the bank once the link is back (04-05 12:00). Returns the
    verdict and the instants the bank posted her repayment, read from the journal."""
    scenario = load(
        jurisdiction="US", start="2026-03-01T09:00", until="2026-05-10",
        borrowers=[borrower("paula", principal="3000.00", annual_rate="0.15", months=6,
                            disbursed="2026-02-02")],
        world=world(defects=defects),
        steps=[*docking_outage("2026-03-30T12:00", "6d"),
               repay("2026-03-30T20:00", borrower="paula")])
    posted: list[datetime] = []

    def read_postings(finished: World, _result: ScenarioResult) -> None:
        posted.extend(entry.at for entry in finished.journal.entries(["bank.posted"]))

    return run_scenario(scenario, inspect=read_postings), posted


def test_a_bank_that_never_corrects_a_late_payment_before_the_threshold_is_caught() -> None:
    """In a whole world, a bank that does not correct the 30-day record once the late (but
    under-30-days) repayment arrives violates ``false_reports_corrected``: the record went
    out at 04-04 00:30 and had to be gone 30 days after the repayment was posted."""
    result, posted = _us_late_payment_in_transit(["bank.no_correction_on_late_arrival"])
    (arrived,) = posted
    local = arrived.astimezone(NEW_YORK)
    assert datetime(2026, 4, 5, 12, tzinfo=NEW_YORK) <= local < datetime(2026, 4, 6, 12,
                                                                          tzinfo=NEW_YORK)
    (violation,) = result.violations["false_reports_corrected"]
    assert (violation.borrower, violation.installment) == ("paula", 1)
    assert violation.instants["reported_at"] == "2026-04-04T00:30:00-04:00"
    assert violation.instants["deadline"] == (local + timedelta(days=30)).isoformat()
    assert "never corrected" in violation.message


def test_a_bank_that_corrects_the_late_payment_before_the_threshold_is_quiet() -> None:
    """The same world with a correct bank: the false record (expected under the outage) is
    corrected when the repayment arrives, so ``false_reports_corrected`` holds."""
    result, _posted = _us_late_payment_in_transit([])
    assert result.violated == ["no_false_overdue"]


# -- bureau_matches_truth ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "violated"),
    [
        pytest.param("current", False, id="current-matches"),
        pytest.param("overdue", True, id="overdue-but-paid-on-time"),
    ],
)
def test_bureau_matches_truth_on_hand_built_facts(status: str, violated: bool) -> None:
    """At the end, the bureau's status of a settled period must equal the oracle's."""
    world = facts_builder()
    world.pay("P1", LEVEL, cn(1, hour=21))
    seq = world.record(cn(2, hour=1), status)
    found = check("bureau_matches_truth", world, cn(1, month=3))
    assert bool(found) is violated
    if found:
        assert seq in found[0].evidence  # the record the bureau holds
        assert found[0].evidence[0] < seq  # and the capture of the on-time payment before it
        assert re.search(r"holds 2026-02 as overdue, but the truth is current", found[0].message)


def test_a_true_delinquency_that_vanished_is_a_violation() -> None:
    """A true delinquency the bureau no longer holds at the end (deleted) is a violation."""
    world = facts_builder()
    world.record(cn(2, hour=1), "overdue")
    world.record(cn(20), "overdue", deleted=True)
    found = [v for v in check("bureau_matches_truth", world, END) if "2026-02" in v.message]
    assert len(found) == 1
    assert "holds 2026-02 as nothing (no record), but the truth is overdue" in found[0].message


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        pytest.param({}, None, id="alice's-own-record"),
        pytest.param({"account": "ACC-9"}, "account ACC-9 is no loan the bank booked",
                     id="the-bank's-own-account-number"),
        pytest.param({"installment": 9}, "has no installment 9", id="no-such-installment"),
        pytest.param({"period": "2026-05"}, "is due in 2026-02, not 2026-05", id="wrong-period"),
        pytest.param({"subject": "110101198001011234"}, "another subject's ID number",
                     id="another-subject"),
    ],
)
def test_every_record_must_be_a_true_installments(changes: dict[str, Any],
                                                  why: str | None) -> None:
    """A record the oracle cannot map to the borrower, account, installment and period it
    names — or that names the wrong subject — is a violation, never skipped; alice's own
    record of installment 1 is none."""
    world = facts_builder()
    world.pay("P1", 3 * LEVEL, cn(1, hour=21))
    seq = world.record(cn(28, hour=1), "current", dpd=0, **changes)
    found = [v for v in check("bureau_matches_truth", world, END) if v.cause]
    if why is None:
        assert found == []
        return
    assert len(found) == 1 and why in found[0].message
    assert found[0].evidence == (seq,)
    assert ID_NUMBER not in found[0].message and "110101198001011234" not in found[0].message
