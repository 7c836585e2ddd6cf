"""Loading scenario files: YAML → validated Scenario, or an error naming file, line and key."""

from __future__ import annotations

import dataclasses
import json
import re
import typing
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from simulator.core.errors import ScenarioError
from simulator.core.locator import contract_path
from simulator.core.topology import LINKS, PARTIES
from simulator.scenarios import model
from simulator.scenarios.borrowers import default_personal_data
from simulator.scenarios.loader import discover, load_scenario, load_scenario_text
from simulator.scenarios.model import (
    INVARIANTS,
    BankPolicy,
    Check,
    ContractTerms,
    Dispute,
    Fault,
    PlatformPolicy,
    Repay,
    Scenario,
)

DATA = Path(__file__).resolve().parents[1] / "data"
GOOD = DATA / "scenarios_good"
BAD = DATA / "scenarios_bad"
SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")

MINIMAL = (GOOD / "minimal.yaml").read_text(encoding="utf-8")


def make_scenario_text(*extra: str, base: str = MINIMAL) -> str:
    """The minimal scenario with extra top-level YAML appended (or a different base)."""
    return base + "".join(extra)


def load_error(text: str) -> ScenarioError:
    """The error loading ``text`` raises (fails the test if it loads)."""
    with pytest.raises(ScenarioError) as info:
        load_scenario_text(text, file="x.yaml")
    return info.value


def schema() -> dict[str, Any]:
    with contract_path("scenario.schema.json").open(encoding="utf-8") as stream:
        document: dict[str, Any] = json.load(stream)
    return document


# --------------------------------------------------------------------------
# Good files


def test_minimal_file_and_defaults() -> None:
    """A minimal file loads, and every omitted key takes its documented default."""
    loaded = load_scenario(GOOD / "minimal.yaml")
    assert loaded.id == "minimal"
    assert loaded.file == GOOD / "minimal.yaml"
    assert loaded.jurisdiction == "CN"
    assert loaded.seed == 0
    assert loaded.tags == ()
    assert loaded.defects == ()
    assert loaded.steps == ()
    assert loaded.bank == BankPolicy()
    assert loaded.terms == ContractTerms()
    assert loaded.platform == PlatformPolicy()
    assert loaded.expect.invariants == INVARIANTS
    assert loaded.expect.violations == ()
    (alice,) = loaded.borrowers
    assert alice.id == "alice"
    assert alice.loan.method == "equal_installment"
    assert alice.pays == model.Pays("manual", 0)
    # defaults drawn from the handle: a Chinese name, resident ID and mobile number
    defaults = default_personal_data("alice", 0, "CN")
    assert (alice.name, alice.id_number, alice.phone) == (
        defaults.name, defaults.id_number, defaults.phone)
    assert re.fullmatch(r"[\u4e00-\u9fff]{2,4}", alice.name)
    assert re.fullmatch(r"\d{17}[\dX]", alice.id_number)
    assert re.fullmatch(r"1[3-9]\d{9}", alice.phone)


