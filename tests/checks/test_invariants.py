"""The invariants (README, "What it checks"): each holds on a correct run; a defect violates
it, with evidence."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from simulator.checks.facts import (
    CreditWrite,
    Facts,
    Limits,
    Violation,
    Window,
)
from simulator.checks.invariants import CHECKS
from simulator.checks.oracle import Oracle
from simulator.core.calendars import jurisdiction
from simulator.core.clock import Clock
from simulator.core.privacy import mask_id_number
from simulator.engine.journal import Journal
from simulator.scenarios.model import INVARIANTS, Borrower, ContractTerms, LoanTerms, Pays
from simulator.world.runner import ScenarioResult, run_scenario
from tests.support.facts import ID_NUMBER, LEVEL, PHONE, FactsBuilder, facts_builder
from tests.support.scenario_text import borrower, check, docking_outage, fault, load, repay

SHANGHAI = ZoneInfo("Asia/Shanghai")

#: alice, with personal data the tests can look for in the output.
ALICE = borrower(id_number=ID_NUMBER, phone=PHONE)
ON_DUE_DATE = "2026-02-01T21:00"


@dataclass(frozen=True)
class Case:
    """A small scenario: its overrides of the base scenario and the defects planted."""

    overrides: dict[str, Any]
    defects: tuple[str, ...] = ()
    #: journal kinds the violation's evidence must point to
    evidence_kinds: tuple[str, ...] = ()
    #: end-of-run bureau expectations that show the case is not vacuous
    bureau: list[dict[str, str]] = field(default_factory=list)


def _run(case: Case) -> ScenarioResult:
    overrides = {"borrowers": [ALICE], **case.overrides}
    if case.bureau:
        overrides["expect"] = {"bureau": case.bureau}
    return run_scenario(load(**overrides), case.defects)


DOCKING = {"until": "2026-03-02",
           "steps": [*docking_outage("2026-02-01T08:00", "3d"), repay(ON_DUE_DATE)]}
BEYOND_WAIT = {
    "until": "2026-03-15",
    "steps": [*docking_outage("2026-02-01T08:00", "6d"), repay(ON_DUE_DATE),
              check("2026-02-06T12:00", ("alice", "2026-02", "overdue"))],
}
DISPUTED = {**BEYOND_WAIT, "steps": [
    *BEYOND_WAIT["steps"], {"at": "2026-02-10T10:00",
                            "dispute": {"borrower": "alice", "period": "2026-02"}}]}
#: installment 1 paid in two parts: most of it on 01-20 (posted at once), the rest on the due
#: date while the docking link is down for 25 days, long after the bank's wait; the platform
#: retries twice a day (hourly retries through a month only cost run time)
PAID_IN_TWO_PARTS = {
    "until": "2026-03-15",
    "world": {"platform": {"retry_max": "12h"}},
    "steps": [repay("2026-01-20T10:00", amount=Decimal("300.00")),
              *docking_outage("2026-02-01T08:00", "25d"), repay(ON_DUE_DATE),
              check("2026-02-06T12:00", ("alice", "2026-02", "overdue"))],
}
NO_LATE_CORRECTION = ("bank.no_correction_on_late_arrival",)
DUPLICATED = {"steps": [fault("2026-02-01T08:00", "duplicate", link="platform->bank", for_="1d"),
                        repay(ON_DUE_DATE)]}
API_OUTAGE = {"steps": [fault("2026-02-01T08:00", "outage", link="platform->bank", for_="1d"),
                        repay(ON_DUE_DATE)]}
#: the bank answers a valid repayment 422 for a day: the platform gives the money back
REFUSED = {"steps": [fault("2026-02-01T08:00", "error", link="platform->bank", status=422,
                           for_="1d"),
                     repay(ON_DUE_DATE)]}
NEVER_PAYS = {"until": "2026-03-02",  # past the month-end batch of February
              "borrowers": [borrower(id_number=ID_NUMBER, phone=PHONE, pays="never")]}
OVERDUE_AT_END = [{"borrower": "alice", "period": "2026-02", "status": "overdue"}]
CURRENT_AT_END = [{"borrower": "alice", "period": "2026-02", "status": "current"}]

HOLDS = [
    pytest.param("no_false_overdue", Case(DOCKING, bureau=CURRENT_AT_END),
                 id="no_false_overdue-bank-waits-for-reconciliation"),
    pytest.param("no_false_overdue_sms", Case(DOCKING), id="no_false_overdue_sms-bank-waits"),
    pytest.param("exactly_once_posting", Case(DUPLICATED),
                 id="exactly_once_posting-replay-answered-from-key"),
    pytest.param("exactly_once_posting", Case(API_OUTAGE), id="exactly_once_posting-retried"),
    pytest.param("money_conserved", Case(DUPLICATED), id="money_conserved-replay"),
    pytest.param("money_conserved", Case(API_OUTAGE), id="money_conserved-retried"),
    pytest.param("true_overdue_reported", Case(NEVER_PAYS, bureau=OVERDUE_AT_END),
                 id="true_overdue_reported-never-pays-is-reported"),
    pytest.param("false_reports_corrected", Case(BEYOND_WAIT, bureau=CURRENT_AT_END),
                 id="false_reports_corrected-correction-on-arrival"),
    pytest.param("false_reports_corrected",
                 Case(DISPUTED, NO_LATE_CORRECTION, bureau=CURRENT_AT_END),
                 id="false_reports_corrected-dispute-resolved"),
    # the clock starts when the bank could know the installment paid: when its last part
    # arrived (02-26), not its first (01-20; explore found the limit counted from there)
    pytest.param("false_reports_corrected", Case(PAID_IN_TWO_PARTS, bureau=CURRENT_AT_END),
                 id="false_reports_corrected-from-the-last-part-arriving"),
    pytest.param("bureau_matches_truth", Case(BEYOND_WAIT, bureau=CURRENT_AT_END),
                 id="bureau_matches_truth-corrected"),
    pytest.param("bureau_matches_truth", Case(NEVER_PAYS, bureau=OVERDUE_AT_END),
                 id="bureau_matches_truth-true-delinquency"),
    pytest.param("no_wrongful_refund", Case(API_OUTAGE), id="no_wrongful_refund-retried"),
    pytest.param("in_transit_bounded", Case(API_OUTAGE), id="in_transit_bounded-retried"),
]

VIOLATED = [
    pytest.param("no_false_overdue",
                 Case(DOCKING, ("bank.reports_without_reconciliation",),
                      ("credit_file.changed", "money.taken")),
                 id="no_false_overdue-reports-without-reconciliation"),
    pytest.param("no_false_overdue_sms",
                 Case(DOCKING, ("bank.reports_without_reconciliation",),
                      ("sms.sent", "money.taken")),
                 id="no_false_overdue_sms-reports-without-reconciliation"),
    pytest.param("exactly_once_posting",
                 Case(DUPLICATED, ("bank.ignores_idempotency_key",),
                      ("money.taken", "bank.posted", "bank.posted")),
                 id="exactly_once_posting-ignores-idempotency-key"),
    pytest.param("exactly_once_posting",
                 Case(API_OUTAGE, ("platform.no_retry",), ("money.taken",)),
                 id="exactly_once_posting-no-retry"),
    pytest.param("money_conserved",
                 Case(DUPLICATED, ("bank.ignores_idempotency_key",),
                      ("money.taken", "bank.posted", "bank.posted")),
                 id="money_conserved-ignores-idempotency-key"),
    pytest.param("money_conserved",
                 Case(API_OUTAGE, ("platform.no_retry",), ("money.taken",)),
                 id="money_conserved-no-retry"),
    pytest.param("true_overdue_reported", Case(NEVER_PAYS, ("bank.suppresses_delinquency",)),
                 id="true_overdue_reported-suppresses-delinquency"),
    pytest.param("false_reports_corrected",
                 Case(BEYOND_WAIT, NO_LATE_CORRECTION,
                      ("credit_file.changed", "money.taken", "bank.posted")),
                 id="false_reports_corrected-no-correction"),
    pytest.param("false_reports_corrected",
                 Case(DISPUTED, (*NO_LATE_CORRECTION, "bureau.dispute_never_resolved"),
                      ("credit_file.changed", "money.taken", "bank.posted")),
                 id="false_reports_corrected-dispute-never-resolved"),
    pytest.param("false_reports_corrected",
                 Case(BEYOND_WAIT, ("bureau.correction_ignored",),
                      ("credit_file.changed", "money.taken", "bank.posted")),
                 id="false_reports_corrected-bureau-ignores-correction"),
    pytest.param("bureau_matches_truth",
                 Case(BEYOND_WAIT, NO_LATE_CORRECTION, ("credit_file.changed",)),
                 id="bureau_matches_truth-no-correction"),
    pytest.param("bureau_matches_truth", Case(NEVER_PAYS, ("bank.suppresses_delinquency",)),
                 id="bureau_matches_truth-suppressed"),
    pytest.param("no_wrongful_refund", Case(REFUSED, (), ("money.taken", "link.call")),
                 id="no_wrongful_refund-bank-refuses-a-valid-repayment"),
    pytest.param("in_transit_bounded",
                 Case(API_OUTAGE, ("platform.no_retry",), ("money.taken",)),
                 id="in_transit_bounded-no-retry"),
]


def test_every_invariant_is_covered() -> None:
    """Each invariant has a holding and a violated case in the tables above."""
    assert {p.values[0] for p in HOLDS} == set(INVARIANTS)
    assert {p.values[0] for p in VIOLATED} == set(INVARIANTS)
    assert tuple(CHECKS) == INVARIANTS


@pytest.mark.parametrize(("invariant", "case"), HOLDS)
def test_invariant_holds(invariant: str, case: Case) -> None:
    """On a correct integration the invariant holds, and the run did what the case sets up."""
    result = _run(case)
    assert result.violations[invariant] == []
    assert result.failed_checks == []
    assert len(result.checks) >= len(case.bureau)


def test_correct_bank_waits_for_reconciliation_before_any_report() -> None:
    """The holding no_false_overdue case is not vacuous: with the defect the same run fails it."""
    holding = _run(Case(DOCKING))
    failing = _run(Case(DOCKING, ("bank.reports_without_reconciliation",)))
    assert holding.violated == []
    assert failing.violated == ["no_false_overdue", "no_false_overdue_sms"]


def test_false_record_does_appear_beyond_the_wait() -> None:
    """Beyond the reconciliation wait the correct bank does report falsely, then corrects it."""
    result = _run(Case(BEYOND_WAIT, bureau=CURRENT_AT_END))
    assert result.violated == ["no_false_overdue", "no_false_overdue_sms"]
    assert [(c.expected, c.actual) for c in result.checks] == [("overdue", "overdue"),
                                                               ("current", "current")]


@pytest.fixture(scope="module")
def violated_runs() -> dict[tuple[str, ...], ScenarioResult]:
    """Each violated case run once, shared by the tests on its evidence."""
    return {}


def _violations(invariant: str, case: Case,
                cache: dict[tuple[str, ...], ScenarioResult]) -> tuple[ScenarioResult,
                                                                        list[Violation]]:
    key = (json.dumps(case.overrides, sort_keys=True, default=str), *case.defects)
    if key not in cache:
        cache[key] = _run(case)
    result = cache[key]
    return result, result.violations[invariant]


@pytest.mark.parametrize(("invariant", "case"), VIOLATED)
def test_invariant_violated(invariant: str, case: Case,
                            violated_runs: dict[tuple[str, ...], ScenarioResult]) -> None:
    """The planted defect violates the invariant for alice; unexpected, it fails the run."""
    result, found = _violations(invariant, case, violated_runs)
    assert found, f"{invariant} held; violated: {result.violated}"
    assert all(v.invariant == invariant for v in found)
    assert {v.borrower for v in found} == {"alice"}
    assert invariant in result.unexpected
    assert not result.passed


@pytest.mark.parametrize(("invariant", "case"), VIOLATED)
def test_violation_carries_masked_evidence(invariant: str, case: Case,
                                           violated_runs: dict[tuple[str, ...],
                                                               ScenarioResult]) -> None:
    """A violation names the borrower, the masked subject and instants, never the ID number."""
    result, found = _violations(invariant, case, violated_runs)
    violation = found[0]
    assert violation.borrower == "alice"
    assert violation.subject == mask_id_number(ID_NUMBER) == "1101**********1234"
    assert violation.message
    assert violation.instants
    for name, text in violation.instants.items():
        if text:
            instant = datetime.fromisoformat(text)
            assert instant.utcoffset() == timedelta(hours=8), name  # local Beijing time
    text = json.dumps(result.as_dict(), ensure_ascii=False)
    assert ID_NUMBER not in text
    assert PHONE not in text
    assert "1101**********1234" in text


INSTALLMENT_INVARIANTS = ("no_false_overdue", "no_false_overdue_sms", "true_overdue_reported",
                          "false_reports_corrected", "bureau_matches_truth")


@pytest.mark.parametrize(("invariant", "case"), [p for p in VIOLATED
                                                 if p.values[0] in INSTALLMENT_INVARIANTS])
def test_violation_names_the_installment(invariant: str, case: Case,
                                         violated_runs: dict[tuple[str, ...],
                                                             ScenarioResult]) -> None:
    """An installment-level violation names installment 1, the one due on 2026-02-01."""
    _, found = _violations(invariant, case, violated_runs)
    assert [v.installment for v in found][:1] == [1]
    due_end = found[0].instants.get("due_end")
    assert due_end in (None, "2026-02-02T00:00:00+08:00")
    if invariant != "false_reports_corrected":  # its instants are the record's and deadline's
        assert due_end is not None


@pytest.mark.parametrize(("invariant", "case"), VIOLATED)
def test_every_violation_cites_journal_entries(
        invariant: str, case: Case,
        violated_runs: dict[tuple[str, ...], ScenarioResult]) -> None:
    """Every violation cites at least one journal entry, and every cited entry is in the report."""
    result, found = _violations(invariant, case, violated_runs)
    assert found
    for violation in found:
        assert violation.evidence, f"{invariant}: {violation.message} cites no journal entry"
        assert all(seq in result.evidence for seq in violation.evidence)


@pytest.mark.parametrize(("invariant", "case"), [p for p in VIOLATED if p.values[1].evidence_kinds])
def test_violation_evidence_points_to_journal_entries(
        invariant: str, case: Case,
        violated_runs: dict[tuple[str, ...], ScenarioResult]) -> None:
    """The evidence sequence numbers are journal entries of the kinds that prove the violation."""
    result, found = _violations(invariant, case, violated_runs)
    violation = found[0]
    assert violation.evidence
    briefs = [result.evidence[seq] for seq in violation.evidence]
    for seq, brief in zip(violation.evidence, briefs, strict=True):
        assert brief.startswith(f"#{seq} ")
    kinds = sorted(brief.split(" ")[2] for brief in briefs)
    for kind in set(case.evidence_kinds):
        assert kinds.count(kind) >= case.evidence_kinds.count(kind), (kind, briefs)
    for brief in briefs:
        if brief.split(" ")[2].startswith("credit_file."):
            assert '"account":"L-alice"' in brief and '"installment":1' in brief


def test_no_false_overdue_evidence_is_the_bureau_record_and_the_payment(
        violated_runs: dict[tuple[str, ...], ScenarioResult]) -> None:
    """no_false_overdue's evidence is the overdue bureau record, then the on-time payment."""
    case = Case(DOCKING, ("bank.reports_without_reconciliation",))
    result, found = _violations("no_false_overdue", case, violated_runs)
    record, *payment = (result.evidence[seq] for seq in found[0].evidence)
    assert " credit_file.changed " in record and '"status":"overdue"' in record
    assert any(" money.taken " in brief for brief in payment)
    instants = found[0].instants
    assert instants["paid_at"] == "2026-02-01T21:00:00+08:00"
    assert instants["paid_at"] < instants["due_end"] < instants["reported_at"]


