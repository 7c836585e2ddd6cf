"""The invariants (README, "What it checks"): each holds on a correct run; a defect violates
it, with evidence."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from simulator.checks.facts import Facts, Violation
from simulator.checks.invariants import CHECKS
from simulator.checks.oracle import Oracle
from simulator.core.calendars import jurisdiction
from simulator.core.clock import Clock
from simulator.core.privacy import mask_id_number
from simulator.engine.journal import Journal
from simulator.scenarios.model import INVARIANTS, BankPolicy, Borrower, LoanTerms, Pays
from simulator.world.runner import ScenarioResult, run_scenario
from tests.support.scenario_text import borrower, check, docking_outage, fault, load, repay

SHANGHAI = ZoneInfo("Asia/Shanghai")
ID_NUMBER = "110101199003071234"
PHONE = "13812345678"

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
NO_LATE_CORRECTION = ("bank.no_correction_on_late_arrival",)
DUPLICATED = {"steps": [fault("2026-02-01T08:00", "duplicate", link="platform->bank", for_="1d"),
                        repay(ON_DUE_DATE)]}
API_OUTAGE = {"steps": [fault("2026-02-01T08:00", "outage", link="platform->bank", for_="1d"),
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
    pytest.param("bureau_matches_truth", Case(BEYOND_WAIT, bureau=CURRENT_AT_END),
                 id="bureau_matches_truth-corrected"),
    pytest.param("bureau_matches_truth", Case(NEVER_PAYS, bureau=OVERDUE_AT_END),
                 id="bureau_matches_truth-true-delinquency"),
]

VIOLATED = [
    pytest.param("no_false_overdue",
                 Case(DOCKING, ("bank.reports_without_reconciliation",),
                      ("bureau.record", "platform.captured")),
                 id="no_false_overdue-reports-without-reconciliation"),
    pytest.param("no_false_overdue_sms",
                 Case(DOCKING, ("bank.reports_without_reconciliation",),
                      ("sms.sent", "platform.captured")),
                 id="no_false_overdue_sms-reports-without-reconciliation"),
    pytest.param("exactly_once_posting",
                 Case(DUPLICATED, ("bank.ignores_idempotency_key",),
                      ("platform.captured", "bank.posted", "bank.posted")),
                 id="exactly_once_posting-ignores-idempotency-key"),
    pytest.param("exactly_once_posting",
                 Case(API_OUTAGE, ("platform.no_retry",), ("platform.captured",)),
                 id="exactly_once_posting-no-retry"),
    pytest.param("money_conserved",
                 Case(DUPLICATED, ("bank.ignores_idempotency_key",),
                      ("platform.captured", "bank.posted", "bank.posted")),
                 id="money_conserved-ignores-idempotency-key"),
    pytest.param("money_conserved",
                 Case(API_OUTAGE, ("platform.no_retry",), ("platform.captured",)),
                 id="money_conserved-no-retry"),
    pytest.param("true_overdue_reported", Case(NEVER_PAYS, ("bank.suppresses_delinquency",)),
                 id="true_overdue_reported-suppresses-delinquency"),
    pytest.param("false_reports_corrected",
                 Case(BEYOND_WAIT, NO_LATE_CORRECTION,
                      ("bureau.record", "platform.captured", "bank.posted")),
                 id="false_reports_corrected-no-correction"),
    pytest.param("false_reports_corrected",
                 Case(DISPUTED, (*NO_LATE_CORRECTION, "bureau.dispute_never_resolved"),
                      ("bureau.record", "platform.captured", "bank.posted")),
                 id="false_reports_corrected-dispute-never-resolved"),
    pytest.param("false_reports_corrected",
                 Case(BEYOND_WAIT, ("bureau.correction_ignored",),
                      ("bureau.record", "platform.captured", "bank.posted")),
                 id="false_reports_corrected-bureau-ignores-correction"),
    pytest.param("bureau_matches_truth",
                 Case(BEYOND_WAIT, NO_LATE_CORRECTION, ("bureau.record",)),
                 id="bureau_matches_truth-no-correction"),
    pytest.param("bureau_matches_truth", Case(NEVER_PAYS, ("bank.suppresses_delinquency",)),
                 id="bureau_matches_truth-suppressed"),
]


def test_every_invariant_is_covered() -> None:
    """Each of the seven invariants has a holding and a violated case in the tables above."""
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
        if brief.split(" ")[2].startswith("bureau."):
            assert '"account":"L-alice"' in brief and '"installment":1' in brief


def test_no_false_overdue_evidence_is_the_bureau_record_and_the_payment(
        violated_runs: dict[tuple[str, ...], ScenarioResult]) -> None:
    """no_false_overdue's evidence is the overdue bureau record, then the on-time payment."""
    case = Case(DOCKING, ("bank.reports_without_reconciliation",))
    result, found = _violations("no_false_overdue", case, violated_runs)
    record, *payment = (result.evidence[seq] for seq in found[0].evidence)
    assert " bureau.record " in record and '"status":"overdue"' in record
    assert any(" platform.captured " in brief for brief in payment)
    instants = found[0].instants
    assert instants["paid_at"] == "2026-02-01T21:00:00+08:00"
    assert instants["paid_at"] < instants["due_end"] < instants["reported_at"]