def test_design_example() -> None:
    """The scenario reference's example loads with minor units, aware local instants and fault
    windows."""
    loaded = load_scenario(GOOD / "design-example.yaml")
    assert loaded.id == "due-date-repayment-then-outage"
    assert loaded.tags == ("incident", "outage")
    assert loaded.seed == 7
    assert loaded.start == datetime(2026, 1, 1, 9, 0, tzinfo=SHANGHAI)
    assert loaded.until == datetime(2026, 4, 15, 0, 0, tzinfo=SHANGHAI)  # a date: its midnight
    assert loaded.start.utcoffset() == timedelta(hours=8)

    alice, *generated = loaded.borrowers
    assert alice.loan == model.LoanTerms(
        principal=1_200_000, annual_rate=Decimal("0.18"), months=12,
        method="equal_installment", disbursed=date(2026, 1, 1))
    assert len(generated) == 200
    assert [b.id for b in generated[:2]] == ["b0001", "b0002"] and generated[-1].id == "b0200"
    assert {b.loan.principal for b in generated} == {500_000}
    assert {b.pays for b in generated} == {model.Pays("on_due_date", 0)}

    repay, outage, dispute, check = loaded.steps
    assert repay.action == Repay(borrower="alice", installment=1)
    assert repay.at == datetime(2026, 2, 1, 21, 0, tzinfo=SHANGHAI)
    assert repay.line == 22
    assert outage.action == Fault(
        kind="outage", link="platform->bank",
        start=datetime(2026, 2, 1, 21, 5, tzinfo=SHANGHAI),
        end=datetime(2026, 2, 4, 21, 5, tzinfo=SHANGHAI),
        line=line_of_text(GOOD / "design-example.yaml", "kind: outage"))
    assert dispute.action == Dispute(borrower="alice", period="2026-02")
    assert isinstance(check.action, Check)
    assert [(e.borrower, e.period, e.status) for e in check.action.bureau] == [
        ("alice", "2026-02", "current")]

    assert loaded.expect.invariants == (
        "no_false_overdue", "no_false_overdue_sms", "exactly_once_posting", "money_conserved")
    assert loaded.expect.violations == ()
    assert [(e.borrower, e.period, e.status, e.line) for e in loaded.expect.bureau] == [
        ("alice", "2026-02", "current", 34)]


def test_every_key() -> None:
    """Every key of the format is read into the model (US zone, offsets, each fault kind)."""
    loaded = load_scenario(GOOD / "every-key.yaml")
    assert loaded.jurisdiction == "US"
    assert loaded.start == datetime(2026, 3, 1, 9, 0, tzinfo=NEW_YORK)
    assert loaded.until == datetime(2026, 9, 1, 4, 0, tzinfo=UTC)
    assert loaded.terms == ContractTerms(grace_days=2, arrears_tolerance=50,
                                         holiday_shift="next_working_day")
    assert loaded.bank == BankPolicy(batch_at=time(1, 15), recon_max_wait=timedelta(hours=36))
    assert loaded.platform == PlatformPolicy(
        retry_first=timedelta(seconds=30), retry_max=timedelta(hours=2))
    assert loaded.defects == ("bank.no_tolerance",)

    carol = loaded.borrowers[0]
    assert (carol.name, carol.id_number, carol.phone) == (
        "Carol Example", "123-45-6789", "212-555-0123")
    assert carol.loan.principal == 240_000 and carol.loan.method == "equal_principal"
    assert carol.pays == model.Pays("late", 3)
    assert [b.id for b in loaded.borrowers[1:]] == ["g0001", "g0002", "g0003"]
    assert loaded.borrowers[1].loan.principal == 10_010
    assert loaded.borrowers[1].pays == model.Pays("early", 2)

    actions = [step.action for step in loaded.steps]
    assert actions[0] == Repay("carol", 1, via="bank", amount=40_001)
    assert actions[1] == Repay("g0002", 2, short_by=1)
    delay, error, default_error, crash = actions[2:6]
    assert isinstance(delay, Fault) and delay.by == timedelta(minutes=30)
    # 6h of elapsed time across the DST change: 01:00 EST → 08:00 EDT. (Python subtracts
    # datetimes sharing a tzinfo by wall clock, so compare in UTC.)
    assert delay.end == datetime(2026, 3, 8, 8, 0, tzinfo=NEW_YORK)
    assert delay.end.astimezone(UTC) - delay.start.astimezone(UTC) == (
        timedelta(hours=6))
    assert isinstance(error, Fault)
    assert (error.status, error.rate) == (502, Decimal("0.25"))
    assert error.end == datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    assert isinstance(default_error, Fault)
    assert (default_error.status, default_error.rate) == (503, Decimal(1))
    assert crash == Fault(kind="crash", party="bank",
                          start=datetime(2026, 3, 12, tzinfo=NEW_YORK),
                          end=datetime(2026, 3, 12, 0, 1, 30, tzinfo=NEW_YORK),
                          line=line_of_text(GOOD / "every-key.yaml", "kind: crash"))
    assert loaded.expect.invariants == INVARIANTS
    assert [v.invariant for v in loaded.expect.violations] == ["bureau_matches_truth"]