# -- the checks on hand-built facts ---------------------------------------------------


@pytest.fixture
def make_facts() -> Callable[[], FactsBuilder]:
    """A factory of :class:`FactsBuilder` for alice's 3-month CN loan disbursed 2026-01-01."""
    return facts_builder


def cn(day: int, month: int = 2, hour: int = 12) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=SHANGHAI)


def check(name: str, world: FactsBuilder, end: datetime) -> list[Violation]:
    return CHECKS[name](world.facts(end))


END = cn(15, month=3)  # every deadline of installment 1 has passed
def test_no_false_overdue_on_hand_built_facts(make_facts: Callable[[], FactsBuilder]) -> None:
    """An overdue record for an on-time installment is one violation citing record and payment."""
    world = make_facts()
    captured = world.pay("P1", LEVEL, cn(1, hour=21))
    record = world.record(cn(2, hour=1), "overdue")
    world.record(cn(3, hour=1), "overdue")  # the same installment again: still one violation
    found = check("no_false_overdue", world, cn(1, month=3))
    assert len(found) == 1
    assert found[0].evidence == (record, captured)
    assert found[0].installment == 1
    assert found[0].subject == "1101**********1234"
    assert found[0].instants["reported_at"] == "2026-02-02T01:00:00+08:00"


def test_no_false_overdue_ignores_true_lateness(make_facts: Callable[[], FactsBuilder]) -> None:
    """An overdue record for an installment paid after its due end, written once it truly
    reached the threshold with the days it truly had, is no violation."""
    world = make_facts()
    world.pay("P1", LEVEL + 100, cn(2, hour=10))
    world.record(cn(3, hour=1), "overdue", dpd=1)
    assert check("no_false_overdue", world, cn(1, month=3)) == []


