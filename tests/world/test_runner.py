"""The runner's verdict: invariants except the expected violations, and every bureau expectation."""

from __future__ import annotations

import json
from typing import Any

import pytest

from simulator.scenarios.loader import load_scenario_text
from simulator.scenarios.model import INVARIANTS
from simulator.world.runner import ScenarioResult, run_scenario
from tests.support.scenario_text import (
    borrower,
    check,
    docking_outage,
    fault,
    line_of,
    load,
    repay,
    scenario_text,
)

FALSE_OVERDUE = ["no_false_overdue", "no_false_overdue_sms"]
DOCKING = {"until": "2026-03-02",
           "steps": [*docking_outage("2026-02-01T08:00", "3d"), repay("2026-02-01T21:00")]}
DEFECT = ("bank.reports_without_reconciliation",)


def _run(defects: tuple[str, ...] = (), **overrides: Any) -> ScenarioResult:
    return run_scenario(load(**{**DOCKING, **overrides}), defects)


@pytest.mark.parametrize(
    ("defects", "expect", "passed", "unexpected", "missing"),
    [
        pytest.param((), {}, True, [], [], id="nothing-expected-nothing-violated"),
        pytest.param(DEFECT, {"violations": FALSE_OVERDUE}, True, [], [],
                     id="expected-violations-present"),
        pytest.param((), {"violations": FALSE_OVERDUE}, False, [],
                     [f"{name} was expected to be violated but held" for name in FALSE_OVERDUE],
                     id="expected-violations-absent"),
        pytest.param(DEFECT, {}, False, FALSE_OVERDUE, [], id="unexpected-violations"),
        pytest.param(DEFECT, {"violations": ["no_false_overdue"]}, False,
                     ["no_false_overdue_sms"], [], id="only-some-expected"),
        pytest.param(DEFECT, {"invariants": ["exactly_once_posting", "money_conserved"]},
                     True, [], [], id="violated-invariant-not-checked"),
    ],
)
def test_expect_violations_semantics(defects: tuple[str, ...], expect: dict[str, Any],
                                     passed: bool, unexpected: list[str],
                                     missing: list[str]) -> None:
    """A scenario passes when exactly the expected violations occur among the checked invariants."""
    result = _run(defects, expect=expect or None)
    assert result.passed is passed
    assert result.unexpected == unexpected
    assert result.missing == missing


def test_expected_but_absent_violation_is_explained() -> None:
    """A violation that was expected but held is named in the reasons."""
    result = _run(expect={"violations": ["no_false_overdue"]})
    assert result.reasons() == ["no_false_overdue was expected to be violated but held"]


def test_unexpected_violation_is_explained() -> None:
    """An unexpected violation is named in the reasons with its count and first message."""
    result = _run(DEFECT)
    reasons = result.reasons()
    assert len(reasons) == 2
    assert reasons[0].startswith("no_false_overdue violated 1 time(s), first: the bureau recorded")
    assert reasons[1].startswith("no_false_overdue_sms violated 1 time(s)")


def test_only_listed_invariants_are_checked() -> None:
    """``expect.invariants`` limits the checks run; the others do not appear in the verdict."""
    result = _run(DEFECT, expect={"invariants": ["money_conserved"]})
    assert list(result.violations) == ["money_conserved"]
    assert result.violated == []


def test_all_invariants_checked_by_default() -> None:
    """Without ``expect.invariants`` every invariant is checked, in catalogue order."""
    assert tuple(_run().violations) == INVARIANTS


def test_failed_check_step_fails_with_its_line() -> None:
    """A check step whose bureau status differs fails the scenario, naming its line."""
    text = scenario_text(**{**DOCKING, "steps": [
        *DOCKING["steps"],
        check("2026-02-10T12:00", ("alice", "2026-02", "overdue")),
    ]})
    result = run_scenario(load_scenario_text(text, file="scenarios/check.yaml"))
    line = line_of(text, "status: overdue")
    assert not result.passed
    assert result.violated == []
    [failed] = result.failed_checks
    assert (failed.borrower, failed.period, failed.expected, failed.actual) == (
        "alice", "2026-02", "overdue", "none")
    assert failed.line == line
    assert result.reasons() == [
        f"bureau alice 2026-02: expected overdue, got none at {failed.at.isoformat()} "
        f"(line {line})"]


def test_passing_check_step_passes() -> None:
    """A check step whose bureau status matches holds and the scenario passes."""
    result = _run(steps=[*DOCKING["steps"],
                         check("2026-02-10T12:00", ("alice", "2026-02", "none"))])
    assert result.passed
    assert [(c.expected, c.actual, c.holds) for c in result.checks] == [("none", "none", True)]


def test_failed_end_expectation_fails_with_its_line() -> None:
    """An ``expect.bureau`` entry that fails at the end fails the scenario, with its line."""
    text = scenario_text(**DOCKING, expect={"bureau": [
        {"borrower": "alice", "period": "2026-02", "status": "overdue"}]})
    result = run_scenario(load_scenario_text(text))
    [failed] = result.failed_checks
    assert failed.actual == "current"
    assert failed.line == line_of(text, "status: overdue")
    assert not result.passed