def line_of_text(path: Path, needle: str) -> int:
    """The 1-based line of ``path`` holding ``needle`` (the step it is in starts there)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(number for number, line in enumerate(lines, start=1) if needle in line)


def test_steps_keep_file_order() -> None:
    """Steps are kept in file order, even when their instants are not in order."""
    loaded = load_scenario(GOOD / "every-key.yaml")
    lines = [step.line for step in loaded.steps]
    assert lines == sorted(lines)
    assert loaded.steps[1].at > loaded.steps[2].at


def test_floats_never_appear() -> None:
    """No float anywhere in a loaded scenario: money is int, rates are Decimal."""

    def walk(value: object) -> None:
        assert not isinstance(value, float), value
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            for field in dataclasses.fields(value):
                walk(getattr(value, field.name))
        elif isinstance(value, tuple | list):
            for item in value:
                walk(item)

    for path in sorted(GOOD.glob("*.yaml")):
        walk(load_scenario(path))


@given(st.integers(min_value=1, max_value=100_000_000_000_000))
def test_principal_round_trips_exactly(cents: int) -> None:
    """Any principal written with 2 decimals becomes exactly that many minor units."""
    text = MINIMAL.replace("principal: 1000.00", f"principal: {cents // 100}.{cents % 100:02d}")
    assert load_scenario_text(text).borrowers[0].loan.principal == cents


@given(st.integers(min_value=1, max_value=10**12), st.integers(min_value=3, max_value=8))
def test_money_with_more_decimals_is_refused(cents: int, decimals: int) -> None:
    """An amount with a nonzero third decimal (or beyond) is an error naming the key."""
    text = MINIMAL.replace("principal: 1000.00", f"principal: 1.{cents:0{decimals}d}1")
    error = load_error(text)
    assert error.key == "borrowers[0].loan.principal"
    assert "at most 2 decimals" in error.message


def test_trailing_zero_decimals_are_fine() -> None:
    """``0.500`` is half a unit: trailing zeros do not count as decimals."""
    text = make_scenario_text("world: {bank: {arrears_tolerance: 0.500}}\n")
    assert load_scenario_text(text).terms.arrears_tolerance == 50


def test_yaml_timestamps_are_local() -> None:
    """Timestamps PyYAML would turn into datetimes are read in the jurisdiction's zone too."""
    text = MINIMAL.replace("start: 2026-01-01T09:00", "start: 2026-01-01 09:00:00")
    assert load_scenario_text(text).start == datetime(2026, 1, 1, 9, 0, tzinfo=SHANGHAI)
    text = MINIMAL.replace("start: 2026-01-01T09:00", "start: 2026-01-01T09:00:00Z")
    assert load_scenario_text(text).start == datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


def test_unquoted_clock_time() -> None:
    """``batch_at: 00:30`` unquoted is 00:30, not YAML 1.1's base-60 number 30."""
    text = make_scenario_text("world: {bank: {batch_at: 00:30}}\n")
    assert load_scenario_text(text).bank.batch_at == time(0, 30)


def test_anchors_and_merge_keys() -> None:
    """Anchors, aliases and merge keys work for sharing loan terms."""
    text = make_scenario_text(
        "  - id: bob\n"
        "    loan:\n"
        "      <<: {principal: 1.00, annual_rate: 0, months: 1}\n"
        "      disbursed: 2026-01-01\n")
    bob = load_scenario_text(text).borrowers[1]
    assert (bob.loan.principal, bob.loan.months) == (100, 1)


def test_generated_blocks_differ_and_repeat() -> None:
    """Two count blocks number on and draw different people; loading again gives the same."""
    block = ("  - count: 3\n"
             "    loan: {principal: 1.00, annual_rate: 0, months: 1, disbursed: 2026-01-01}\n")
    text = make_scenario_text(block, block)
    first = load_scenario_text(text).borrowers[1:]
    assert [b.id for b in first] == ["b0001", "b0002", "b0003", "b0004", "b0005", "b0006"]
    assert [b.name for b in first[:3]] != [b.name for b in first[3:]]
    assert load_scenario_text(text).borrowers[1:] == first
    reseeded = load_scenario_text(make_scenario_text(block, block, "seed: 1\n")).borrowers[1:]
    assert [b.id_number for b in reseeded] != [b.id_number for b in first]