def test_a_false_overdue_written_by_a_correction_is_seen(
        make_facts: Callable[[], FactsBuilder]) -> None:
    """A correction (or a dispute outcome) that writes "overdue" over a current record of an
    on-time installment is a false delinquency the moment it is written."""
    world = make_facts()
    world.pay("P1", LEVEL, cn(1, hour=21))
    world.record(cn(28, month=2, hour=1), "current", dpd=0)
    wrong = world.record(cn(10, month=3), "overdue", dpd=5)
    found = check("no_false_overdue", world, END)
    assert [v.evidence[0] for v in found] == [wrong]
    assert found[0].instants["reported_at"] == "2026-03-10T12:00:00+08:00"


@pytest.mark.parametrize(
    ("recorded_at", "dpd", "paid_at", "why"),
    [
        # the US-style mistake, in CN terms: reported before the threshold, paid later anyway
        pytest.param(cn(1, hour=23), 1, cn(9), "reached the reporting threshold", id="premature"),
        pytest.param(cn(4, hour=1), 45, None, "truly 3 day(s) past due", id="bucket-overstated"),
        pytest.param(cn(4, hour=1), 30, None, None, id="same-bucket-understated-days"),
        pytest.param(cn(5, month=3, hour=1), 1, None, None, id="understated-after-a-delay"),
    ],
)
def test_no_false_overdue_judges_when_and_how_late(
        make_facts: Callable[[], FactsBuilder], recorded_at: datetime, dpd: int,
        paid_at: datetime | None, why: str | None) -> None:
    """A delinquency is false when recorded before the installment truly reached the
    threshold, or in a worse days-past-due bucket than was true then (CN buckets 1–30,
    31–60, …); understating is not a false alarm."""
    world = make_facts()
    if paid_at is not None:
        world.pay("P1", LEVEL + 500, paid_at)
    world.record(recorded_at, "overdue", dpd=dpd)
    found = check("no_false_overdue", world, END)
    if why is None:
        assert found == []
    else:
        assert len(found) == 1 and why in found[0].message