def test_as_dict_has_the_report_shape() -> None:
    """as_dict carries the report keys: scenario, file, passed, violations, digest, events."""
    text = scenario_text(**DOCKING)
    result = run_scenario(load_scenario_text(text, file="scenarios/x.yaml"), DEFECT)
    data = result.as_dict()
    assert {"scenario", "file", "passed", "violations", "digest", "events"} <= set(data)
    assert data["scenario"] == "test-scenario"
    assert data["file"] == "scenarios/x.yaml"
    assert data["passed"] is False
    assert data["digest"] == result.digest and len(data["digest"]) == 64
    assert data["events"] == result.events > 0
    assert [v["invariant"] for v in data["violations"]] == FALSE_OVERDUE
    for violation in data["violations"]:
        assert {"invariant", "message", "borrower", "subject", "installment", "instants",
                "evidence"} <= set(violation)
    assert json.loads(json.dumps(data)) == data  # plain JSON data


def test_as_dict_of_a_scenario_without_file() -> None:
    """A scenario loaded from text without a file name reports file as null."""
    data = _run().as_dict()
    assert data["file"] is None
    assert data["passed"] is True
    assert data["violations"] == []


def test_result_lists_the_planted_defects() -> None:
    """The result records the defects planted: the scenario's and the caller's, sorted."""
    result = _run(("platform.no_retry",), world={"defects": ["bank.no_tolerance"]})
    assert result.defects == ("bank.no_tolerance", "platform.no_retry")
    assert result.as_dict()["defects"] == ["bank.no_tolerance", "platform.no_retry"]


def _scoped(*entries: dict[str, Any]) -> ScenarioResult:
    """The docking failure on a bank that does not wait, with two borrowers (alice pays on
    time, bob is left alone), expecting ``entries``."""
    return _run(DEFECT, borrowers=[borrower("alice"), borrower("bob")],
                expect={"violations": list(entries)})


def test_scoped_expectation_in_scope_passes() -> None:
    """Violations within the declared borrowers, installments and count are the expected ones."""
    result = _scoped(
        {"invariant": "no_false_overdue", "borrowers": ["alice"], "installments": [1],
         "count": 1},
        {"invariant": "no_false_overdue_sms", "borrowers": ["alice"]})
    assert result.passed, result.reasons()
    assert all(result.is_expected(v) for found in result.violations.values() for v in found)


def test_a_violation_outside_the_scope_fails() -> None:
    """A violation about a borrower the scope does not name is unexpected: the scenario fails."""
    result = _scoped({"invariant": "no_false_overdue", "borrowers": ["bob"]},
                     {"invariant": "no_false_overdue_sms", "borrowers": ["alice"]})
    assert not result.passed
    assert result.unexpected == ["no_false_overdue"]
    assert [v.borrower for v in result.unexpected_violations["no_false_overdue"]] == ["alice"]
    assert result.missing == ["no_false_overdue (bob) was expected to be violated but held"]


def test_a_declared_count_must_match() -> None:
    """``count`` is exact: one violation where two were declared fails, naming both figures."""
    result = _scoped(
        {"invariant": "no_false_overdue", "borrowers": ["alice"], "count": 2},
        {"invariant": "no_false_overdue_sms"})
    assert not result.passed
    assert result.missing == ["no_false_overdue (alice; 2 times) was expected, but it was "
                              "violated 1 time(s) in that scope"]


def test_a_fault_that_never_fires_fails_the_scenario() -> None:
    """A fault on a link no call crosses while it is active affects nothing: the scenario fails
    saying so, unless the fault is marked ``may_not_fire``."""
    quiet = fault("2026-02-10T10:00", "outage", link="bank->sms", for_="1h")
    result = _run(steps=[*DOCKING["steps"], quiet])
    assert not result.passed
    (reason,) = result.unfired
    assert reason.startswith("fault outage on bank->sms from 2026-02-10T10:00:00+08:00 to "
                             "2026-02-10T11:00:00+08:00")
    assert "never fired: no call crossed bank->sms while it was active" in reason
    assert reason in result.reasons()
    allowed = _run(steps=[*DOCKING["steps"], {**quiet, "fault": {**quiet["fault"],
                                                                  "may_not_fire": True}}])
    assert allowed.passed, allowed.reasons()


def test_a_crash_while_nothing_is_due_never_fires() -> None:
    """A crash of the SMS gateway in a quiet hour (no text sent, nothing due) is reported as a
    fault that never fired."""
    quiet = fault("2026-02-10T10:00", "crash", party="sms", for_="1h")
    result = _run(steps=[*DOCKING["steps"], quiet])
    assert len(result.unfired) == 1 and "crash of sms" in result.unfired[0]
    assert "nothing was due of sms and no call reached it" in result.unfired[0]


def test_watching_progress_changes_nothing_in_the_run() -> None:
    """Run with a progress watcher, a scenario gives the same digest and events as without;
    the watcher hears shares rising from above 0 to exactly 1."""
    scenario = load_scenario_text(scenario_text(
        steps=[*docking_outage("2026-02-01T08:00", "3d"), repay("2026-02-01T21:00")]))
    shares: list[float] = []
    watched = run_scenario(scenario, progress=shares.append)
    plain = run_scenario(scenario)
    assert (watched.digest, watched.events) == (plain.digest, plain.events)
    assert len(shares) > 50 and shares == sorted(shares)
    assert 0 < shares[0] < 0.05 and shares[-1] == 1.0


def test_inspect_sees_the_finished_world_with_its_journal_open() -> None:
    """``inspect`` is called once with the world and the verdict, and can read the journal."""
    scenario = load_scenario_text(scenario_text())
    seen: list[tuple[int, bool]] = []
    result = run_scenario(scenario, inspect=lambda world, verdict: seen.append(
        (sum(1 for _ in world.journal.entries()), verdict.passed)))
    assert seen == [(result.events, True)]