def test_text_without_file() -> None:
    """Text loaded without a file name has no file, and its errors say <scenario>."""
    assert load_scenario_text(MINIMAL).file is None
    with pytest.raises(ScenarioError, match=r"^<scenario>:3: start: "):
        load_scenario_text(MINIMAL.replace("2026-01-01T09:00", "soon"))


# --------------------------------------------------------------------------
# Bad files: each names the exact line and key, and says what was expected

BAD_FILES = [
    pytest.param("fault-for-not-a-duration.yaml", 13, "steps[0].fault.for",
                 "'for' must be a duration like 30m, 6h or 3d (got '3x')", id="duration"),
    pytest.param("world-platform-unknown-key.yaml", 10, "world.platform.retyr_first",
                 "unknown key 'retyr_first' (expected one of: forward_after, retry_first, "
                 "retry_max)", id="unknown-key"),
    pytest.param("fault-link-misspelt.yaml", 10, "steps[0].fault.link",
                 "'link' must be one of borrower->platform, platform->bank, bank->platform, "
                 "recon, bank->bureau, bureau->bank, bank->sms, platform->sms "
                 "(got 'platform->bnak')", id="link"),
    pytest.param("fault-key-misspelt.yaml", 12, "steps[0].fault.lnk",
                 "unknown key 'lnk' (expected one of: kind, link,", id="typo-not-missing"),
    pytest.param("fault-kind-misspelt.yaml", 11, "steps[0].fault.kind",
                 "'kind' must be one of outage, timeout_after_commit, delay, duplicate, error, "
                 "crash (got 'outrage')", id="kind"),
    pytest.param("yaml-syntax-error.yaml", 11, None,
                 "invalid YAML: while parsing a block collection, expected <block end>",
                 id="yaml-syntax"),
    pytest.param("tab-indent.yaml", 4, None, "indent with spaces, not tabs", id="tab"),
    pytest.param("empty.yaml", 1, None, "the file is empty", id="empty"),
    pytest.param("top-level-list.yaml", 1, None,
                 "a scenario must be a mapping of keys such as scenario", id="not-a-mapping"),
    pytest.param("duplicate-key.yaml", 9, "seed", "duplicate key 'seed' (first at line 8)",
                 id="duplicate-key"),
    pytest.param("top-level-key-misspelt.yaml", 8, "setps",
                 "unknown key 'setps' (expected one of: scenario, summary,",
                 id="top-level-typo"),
    pytest.param("repay-unknown-borrower.yaml", 10, "steps[0].repay.borrower",
                 "'borrower' must be one of the scenario's borrowers: alice (got 'alicia')",
                 id="unknown-borrower"),
    pytest.param("repay-installment-beyond-loan.yaml", 12, "steps[0].repay.installment",
                 "'installment' must be at most 12, the number of installments of alice's loan "
                 "(got 13)", id="installment"),
    pytest.param("until-before-start.yaml", 4, "until",
                 "'until' must be after 'start' (2026-01-01T09:00:00+08:00) (got '2025-12-31')",
                 id="until-before-start"),
    pytest.param("step-after-until.yaml", 11, "steps[1].at",
                 "'at' must be within the run, from 2026-01-01T09:00:00+08:00 to "
                 "2026-04-15T00:00:00+08:00 (got '2026-05-01T00:00')", id="step-outside-run"),
    pytest.param("fault-until-before-at.yaml", 13, "steps[0].fault.until",
                 "'until' must be after the step's 'at' (2026-02-01T21:00:00+08:00) "
                 "(got '2026-02-01T20:00')", id="fault-until"),
    pytest.param("borrower-id-twice.yaml", 8, "borrowers[1].id",
                 "borrower id 'alice' is used twice (first at line 6)", id="id-twice"),
    pytest.param("generated-id-collides.yaml", 8, "borrowers[1]",
                 "generated borrower id 'b0002' is already the id of the borrower at line 6; "
                 "give this block another 'id_prefix'", id="generated-collides"),
    pytest.param("violation-not-checked.yaml", 12, "expect.violations[1]",
                 "'violations' may list only invariants in 'expect.invariants' "
                 "(no_false_overdue, money_conserved) (got 'exactly_once_posting')",
                 id="violation-not-subset"),
    pytest.param("principal-three-decimals.yaml", 7, "borrowers[0].loan.principal",
                 "'principal' must have at most 2 decimals in CNY (got 12000.005)",
                 id="three-decimals"),
    pytest.param("repay-amount-and-short-by.yaml", 10, "steps[0].repay",
                 "takes 'amount' (pay exactly that) or 'short_by' (pay what is due minus "
                 "that), not both", id="amount-and-short-by"),
    pytest.param("crash-with-link.yaml", 13, "steps[0].fault.link",
                 "a crash fault names a 'party', not a 'link'", id="crash-with-link"),
    pytest.param("delay-without-by.yaml", 10, "steps[0].fault",
                 "a delay fault needs 'by'", id="delay-without-by"),
    pytest.param("step-two-actions.yaml", 9, "steps[0]",
                 "a step takes exactly one action besides 'at': repay, fault, dispute or check",
                 id="two-actions"),
    pytest.param("fault-without-duration.yaml", 10, "steps[0].fault",
                 "a fault lasts 'for' a duration or 'until' an instant: give exactly one of "
                 "them (got neither)", id="no-duration"),
    pytest.param("borrower-without-loan.yaml", 8, "borrowers[1]",
                 "a borrower needs 'id' and 'loan'", id="missing-loan"),
    pytest.param("pays-bad.yaml", 8, "borrowers[0].pays",
                 "'pays' must be one of manual, on_due_date, never, early:N or late:N "
                 "(N days, 1-999) (got 'late:x')", id="pays"),
    pytest.param("error-status-not-an-error.yaml", 10, "steps[0].fault.status",
                 "'status' must be an HTTP error status from 400 to 599, like 503 (got 200)",
                 id="status"),
    pytest.param("rate-on-outage.yaml", 10, "steps[0].fault.rate",
                 "'rate' belongs to error faults only", id="rate-on-outage"),
    pytest.param("invariant-misspelt.yaml", 9, "expect.invariants[1]",
                 "must be one of no_false_overdue, no_false_overdue_sms, exactly_once_posting,"
                 " money_conserved, true_overdue_reported, false_reports_corrected, "
                 "bureau_matches_truth, no_wrongful_refund, in_transit_bounded (got "
                 "'exactly_once_postings')", id="invariant"),
    pytest.param("disbursed-not-a-date.yaml", 7, "borrowers[0].loan.disbursed",
                 "'disbursed' must be a date like 2026-01-01; '2026-02-30' is not a real date",
                 id="no-such-date"),
    pytest.param("batch-at-out-of-range.yaml", 9, "world.bank.batch_at",
                 "'batch_at' must be a time of day like 00:30 (HH:MM) (got '25:00')",
                 id="batch-at"),
    pytest.param("check-period-bad-month.yaml", 12, "steps[1].check.bureau.period",
                 "'period' must be a month like 2026-02 (YYYY-MM) (got '2026-13')",
                 id="period"),
    pytest.param("months-not-whole.yaml", 7, "borrowers[0].loan.months",
                 "'months' must be a whole number (got 12.5)", id="months"),
    pytest.param("tags-repeated.yaml", 8, "tags[1]", "'tags' lists 'incident' twice",
                 id="tags-repeated"),
    pytest.param("seed-nan.yaml", 8, "seed", "'seed' must be a whole number (got '.nan')",
                 id="nan"),
]