def test_us_reporting_at_one_day_past_due_is_premature() -> None:
    """In the US a delinquency may only be recorded from 30 days past due: a record at 1 day
    is false even though the borrower never pays."""
    loan = LoanTerms(100_000, Decimal("0.12"), 3, "equal_installment", date(2026, 1, 1))
    bob = Borrower("bob", "Bob", "123-45-6789", "212-555-0123", loan, Pays())
    new_york = ZoneInfo("America/New_York")
    clock = Clock(datetime(2026, 1, 1, 9, tzinfo=new_york), new_york)
    oracle = Oracle((bob,), ContractTerms(), jurisdiction("US"))
    oracle.open_account("bob", "L-bob")
    journal = Journal(clock)
    early = CreditWrite(datetime(2026, 2, 3, 1, tzinfo=new_york), "123-45-6789", "L-bob", 1,
                        "2026-02", "overdue", 1, False, 0)
    on_time = early._replace(at=datetime(2026, 3, 4, 1, tzinfo=new_york), days_past_due=31)
    facts = Facts(journal=journal, oracle=oracle, end=datetime(2026, 6, 1, tzinfo=new_york),
                  limits=Limits(timedelta(days=3), timedelta(days=1)), postings=[],
                  postings_seen=[], platform_pending={}, bureau_records=[],
                  credit_writes=[early, on_time], messages=[])
    found = CHECKS["no_false_overdue"](facts)
    assert len(found) == 1
    # 30 days past due from 2026-03-03 (1 February + 30 days), midnight in New York
    assert "reached the reporting threshold (30 day(s) past due) only at " \
        "2026-03-03T00:00:00-05:00" in found[0].message


