"""Per-borrower timelines read from the journal (README, "Seeing what happened")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from simulator.checks.facts import Violation
from simulator.core.clock import Clock
from simulator.engine.journal import Journal
from simulator.faces.explain import Explanation
from simulator.faces.timeline import Due, Mark, Quiet, Timeline, read_timelines
from simulator.world.runner import ScenarioResult
from tests.support.explained import explained_run

SHANGHAI = ZoneInfo("Asia/Shanghai")
EIGHT_HOURS = timedelta(hours=8)


@pytest.fixture(scope="module")
def failing() -> tuple[ScenarioResult, Explanation]:
    """The small incident with its defect planted, explained."""
    result, explanation = explained_run()
    assert explanation is not None
    return result, explanation


@pytest.fixture(scope="module")
def alice(failing: tuple[ScenarioResult, Explanation]) -> Timeline:
    """Alice's timeline in the failing run (drawn first: the scenario's steps name her)."""
    return failing[1].timelines[0]


def only(marks: list[Mark], words: str) -> Mark:
    """The one mark whose text contains ``words``."""
    found = [m for m in marks if words in m.text]
    assert len(found) == 1, (words, [m.text for m in found])
    return found[0]


def refused_file(marks: list[Mark]) -> Mark:
    """The one mark of the reconciliation file of 2026-02-01 refused by the outage."""
    return only(marks, "reconciliation file 2026-02-01 → refused (outage)")


def test_violating_borrowers_get_timelines_alice_first(
        failing: tuple[ScenarioResult, Explanation]) -> None:
    """Every borrower named in a violation has a timeline; the one the steps name comes first."""
    result, explanation = failing
    named = {v.borrower for found in result.violations.values() for v in found}
    assert named == {"alice", "b0001", "b0002", "b0003"}
    assert explanation.timelines[0].borrower == "alice"
    assert {t.borrower for t in explanation.timelines} == named
    assert alice_subject(explanation) == "1101**********1234"


def alice_subject(explanation: Explanation) -> str:
    return explanation.timelines[0].subject


def test_marks_sit_on_the_lanes_of_who_did_them(alice: Timeline) -> None:
    """The repayment is on the borrower lane, capture, the held forward and the file on the
    platform's, the posting on the bank's, the record on the bureau's, the text on the SMS
    gateway's."""
    marks = alice.marks
    assert only(marks, "repays in the app").lane == "borrower"
    assert only(marks, "captured PAY").lane == "platform"
    assert only(marks, "holds PAY").lane == "platform"
    assert refused_file(marks).lane == "platform"
    assert only(marks, "posted PAY").lane == "bank"
    assert only(marks, "bureau record: installment 1").lane == "bureau"
    assert only(marks, "text from bank: overdue_warning, installment 1").lane == "sms"
    assert only(marks, "installment 1 due 2026-02-01").lane == "borrower"
    assert any(m.lane == "bank" and "acts without the reconciliation file" in m.text
               for m in marks)


def test_retries_through_the_outage_are_one_mark_with_a_count(alice: Timeline) -> None:
    """The reconciliation file refused through the three-day outage is one mark counting
    every attempt, from the first refusal to the last; its delivery after the outage is a
    mark of its own."""
    refused = refused_file(alice.marks)
    assert refused.count == len(refused.seqs) > 20
    assert refused.at == datetime(2026, 2, 2, 1, 0, tzinfo=SHANGHAI)
    assert datetime(2026, 2, 4, 7, tzinfo=SHANGHAI) <= refused.until < datetime(
        2026, 2, 4, 8, tzinfo=SHANGHAI)
    delivered = only(alice.marks, "reconciliation file 2026-02-01 → 200")
    assert delivered.count == 1 and delivered.at > refused.until


def test_instants_are_local_with_offset(alice: Timeline) -> None:
    """Every mark's instant is in Asia/Shanghai (+08:00); the repayment at 21:00 local."""
    assert all(m.at.utcoffset() == EIGHT_HOURS for m in alice.marks)
    assert only(alice.marks, "repays in the app").at == datetime(2026, 2, 1, 21, 0,
                                                                 tzinfo=SHANGHAI)


def test_utc_on_request() -> None:
    """Explained with UTC, the same repayment is at 13:00 UTC."""
    _, explanation = explained_run(utc=True)
    assert explanation is not None
    timeline = explanation.timelines[0]
    assert all(m.at.utcoffset() == timedelta(0) for m in timeline.marks)
    assert only(timeline.marks, "repays in the app").at == datetime(2026, 2, 1, 13, tzinfo=UTC)


def test_fault_windows_shade_both_ends_of_their_link(alice: Timeline) -> None:
    """The outages of platform->bank and recon run 02-01 08:00 to 02-04 08:00, on the
    platform's and the bank's lanes."""
    windows = {w.where: w for w in alice.windows}
    assert set(windows) == {"platform->bank", "recon"}
    for window in windows.values():
        assert window.kind == "outage"
        assert window.lanes == ("platform", "bank")
        assert window.start == datetime(2026, 2, 1, 8, tzinfo=SHANGHAI)
        assert window.end == datetime(2026, 2, 4, 8, tzinfo=SHANGHAI)
        assert len(window.seqs) == 2  # the journal's fault.started and fault.ended