@pytest.mark.parametrize(("filename", "line", "key", "message"), BAD_FILES)
def test_bad_file(filename: str, line: int, key: str | None, message: str) -> None:
    """A bad file is refused with its path, the exact line and key, and what was expected."""
    path = BAD / filename
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    error = info.value
    assert (error.file, error.line, error.key) == (str(path), line, key)
    assert message in error.message
    assert str(error).startswith(f"{path}:{line}:" + (f" {key}:" if key else ""))


def test_every_bad_file_is_in_the_table() -> None:
    """Each fixture under scenarios_bad/ is checked by the table above."""
    listed = {param.values[0] for param in BAD_FILES}
    assert listed == {path.name for path in BAD.glob("*.yaml")}


@pytest.mark.parametrize(
    ("extra", "line", "key", "message"),
    [
        pytest.param("steps:\n  - at: 2026-01-02T00:00\n    fault: {kind: crash, for: 1h}\n",
                     10, "steps[0].fault", "a crash fault needs 'party'", id="crash-no-party"),
        pytest.param("steps:\n  - at: 2026-01-02T00:00\n"
                     "    fault: {kind: outage, party: bank, link: recon, for: 1h}\n",
                     10, "steps[0].fault.party", "only a crash fault names a 'party'",
                     id="party-on-outage"),
        pytest.param("steps:\n  - at: 2026-01-02T00:00\n"
                     "    fault: {kind: outage, link: recon, for: 1h, until: 2026-01-03}\n",
                     10, "steps[0].fault", "give exactly one of them (got both)",
                     id="for-and-until"),
        pytest.param("steps:\n  - at: 2026-01-02T00:00\n"
                     "    fault: {kind: outage, link: recon, by: 1h, for: 1h}\n",
                     10, "steps[0].fault.by", "'by' belongs to delay faults only",
                     id="by-on-outage"),
        pytest.param("steps:\n  - at: 2026-01-02T00:00\n"
                     "    fault: {kind: error, link: recon, rate: 0, for: 1h}\n",
                     10, "steps[0].fault.rate", "above 0 and at most 1", id="rate-zero"),
        pytest.param("steps:\n  - at: 2026-01-02T00:00\n    check: {bureau: []}\n",
                     10, "steps[0].check.bureau", "a check needs at least one bureau expectation",
                     id="empty-check"),
        pytest.param("steps:\n  - repay: {borrower: alice, installment: 0}\n",
                     9, "steps[0].repay.installment", "'installment' must be at least 1 (got 0)",
                     id="wrong-inside-reported-before-missing-at"),
        pytest.param("steps:\n  - repay: {borrower: alice, installment: 1}\n",
                     9, "steps[0]", "missing required key 'at'", id="missing-at"),
        pytest.param("steps:\n  -\n", 9, "steps[0]", "'steps[0]' must be a mapping (got nothing)",
                     id="empty-step"),
        pytest.param("world: {defects: bank.no_tolerance}\n", 8, "world.defects",
                     "'defects' must be a list (got 'bank.no_tolerance')", id="defects-not-list"),
        pytest.param("world: {bank: {}, bank: {}}\n", 8, "world.bank",
                     "duplicate key 'bank'", id="duplicate-in-flow"),
        pytest.param("seed: 010\n", 8, "seed", "'seed' must be a whole number (got '010')",
                     id="octal-looking-seed"),
        pytest.param("on: 1\n", 8, None,
                     "keys must be names (got on, which YAML reads as true; quote it)",
                     id="boolean-key"),
        pytest.param("x: \x00\n", 8, None, "special characters are not allowed (got U+0000)",
                     id="control-character"),
        pytest.param("---\na: 1\n", 8, None, "expected a single document", id="two-documents"),
        pytest.param("seed: !!python/object:os.system x\n", 8, None,
                     "could not determine a constructor", id="python-tag"),
        pytest.param("tags: !!bool\n", 8, None, "the tag !!bool does not fit the value it is on",
                     id="bool-tag-on-a-blank"),
        pytest.param("tags: !!map [1, 2]\n", 8, None,
                     "the tag !!map does not fit the value it is on", id="map-tag-on-a-list"),
        pytest.param("tags: !!seq {a: 1}\n", 8, None,
                     "the tag !!seq does not fit the value it is on", id="seq-tag-on-a-map"),
        pytest.param("tags: &t [*t]\n", 8, None, "an alias refers to the node that holds it",
                     id="self-referencing"),
        pytest.param("tags: " + "[" * 5000 + "]" * 5000 + "\n", None, None,
                     "nested too deeply", id="too-deep"),
        pytest.param("expect: {bureau: [{borrower: zed, period: 2026-01, status: none}]}\n",
                     8, "expect.bureau[0].borrower",
                     "'borrower' must be one of the scenario's borrowers: alice (got 'zed')",
                     id="expectation-unknown-borrower"),
        pytest.param("  - count: 2\n    loan: {principal: 1, annual_rate: 0, months: 1, "
                     "disbursed: 2026-01-01}\n"
                     "steps:\n  - at: 2026-01-02T00:00\n    dispute: {borrower: b3, period: "
                     "2026-01}\n", 12, "steps[0].dispute.borrower",
                     "borrowers: alice, b0001…b0002 (got 'b3')", id="lists-generated-range"),
        pytest.param("  - id: bob\n    id_number: '1'\n    loan: {principal: 1, annual_rate: 0, "
                     "months: 1, disbursed: 2026-01-01}\n"
                     "  - id: carol\n    id_number: '1'\n    loan: {principal: 1, annual_rate: 0, "
                     "months: 1, disbursed: 2026-01-01}\n", 12, "borrowers[2].id_number",
                     "'id_number' must differ from every other borrower's (line 9 has it too)",
                     id="id-number-twice"),
        pytest.param("  - count: 2\n    loan: {principal: 1, annual_rate: 0, months: 1, "
                     "disbursed: 2026-01-01}\n"
                     "  - id: b0002\n    loan: {principal: 1, annual_rate: 0, months: 1, "
                     "disbursed: 2026-01-01}\n", 10, "borrowers[2].id",
                     "borrower id 'b0002' is already the id of a borrower generated by the "
                     "block at line 8; give that block another 'id_prefix'",
                     id="named-after-generated"),
        pytest.param("world: {bank: {arrears_tolerance: -0.01}}\n", 8,
                     "world.bank.arrears_tolerance", "an amount of at least 0", id="negative"),
        pytest.param("world: {platform: {retry_first: 0s}}\n", 8, "world.platform.retry_first",
                     "'retry_first' must be a positive duration", id="zero-duration"),
    ],
)
def test_bad_text(extra: str, line: int | None, key: str | None, message: str) -> None:
    """More mistakes, appended to a good minimal file: exact line, key and message."""
    error = load_error(make_scenario_text(extra))
    assert (error.line, error.key) == (line, key)
    assert message in error.message