@pytest.mark.parametrize(
    ("paid_at", "violated"),
    [
        pytest.param(datetime(2026, 2, 20, 12, tzinfo=ZoneInfo("America/New_York")), True,
                     id="paid-at-19-days"),
        pytest.param(None, False, id="never-paid"),
    ],
)
def test_a_us_record_below_30_days_of_an_installment_paid_before_the_threshold(
        paid_at: datetime | None, violated: bool) -> None:
    """US: a delinquency at 1 day past due written on 03-04 (after the 30-day threshold of 03-03
    00:00) is false when she paid on 02-20, 19 days past due — the installment never reached
    the threshold, although the record states no worse a bucket than was true; of an
    installment never paid it is true (only understated)."""
    world = facts_builder("US")
    if paid_at is not None:
        world.pay("P1", LEVEL + 1_000, paid_at)
    world.record(datetime(2026, 3, 4, 1, tzinfo=ZoneInfo("America/New_York")), "overdue", dpd=1)
    found = CHECKS["no_false_overdue"](world.facts(datetime(2026, 6, 1, tzinfo=SHANGHAI)))
    assert bool(found) is violated
    if found:
        assert "it was paid at 2026-02-20T12:00:00-05:00, before it reached the reporting " \
            "threshold (30 day(s) past due) at 2026-03-03T00:00:00-05:00" in found[0].message