def test_each_violation_is_drawn_on_the_entry_that_shows_it(
        failing: tuple[ScenarioResult, Explanation], alice: Timeline) -> None:
    """A flag per violation of alice's, anchored on its first evidence entry (the bureau
    record, the text) at that entry's instant and lane; every evidence mark points back."""
    result, _ = failing
    hers = [v for found in result.violations.values() for v in found if v.borrower == "alice"]
    assert {v.invariant for v in hers} == {"no_false_overdue", "no_false_overdue_sms"}
    assert len(alice.flags) == len(hers)
    for index, (flag, violation) in enumerate(zip(alice.flags, hers, strict=True)):
        assert flag.invariant == violation.invariant and not flag.expected
        assert flag.anchor == violation.evidence[0]
        assert flag.evidence == violation.evidence
        anchor = alice.mark_of(violation.evidence[0])
        assert anchor is not None
        assert (flag.at, flag.lane) == (anchor.at, anchor.lane)
        for seq in violation.evidence:
            mark = alice.mark_of(seq)
            assert mark is not None and index in mark.flags
    lanes = {flag.invariant: flag.lane for flag in alice.flags}
    assert lanes == {"no_false_overdue": "bureau", "no_false_overdue_sms": "sms"}


def test_another_borrowers_entries_stay_out(alice: Timeline,
                                            failing: tuple[ScenarioResult, Explanation]
                                            ) -> None:
    """No mark of alice's timeline is about b0001: its loan and payments are not shown."""
    b0001 = next(t for t in failing[1].timelines if t.borrower == "b0001")
    theirs = {seq for m in b0001.marks if m.own for seq in m.seqs}
    mine = {seq for m in alice.marks if m.own for seq in m.seqs}
    assert theirs and mine and not theirs & mine
    assert not any("b0001" in m.text for m in alice.marks)


def test_quiet_days_fold_and_busy_days_show_the_batches(alice: Timeline) -> None:
    """Day-end batches of January (nothing happens to alice) fold into a quiet stretch with
    counts; the batch of the due date, which acted on her, is shown."""
    quiet = [item for item in alice.items if isinstance(item, Quiet)]
    assert quiet and quiet[0].start.date().isoformat() == "2026-01-01"
    counts = dict(quiet[0].counts)
    assert counts["bank.batch_classified"] >= 28
    assert any(m.kind == "bank.batch_acted" and m.at.date().isoformat() == "2026-02-02"
               for m in alice.marks)


def test_passing_run_has_a_timeline_without_flags() -> None:
    """With no defect the run passes; alice's timeline still shows the outage delaying her
    repayment (its forward held behind the failing link, then posted after the outage) and
    has no flags."""
    result, explanation = explained_run(defects=())
    assert result.passed and explanation is not None
    [timeline] = explanation.timelines
    assert timeline.borrower == "alice" and timeline.flags == ()
    posted = only(timeline.marks, "posted PAY")
    assert posted.at > datetime(2026, 2, 4, 8, tzinfo=SHANGHAI)
    assert only(timeline.marks, "holds PAY").at < datetime(2026, 2, 2, tzinfo=SHANGHAI)


# -- generic reading: kinds nobody wrote words for -------------------------------------------
START = datetime(2026, 3, 1, 1, tzinfo=UTC)


def _journal() -> Journal:
    """A journal with known and unknown kinds, for alice (L-alice) and bob (L-bob)."""
    clock = Clock(START, SHANGHAI)
    journal = Journal(clock)
    journal.append("platform.captured", "platform", payment_id="PAY1", loan_id="L-alice",
                   amount=500)
    clock.now = START + timedelta(minutes=5)
    journal.append("network.moved", "network", payment_id="PAY1", amount=500, to="bank")
    journal.append("clearing.cycle", "clearing", cycle=3)
    journal.append("bank.hold_placed", "bank", loan_id="L-bob", amount=9)
    clock.now = START + timedelta(days=1)
    journal.append("bank.audit", "bank", ref="PAY1", note="it's late")
    return journal


def test_unknown_kinds_still_show_in_a_sensible_lane() -> None:
    """Kinds with no words of their own show as their name and fields: on the lane of a known
    party, else on the world lane; an entry naming a payment learned earlier is alice's, one
    naming bob is not, one naming nobody is shared."""
    journal = _journal()
    timelines = read_timelines(
        journal, scenario="generic", borrowers=["alice"],
        keys={"alice": "alice", "L-alice": "alice", "bob": "bob", "L-bob": "bob"},
        subjects={}, dues={"alice": [Due(1, datetime(2026, 3, 1).date(),
                                         datetime(2026, 3, 2, tzinfo=SHANGHAI))]},
        violations={}, expected=(), zone=SHANGHAI, start=START,
        end=START + timedelta(days=3))
    marks = {m.kind: m for m in timelines["alice"].marks}
    assert marks["network.moved"].lane == "world" and marks["network.moved"].own
    assert marks["network.moved"].text == "network.moved: amount 500, payment_id PAY1, to bank"
    assert marks["bank.audit"].lane == "bank" and marks["bank.audit"].own
    assert marks["clearing.cycle"].lane == "world" and not marks["clearing.cycle"].own
    assert "bank.hold_placed" not in marks
    assert marks["due"].text == "installment 1 due 2026-03-01: late from here"


def test_a_violation_without_evidence_is_drawn_at_its_earliest_instant() -> None:
    """A violation citing no entry is anchored on the borrower lane at its first instant."""
    journal = _journal()
    violation = Violation("true_overdue_reported", "never reported", borrower="alice",
                          installment=1, instants={"deadline": "2026-03-02T12:00:00+08:00",
                                                   "due_end": "2026-03-02T00:00:00+08:00"})
    timeline = read_timelines(
        journal, scenario="generic", borrowers=["alice"],
        keys={"alice": "alice", "L-alice": "alice"}, subjects={}, dues={},
        violations={"true_overdue_reported": [violation]}, expected=("true_overdue_reported",),
        zone=SHANGHAI, start=START, end=START + timedelta(days=3))["alice"]
    [flag] = timeline.flags
    assert flag.anchor is None and flag.lane == "borrower" and flag.expected
    assert flag.at == datetime(2026, 3, 2, tzinfo=SHANGHAI)