def test_first_error_in_file_order() -> None:
    """Of several mistakes, the one nearest the top of the file is reported first."""
    text = make_scenario_text(
        "steps:\n  - at: 2026-01-02T00:00\n    fault: {kind: outage, link: recon, for: 3x}\n",
        base=MINIMAL.replace("summary: One borrower, nothing happens.\n", ""))
    error = load_error(text)
    assert (error.line, error.key, error.message) == (1, None, "missing required key 'summary'")


def test_safe_load_unchanged() -> None:
    """The scenario loader's YAML rules do not leak into PyYAML's own safe loader."""
    assert yaml.safe_load("x: 1.5") == {"x": 1.5}


def test_not_utf8(tmp_path: Path) -> None:
    """A file that is not UTF-8 is an error with the line of the bad byte."""
    path = tmp_path / "latin1.yaml"
    path.write_bytes(MINIMAL.replace("nothing happens", "rien ne se passe à 9h").encode("latin-1"))
    with pytest.raises(ScenarioError, match=r"not UTF-8 text \(byte 0xe0") as info:
        load_scenario(path)
    assert (info.value.file, info.value.line) == (str(path), 2)


def test_utf8_bom_accepted(tmp_path: Path) -> None:
    """A UTF-8 byte-order mark (as some Windows editors write) is accepted."""
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + MINIMAL.encode())
    assert load_scenario(path).id == "minimal"