@pytest.mark.parametrize(
    ("text", "reason", "installment", "sent_at", "violated"),
    [
        pytest.param("Installment 1 of your loan is overdue.", "overdue_warning", 1, cn(2, hour=1),
                     True, id="warning-for-an-on-time-installment"),
        pytest.param("Your repayment is overdue, please pay now.", "notice", None,
                     cn(2, hour=1), True, id="overdue-text-under-another-reason"),
        pytest.param("您的第1期还款已逾期。", "notice", None, cn(2, hour=1), True,
                     id="chinese-text-naming-the-installment"),
        pytest.param("Your repayment PAY00000001 was returned by the bank.", "repayment_refunded",
                     None, cn(2, hour=1), False, id="a-refund-notice-is-no-warning"),
    ],
)
def test_no_false_overdue_sms_reads_every_text(
        make_facts: Callable[[], FactsBuilder], text: str, reason: str,
        installment: int | None, sent_at: datetime, violated: bool) -> None:
    """Any text that speaks of an overdue installment counts, whatever fields it carries."""
    world = make_facts()
    world.pay("P1", LEVEL, cn(1, hour=21))
    seq = world.text(sent_at, text, reason=reason, installment=installment)
    found = check("no_false_overdue_sms", world, END)
    assert bool(found) is violated
    if found:
        assert found[0].evidence[0] == seq


