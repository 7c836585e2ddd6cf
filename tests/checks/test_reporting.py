"""``false_reports_corrected`` judges every false record — false when it was written, whatever
became of its installment — and starts its clock when the bank could know (README, "What it
checks")."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from simulator.checks.facts import Violation
from simulator.checks.invariants import CHECKS
from tests.support.facts import LEVEL, FactsBuilder, facts_builder

NEW_YORK = ZoneInfo("America/New_York")
SHANGHAI = ZoneInfo("Asia/Shanghai")


def us(day: int, month: int, hour: int = 12) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=NEW_YORK)


def cn(day: int, month: int = 2, hour: int = 12) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=SHANGHAI)


def corrections(world: FactsBuilder, end: datetime) -> list[Violation]:
    return CHECKS["false_reports_corrected"](world.facts(end))


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