@pytest.mark.parametrize("kind", [pytest.param("missing", id="missing"),
                                  pytest.param("folder", id="folder")])
def test_unreadable(tmp_path: Path, kind: str) -> None:
    """A missing file or a folder given as a scenario is an error, not a traceback."""
    path = tmp_path / "nope.yaml"
    if kind == "folder":
        path.mkdir()
    with pytest.raises(ScenarioError, match="cannot read the scenario"):
        load_scenario(path)


# --------------------------------------------------------------------------
# The schema is the single source of truth


def test_schema_is_valid() -> None:
    """The scenario schema is a valid JSON Schema 2020-12 document."""
    Draft202012Validator.check_schema(schema())


def test_schema_enums_match_model() -> None:
    """The schema's links, parties, invariants and kinds are exactly the model's names."""
    defs = schema()["$defs"]
    assert tuple(defs["link"]["enum"]) == tuple(LINKS)
    assert tuple(defs["party"]["enum"]) == PARTIES
    assert tuple(defs["invariant"]["enum"]) == INVARIANTS
    assert tuple(defs["fault"]["properties"]["kind"]["enum"]) == typing.get_args(model.FaultKind)
    assert tuple(defs["loan"]["properties"]["method"]["enum"]) == typing.get_args(model.Method)
    assert tuple(defs["bureau_expectation"]["properties"]["status"]["enum"]) == typing.get_args(
        model.BureauStatus)
    hints = typing.get_type_hints(Scenario)
    assert tuple(schema()["properties"]["jurisdiction"]["enum"]) == typing.get_args(
        hints["jurisdiction"])