def test_a_warning_before_the_due_end_is_false(make_facts: Callable[[], FactsBuilder]) -> None:
    """An overdue warning sent before the installment's due end is false, even for a borrower
    who then pays late; one sent after it, to a borrower truly late, is true."""
    world = make_facts()
    world.text(cn(1, hour=22), "Installment 1 is overdue.", reason="overdue_warning",
               installment=1)
    world.text(cn(2, hour=9), "Installment 1 is overdue.", reason="overdue_warning",
               installment=1)
    world.pay("P1", LEVEL + 500, cn(3))
    found = check("no_false_overdue_sms", world, END)
    assert len(found) == 1
    assert "its due end 2026-02-02T00:00:00+08:00 had not come yet" in found[0].message


@pytest.mark.parametrize(
    ("postings", "pending", "cause"),
    [
        pytest.param([LEVEL], False, None, id="posted-once"),
        pytest.param([], True, None, id="still-in-the-outbox"),
        pytest.param([], False, "lost repayment", id="lost"),
        pytest.param([LEVEL, LEVEL], False, "repeated posting", id="posted-twice"),
        pytest.param([LEVEL - 1], False, "wrong amount", id="wrong-amount"),
    ],
)
def test_exactly_once_posting_on_hand_built_facts(make_facts: Callable[[], FactsBuilder],
                                                  postings: list[int], pending: bool,
                                                  cause: str | None) -> None:
    """A captured repayment must be posted exactly once with its amount, or still be pending."""
    world = make_facts()
    captured = world.pay("P1", LEVEL, cn(1, hour=21))
    posted = [world.post("P1", amount, cn(1, hour=22)) for amount in postings]
    if pending:
        world.platform_pending["P1"] = LEVEL
    found = check("exactly_once_posting", world, cn(1, month=3))
    assert [v.cause for v in found] == ([] if cause is None else [cause])
    if cause is not None:
        assert found[0].evidence == (captured, *posted)


def test_a_double_posting_later_reversed_still_counts(
        make_facts: Callable[[], FactsBuilder]) -> None:
    """Two postings of one repayment violate exactly-once even if the bank removes one later."""
    world = make_facts()
    world.pay("P1", LEVEL, cn(1, hour=21))
    world.post("P1", LEVEL, cn(1, hour=22))
    world.post("P1", LEVEL, cn(1, hour=23))
    world.unpost("PST00000002")
    found = check("exactly_once_posting", world, END)
    assert [v.cause for v in found] == ["repeated posting"]
    assert "PST00000001, PST00000002" in found[0].message


def test_exactly_once_posting_phantom(make_facts: Callable[[], FactsBuilder]) -> None:
    """A posting for a payment nobody made is a phantom posting."""
    world = make_facts()
    world.post("P9", 500, cn(1, hour=22))
    found = check("exactly_once_posting", world, cn(1, month=3))
    assert [(v.cause, v.borrower) for v in found] == [("phantom posting", None)]


def test_a_payment_id_answered_twice_is_reported(make_facts: Callable[[], FactsBuilder]) -> None:
    """Two payments acknowledged under one payment id are a violation of their own."""
    world = make_facts()
    world.pay("P1", LEVEL, cn(1, hour=21))
    world.post("P1", LEVEL, cn(1, hour=22))
    world.reused.append("P1")
    found = check("exactly_once_posting", world, END)
    assert [v.cause for v in found] == ["payment id reused"]


@pytest.mark.parametrize(
    ("postings", "applied", "pending", "gap"),
    [
        pytest.param([LEVEL], None, False, None, id="all-posted"),
        pytest.param([], None, True, None, id="all-in-transit"),
        pytest.param([LEVEL, LEVEL], None, False, "34002 too much", id="posted-twice"),
        pytest.param([], None, False, "34002 missing", id="lost"),
        pytest.param([LEVEL], LEVEL - 100, False, "100 missing", id="applied-less"),
    ],
)
def test_money_conserved_on_hand_built_facts(make_facts: Callable[[], FactsBuilder],
                                             postings: list[int], applied: int | None,
                                             pending: bool, gap: str | None) -> None:
    """What borrowers paid must equal what the bank applied plus what went back to them plus
    what is in transit, to the fen — a bank applying less than it received included."""
    world = make_facts()
    world.pay("P1", LEVEL, cn(1, hour=21))
    for amount in postings:
        world.post("P1", amount, cn(1, hour=22), applied=applied)
    if pending:
        world.platform_pending["P1"] = LEVEL
    found = check("money_conserved", world, cn(1, month=3))
    if gap is None:
        assert found == []
    else:
        assert len(found) == 1 and gap in found[0].message
        assert found[0].borrower == "alice"