# -- the checks on hand-built facts ---------------------------------------------------


LEVEL = 34_002  # installment of a 1000.00 loan at 12% over 3 months, in fen


@dataclass
class FactsBuilder:
    """A world without parties: an oracle for alice, a journal, and the parties' final state."""

    clock: Clock
    journal: Journal
    oracle: Oracle
    #: (posting_id, payment_id, amount, applied, refunded, received)
    postings: list[tuple[str, str, int, int, int, datetime]] = field(default_factory=list)
    platform_pending: dict[str, int] = field(default_factory=dict)
    bureau_records: list[tuple[str, str, int, str, str, int]] = field(default_factory=list)

    def at(self, instant: datetime) -> FactsBuilder:
        self.clock.now = instant
        return self

    def pay(self, payment_id: str, amount: int, instant: datetime) -> int:
        """The borrower pays through the platform: truth and journal."""
        self.at(instant)
        self.oracle.capture("alice", "L-alice", amount, instant, payment_id)
        return self.journal.append("platform.captured", "platform", payment_id=payment_id,
                                   loan_id="L-alice", amount=amount)

    def post(self, payment_id: str, amount: int, instant: datetime) -> int:
        self.at(instant)
        posting_id = f"PST{len(self.postings) + 1:08d}"
        self.postings.append((posting_id, payment_id, amount, amount, 0, instant))
        return self.journal.append("bank.posted", "bank", payment_id=payment_id,
                                   posting_id=posting_id, loan_id="L-alice", amount=amount)

    def record(self, instant: datetime, status: str, installment: int = 1,
               kind: str = "bureau.record") -> int:
        self.at(instant)
        period = f"2026-{installment + 1:02d}"
        dpd = 0 if status == "current" else 1
        self.bureau_records = [r for r in self.bureau_records if r[2] != installment]
        self.bureau_records.append((ID_NUMBER, "L-alice", installment, period, status, dpd))
        return self.journal.append(kind, "bureau", account="L-alice", installment=installment,
                                   period=period, status=status, days_past_due=dpd)

    def facts(self, end: datetime) -> Facts:
        self.at(end)
        return Facts(journal=self.journal, oracle=self.oracle, end=end,
                     recon_max_wait=timedelta(days=3), postings=self.postings,
                     platform_pending=self.platform_pending, bureau_records=self.bureau_records)


@pytest.fixture
def make_facts() -> Callable[[], FactsBuilder]:
    """A factory of :class:`FactsBuilder` for alice's 3-month CN loan disbursed 2026-01-01."""

    def make() -> FactsBuilder:
        loan = LoanTerms(100_000, Decimal("0.12"), 3, "equal_installment", date(2026, 1, 1))
        alice = Borrower("alice", "Alice", ID_NUMBER, PHONE, loan, Pays())
        clock = Clock(datetime(2026, 1, 1, 9, tzinfo=SHANGHAI), SHANGHAI)
        oracle = Oracle((alice,), BankPolicy(), jurisdiction("CN"))
        oracle.open_account("alice", "L-alice")
        return FactsBuilder(clock, Journal(clock), oracle)

    return make


def cn(day: int, month: int = 2, hour: int = 12) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=SHANGHAI)


def test_no_false_overdue_on_hand_built_facts(make_facts: Callable[[], FactsBuilder]) -> None:
    """An overdue record for an on-time installment is one violation citing record and payment."""
    world = make_facts()
    captured = world.pay("P1", LEVEL, cn(1, hour=21))
    record = world.record(cn(2, hour=1), "overdue")
    world.record(cn(3, hour=1), "overdue")  # the same installment again: still one violation
    found = CHECKS["no_false_overdue"](world.facts(cn(1, month=3)))
    assert len(found) == 1
    assert found[0].evidence == (record, captured)
    assert found[0].installment == 1
    assert found[0].subject == "1101**********1234"
    assert found[0].instants["reported_at"] == "2026-02-02T01:00:00+08:00"


def test_no_false_overdue_ignores_true_lateness(make_facts: Callable[[], FactsBuilder]) -> None:
    """An overdue record for an installment paid after its due end is no violation."""
    world = make_facts()
    world.pay("P1", LEVEL + 100, cn(2, hour=10))
    world.record(cn(3, hour=1), "overdue")
    assert CHECKS["no_false_overdue"](world.facts(cn(1, month=3))) == []


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
    found = CHECKS["exactly_once_posting"](world.facts(cn(1, month=3)))
    assert [v.cause for v in found] == ([] if cause is None else [cause])
    if cause is not None:
        assert found[0].evidence == (captured, *posted)