def test_schema_fault_kind_conditions_cover_every_kind() -> None:
    """Each kind-dependent rule in the fault schema names only real kinds."""
    kinds = set(typing.get_args(model.FaultKind))
    for rule in schema()["$defs"]["fault"]["allOf"]:
        condition = rule["if"]["properties"]["kind"]
        named = set(condition.get("enum", [condition.get("const")]))
        assert named <= kinds, named - kinds


def test_schema_policies_match_model() -> None:
    """world.bank and world.platform offer exactly the policy fields of the model."""
    world = schema()["properties"]["world"]["properties"]
    assert set(world["bank"]["properties"]) == {
        f.name for model_class in (BankPolicy, ContractTerms)
        for f in dataclasses.fields(model_class)}
    assert set(world["platform"]["properties"]) == {
        f.name for f in dataclasses.fields(PlatformPolicy)}


def test_every_pattern_says_what_it_expects() -> None:
    """Every pattern in the schema carries x-expected, so no error shows a raw regex."""

    def walk(node: object, where: str) -> None:
        if isinstance(node, dict):
            if "pattern" in node:
                assert "x-expected" in node, where
            for key, value in node.items():
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{where}/{index}")

    walk(schema(), "#")


# --------------------------------------------------------------------------
# discover


def test_discover(tmp_path: Path) -> None:
    """Folders are searched recursively for *.yaml and *.yml, sorted; hidden ones skipped."""
    for name in ["b/2.yaml", "b/1.yml", "a.yaml", "notes.txt", ".hidden/x.yaml", "c/.x.yaml"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    assert discover([tmp_path]) == [tmp_path / "a.yaml", tmp_path / "b/1.yml",
                                    tmp_path / "b/2.yaml"]


def test_discover_takes_files_as_given(tmp_path: Path) -> None:
    """A file named directly is taken whatever its suffix, in argument order, once."""
    (tmp_path / "z.txt").write_text("")
    (tmp_path / "a.yaml").write_text("")
    assert discover([tmp_path / "z.txt", tmp_path, tmp_path / "a.yaml"]) == [
        tmp_path / "z.txt", tmp_path / "a.yaml"]


def test_discover_missing_path(tmp_path: Path) -> None:
    """A path that does not exist is a ScenarioError naming it."""
    with pytest.raises(ScenarioError, match="no such scenario file or folder") as info:
        discover([tmp_path / "missing"])
    assert info.value.file == str(tmp_path / "missing")


def test_good_fixtures_load() -> None:
    """Every good fixture loads (a guard for fixtures added later: list them here)."""
    found = discover([GOOD])
    assert [path.name for path in found] == ["design-example.yaml", "every-key.yaml",
                                             "minimal.yaml"]
    for path in found:
        assert isinstance(load_scenario(path), Scenario)
