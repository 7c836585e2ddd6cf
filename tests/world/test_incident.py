"""The incident scenarios: the docking failure on a defective and on a correct bank."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from simulator.scenarios.loader import load_scenario
from simulator.scenarios.model import INVARIANTS, Check, Fault, Scenario
from simulator.world.runner import ScenarioResult, run_scenario
from tests.support.watched import Watched

INCIDENT = Path(__file__).resolve().parents[2] / "scenarios" / "incident"
FILES = {
    "defective": INCIDENT / "docking-failure-defective-bank.yaml",
    "correct": INCIDENT / "docking-failure-correct-bank.yaml",
    "beyond-wait": INCIDENT / "docking-failure-beyond-wait-corrected.yaml",
}


ALL_FILES = sorted(INCIDENT.glob("*.y*ml"))


@pytest.fixture(scope="module")
def runs(defective_incident: Watched) -> dict[Path, ScenarioResult]:
    """The three incident scenarios, run once (the folder's others pass as scenario items:
    ``pytest`` runs every scenario of the library)."""
    return {path: defective_incident.result if name == "defective"
            else run_scenario(load_scenario(path)) for name, path in FILES.items()}


@pytest.fixture
def incident(runs: dict[Path, ScenarioResult]) -> dict[str, ScenarioResult]:
    """The three incident scenarios' results, by short name."""
    return {name: runs[path] for name, path in FILES.items()}


def test_the_folder_holds_the_incident_scenarios() -> None:
    """The incident folder holds the defective-bank, correct-bank and beyond-wait scenarios."""
    assert set(FILES.values()) <= set(ALL_FILES)


@pytest.mark.parametrize("name", FILES)
def test_scenario_passes_as_declared(name: str, runs: dict[Path, ScenarioResult]) -> None:
    """Each of the three passes: exactly its declared violations, every bureau check holds."""
    result = runs[FILES[name]]
    assert result.passed, result.reasons()
    assert result.violated == list(result.scenario.expect.violated)
    assert result.failed_checks == []
    assert result.checks


@pytest.mark.parametrize("path", ALL_FILES, ids=[path.stem for path in ALL_FILES])
def test_every_incident_scenario_checks_the_bureau(path: Path) -> None:
    """Every scenario of the incident folder checks the bureau, in a step or at the end (a
    check that does not hold fails the scenario, which runs as a test item of its own)."""
    scenario = load_scenario(path)
    steps = [s.action for s in scenario.steps if isinstance(s.action, Check)]
    assert scenario.expect.bureau or any(check.bureau for check in steps)


def test_defective_bank_reports_falsely(incident: dict[str, ScenarioResult]) -> None:
    """The defective bank texts and reports on-time payers: both false-overdue invariants break."""
    result = incident["defective"]
    assert "bank.reports_without_reconciliation" in result.defects
    assert result.violated == ["no_false_overdue", "no_false_overdue_sms"]
    alice = [v for v in result.violations["no_false_overdue"] if v.borrower == "alice"]
    assert [v.installment for v in alice] == [1]
    assert alice[0].instants["paid_at"] < alice[0].instants["due_end"]
    # the generated borrowers who paid on the due date are falsely reported too
    assert len(result.violations["no_false_overdue"]) > 100
    assert len(result.violations["no_false_overdue_sms"]) > 100


def test_correct_bank_has_no_violation(incident: dict[str, ScenarioResult]) -> None:
    """On the correct bank every invariant holds: nobody who paid is texted or reported."""
    result = incident["correct"]
    assert result.defects == ()
    assert tuple(result.violations) == INVARIANTS
    assert {name: found for name, found in result.violations.items() if found} == {}
    assert [(c.borrower, c.period, c.actual) for c in result.checks] == [
        ("alice", "2026-02", "current"), ("alice", "2026-02", "current")]


def test_beyond_wait_false_record_appears_then_is_corrected(
        incident: dict[str, ScenarioResult]) -> None:
    """Beyond the wait the false record appears, but is corrected in time and ends current."""
    result = incident["beyond-wait"]
    assert result.violations["no_false_overdue"]
    assert result.violations["no_false_overdue_sms"]
    assert "false_reports_corrected" in result.violations  # it was checked…
    assert result.violations["false_reports_corrected"] == []  # …and held
    assert result.violations["bureau_matches_truth"] == []
    checks = [(c.at.date().isoformat(), c.expected, c.actual) for c in result.checks]
    assert checks[0][1:] == ("overdue", "overdue")  # the false record, visible on 6 February
    assert checks[1][1:] == ("current", "current")  # corrected by 10 February
    end = result.checks[-1]
    assert (end.borrower, end.period, end.actual) == ("alice", "2026-02", "current")
    assert end.at == result.scenario.until


def test_defective_and_correct_bank_differ_only_by_the_defect() -> None:
    """The two incident scenarios tell the same story: same seed, borrowers and steps."""
    defective, correct = (load_scenario(FILES[name]) for name in ("defective", "correct"))
    assert defective.defects == ("bank.reports_without_reconciliation",)
    assert correct.defects == ()
    assert defective.seed == correct.seed
    assert defective.borrowers == correct.borrowers
    def story(scenario: Scenario) -> list[object]:
        return [dataclasses.replace(s.action, line=None) if isinstance(s.action, Fault)
                else s.action for s in scenario.steps]

    assert story(defective) == story(correct)[:3]