def test_exactly_once_posting_phantom(make_facts: Callable[[], FactsBuilder]) -> None:
    """A posting for a payment nobody made is a phantom posting."""
    world = make_facts()
    world.post("P9", 500, cn(1, hour=22))
    found = CHECKS["exactly_once_posting"](world.facts(cn(1, month=3)))
    assert [(v.cause, v.borrower) for v in found] == [("phantom posting", None)]


@pytest.mark.parametrize(
    ("postings", "pending", "gap"),
    [
        pytest.param([LEVEL], False, None, id="all-posted"),
        pytest.param([], True, None, id="all-in-transit"),
        pytest.param([LEVEL, LEVEL], False, "34002 too much", id="posted-twice"),
        pytest.param([], False, "34002 missing", id="lost"),
    ],
)
def test_money_conserved_on_hand_built_facts(make_facts: Callable[[], FactsBuilder],
                                             postings: list[int], pending: bool,
                                             gap: str | None) -> None:
    """Payments must equal postings plus money in transit plus refunds, to the fen."""
    world = make_facts()
    world.pay("P1", LEVEL, cn(1, hour=21))
    for amount in postings:
        world.post("P1", amount, cn(1, hour=22))
    if pending:
        world.platform_pending["P1"] = LEVEL
    found = CHECKS["money_conserved"](world.facts(cn(1, month=3)))
    if gap is None:
        assert found == []
    else:
        assert len(found) == 1 and gap in found[0].message
        assert found[0].borrower == "alice"


@pytest.mark.parametrize(
    ("reported_at", "end", "violated"),
    [
        pytest.param(None, cn(1, month=3), True, id="never-reported"),
        pytest.param(cn(2, hour=1), cn(1, month=3), False, id="reported-next-night"),
        pytest.param(cn(20), cn(1, month=3), True, id="reported-too-late"),
        pytest.param(None, cn(4), False, id="run-ends-before-deadline"),
    ],
)
def test_true_overdue_reported_on_hand_built_facts(make_facts: Callable[[], FactsBuilder],
                                                   reported_at: datetime | None, end: datetime,
                                                   violated: bool) -> None:
    """An unpaid installment must reach the bureau by threshold + cycle + wait + one day."""
    world = make_facts()
    record = world.record(reported_at, "overdue") if reported_at is not None else None
    found = [v for v in CHECKS["true_overdue_reported"](world.facts(end)) if v.installment == 1]
    assert bool(found) is violated
    if found:
        # threshold 2026-02-02 00:00 + 1 day cycle + 3 days wait + 1 day
        assert found[0].instants["deadline"] == "2026-02-07T00:00:00+08:00"
        assert found[0].evidence == (() if record is None else (record,))


@pytest.mark.parametrize(
    ("corrected_at", "violated"),
    [
        pytest.param(None, True, id="never-corrected"),
        pytest.param(cn(10), False, id="corrected-in-time"),
        pytest.param(cn(28), True, id="corrected-after-20-days"),
    ],
)
def test_false_reports_corrected_on_hand_built_facts(make_facts: Callable[[], FactsBuilder],
                                                     corrected_at: datetime | None,
                                                     violated: bool) -> None:
    """A false record must be corrected within 20 days (CN) of the bank learning of the payment."""
    world = make_facts()
    world.pay("P1", LEVEL, cn(1, hour=21))
    record = world.record(cn(5, hour=1), "overdue")
    world.post("P1", LEVEL, cn(7, hour=8))  # the bank learns of the payment here
    if corrected_at is not None:
        world.record(corrected_at, "current", kind="bureau.correction")
    found = CHECKS["false_reports_corrected"](world.facts(cn(15, month=3)))
    assert bool(found) is violated
    if found:
        assert found[0].instants["deadline"] == "2026-02-27T08:00:00+08:00"
        assert found[0].evidence[0] == record


@pytest.mark.parametrize(
    ("status", "violated"),
    [
        pytest.param("current", False, id="current-matches"),
        pytest.param("overdue", True, id="overdue-but-paid-on-time"),
    ],
)
def test_bureau_matches_truth_on_hand_built_facts(make_facts: Callable[[], FactsBuilder],
                                                  status: str, violated: bool) -> None:
    """At the end, the bureau's status of a settled period must equal the oracle's."""
    world = make_facts()
    world.pay("P1", LEVEL, cn(1, hour=21))
    seq = world.record(cn(2, hour=1), status)
    found = CHECKS["bureau_matches_truth"](world.facts(cn(1, month=3)))
    assert bool(found) is violated
    if found:
        assert seq in found[0].evidence  # the record the bureau holds
        assert found[0].evidence[0] < seq  # and the capture of the on-time payment before it
        assert re.search(r"holds 2026-02 as overdue, but the truth is current", found[0].message)