def test_money_given_back_counts_once_it_truly_moved(
        make_facts: Callable[[], FactsBuilder]) -> None:
    """A surplus the bank truly gave back balances the books; one it only wrote down does not."""
    world = make_facts()
    world.pay("P1", LEVEL + 700, cn(1, hour=21))
    world.post("P1", LEVEL + 700, cn(1, hour=22), applied=LEVEL)
    assert "700 missing" in check("money_conserved", world, END)[0].message
    world.give_back("P1", 700, cn(1, hour=22), by="bank")
    assert check("money_conserved", world, END) == []


@pytest.mark.parametrize(
    ("paid", "returned", "violated"),
    [
        pytest.param(3 * LEVEL + 200, 100, False, id="part-of-a-true-surplus"),
        pytest.param(LEVEL, LEVEL, True, id="owed-money-refunded"),
        pytest.param(LEVEL + 200, 200, True, id="prepayment-is-no-surplus"),
    ],
)
def test_no_wrongful_refund_on_hand_built_facts(
        make_facts: Callable[[], FactsBuilder], paid: int, returned: int, violated: bool) -> None:
    """Only what a payment paid beyond everything the loan owed may go back: paying more than
    one installment prepays the next, so none of it is surplus until the loan is paid off."""
    world = make_facts()
    world.pay("P1", paid, cn(1, hour=21))
    world.give_back("P1", returned, cn(1, hour=22), by="platform")
    found = check("no_wrongful_refund", world, END)
    assert bool(found) is violated
    if found:
        assert found[0].borrower == "alice"


def test_a_wrongful_refund_names_the_refusal_behind_it(
        make_facts: Callable[[], FactsBuilder]) -> None:
    """The cause names the bank's refusal that made the platform give the money back."""
    world = make_facts()
    world.pay("P1", LEVEL, cn(1, hour=21))
    refusal = world.journal.append("link.call", "platform->bank", op="post_repayment", ref="P1",
                                   outcome="delivered", status=404)
    world.give_back("P1", LEVEL, cn(1, hour=22), by="platform")
    (found,) = check("no_wrongful_refund", world, END)
    assert found.cause is not None and found.cause.startswith(
        "the bank answered 404 to post_repayment")
    assert refusal in found.evidence


@pytest.mark.parametrize(
    ("arrived", "broken", "violated"),
    [
        pytest.param(cn(1, hour=22), [], False, id="an-hour-later"),
        pytest.param(cn(3, hour=20), [], True, id="two-days-on-a-whole-path"),
        pytest.param(cn(3, hour=20), [(cn(1, hour=8), cn(3, hour=8), "outage")], False,
                     id="within-a-day-of-the-outage-ending"),
        pytest.param(cn(5, hour=20), [(cn(1, hour=8), cn(3, hour=8), "outage")], True,
                     id="days-after-the-outage-ended"),
        pytest.param(None, [(cn(1, hour=8), cn(14, month=3, hour=18), "outage")], False,
                     id="whole-for-less-than-a-day-at-the-end"),
        pytest.param(None, [], True, id="stuck-for-good"),
    ],
)
def test_in_transit_bounded_on_hand_built_facts(
        make_facts: Callable[[], FactsBuilder], arrived: datetime | None,
        broken: list[tuple[datetime, datetime, str]], violated: bool) -> None:
    """An accepted repayment reaches the bank within a day of the path to it being whole;
    pending at the end is in transit only within that bound."""
    world = make_facts()
    world.pay("P1", LEVEL, cn(1, hour=21))
    world.path_broken = [Window(*window) for window in broken]
    if arrived is not None:
        world.post("P1", LEVEL, arrived)
    else:
        world.platform_pending["P1"] = LEVEL
    found = check("in_transit_bounded", world, END)
    assert bool(found) is violated
