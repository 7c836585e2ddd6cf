"""The defect matrix runs scenarios per defect and reports which catch each, and how precisely.

Whether the whole library catches every catalogued defect, precisely, is the gate of
``lendsim defects --matrix`` (its exit status; CI runs it as a step of its own): here a
small world and a sample of the library prove the machinery that gate stands on.
"""

from __future__ import annotations

import dataclasses
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from simulator.faces.cli import app
from simulator.scenarios.defects import DEFECTS
from simulator.world.matrix import Catch, Matrix, defect_matrix
from tests.support.scenario_text import docking_outage, repay, write_scenario

LIBRARY = Path(__file__).resolve().parents[2] / "scenarios"
#: A sample of the library, each scenario a small world, that together with SAMPLE_DEFECTS
#: makes every invariant that explains a catalogued defect fire (read off a whole-library
#: ``lendsim defects --matrix --json``): a reply lost after the bank committed, around its
#: day-end batch; and a correction reaching the bureau late.
SAMPLE = (LIBRARY / "ambiguity" / "timeout-after-commit-around-day-end-batch.yaml",
          LIBRARY / "links" / "bank-to-bureau-delay-stale-report-after-correction.yaml")
SAMPLE_DEFECTS = ("bank.posts_by_receipt_time", "platform.no_retry",
                  "platform.new_key_per_retry")


@pytest.fixture(scope="module")
def docking(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One borrower repaying on the due date at 21:00 while the docking link (API and
    reconciliation file) is down for three days: the incident, in a small world."""
    return write_scenario(tmp_path_factory.mktemp("matrix") / "docking.yaml",
                          scenario="small-docking",
                          steps=[*docking_outage("2026-02-01T08:00", "3d"),
                                 repay("2026-02-01T21:00")])


def test_a_caught_defect_names_the_scenario_and_its_invariants(docking: Path) -> None:
    """Planting the incident's defect makes the docking scenario fail on the two invariants
    that explain it, and nothing else: the matrix is complete and precise."""
    matrix = defect_matrix([docking], ["bank.reports_without_reconciliation"], jobs=1)
    assert matrix.baseline_failures == []
    [catch] = matrix.caught["bank.reports_without_reconciliation"]
    assert catch.scenario == "small-docking"
    assert set(catch.invariants) == {"no_false_overdue", "no_false_overdue_sms"}
    assert catch.unexplained == ()
    assert matrix.complete and matrix.imprecise == [] and matrix.passed


def test_an_uncaught_defect_makes_the_matrix_incomplete(docking: Path) -> None:
    """A defect no scenario catches (UTC cut-off, with only an evening CN payment) is
    reported, and the matrix does not pass."""
    matrix = defect_matrix([docking], ["bank.utc_cutoff"], jobs=1)
    assert matrix.uncaught == ["bank.utc_cutoff"]
    assert matrix.caught["bank.utc_cutoff"] == []
    assert not matrix.complete and not matrix.passed


def test_an_unexplained_invariant_makes_the_matrix_imprecise() -> None:
    """A catch that also fails an invariant the defect does not explain is imprecise: the
    matrix is complete but does not pass; a catch only by expectations is no catch."""
    noisy = Catch("s1", ("no_false_overdue", "money_conserved"), ("money_conserved",))
    by_expectation = Catch("s2", (), (), ("bureau alice 2026-02: overdue, expected current",))
    matrix = Matrix(["s1", "s2"], [], {"bank.no_tolerance": [noisy],
                                       "bureau.correction_ignored": [by_expectation]})
    assert matrix.imprecise == ["bank.no_tolerance"]
    assert matrix.uncaught == matrix.expectation_only == ["bureau.correction_ignored"]
    assert not matrix.passed
    precise = Matrix(["s1"], [], {"bank.no_tolerance": [Catch("s1", ("no_false_overdue",), ())]})
    assert precise.complete and precise.imprecise == [] and precise.passed
    assert precise.as_dict()["passed"] is True and precise.as_dict()["imprecise"] == []


def test_a_sample_of_the_library_fires_every_invariant_precisely() -> None:
    """Over a sample of the library, in worker processes: no scenario fails with no defect,
    every sampled defect is caught by an invariant that explains it and by no other, and
    between them the catches fire every invariant that explains some catalogued defect."""
    matrix = defect_matrix(SAMPLE, SAMPLE_DEFECTS, jobs=2)
    assert matrix.scenarios == [path.stem for path in SAMPLE]
    assert matrix.baseline_failures == []
    assert list(matrix.caught) == list(SAMPLE_DEFECTS)
    assert matrix.uncaught == [] and matrix.imprecise == [] and matrix.passed
    for defect, catches in matrix.caught.items():
        for catch in catches:
            assert set(catch.invariants) <= set(DEFECTS[defect].explained_by), (defect, catch)
    fired = {name for catches in matrix.caught.values() for c in catches for name in c.invariants}
    unfired = {name for d in DEFECTS.values() for name in d.explained_by} - fired
    assert unfired == set(), "no catch of the sample fires these: widen SAMPLE or " \
        "SAMPLE_DEFECTS from a whole-library `lendsim defects --matrix --json`"


def test_matrix_command_exits_1_when_a_defect_is_uncaught(docking: Path) -> None:
    """`lendsim defects --matrix` on a library missing a defect exits 1 and names the defect."""
    result = CliRunner().invoke(app, [
        "defects", "--matrix", str(docking), "--jobs", "1",
        "--defect", "bank.utc_cutoff", "--defect", "bank.reports_without_reconciliation"])
    assert result.exit_code == 1, result.output
    assert "uncaught: no invariant that explains bank.utc_cutoff fails (in no scenario)" \
        in result.output
    assert "bank.reports_without_" in result.output  # the table may fold the long name
    assert "1 of 2 defects caught by an invariant that explains them, over 1 scenarios" \
        in result.output


def test_matrix_command_exits_1_when_a_defect_is_caught_imprecisely(
        docking: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a catalogue that says only no_false_overdue explains the incident's defect, the
    scenario catching it also fails no_false_overdue_sms: `lendsim defects --matrix` exits 1
    naming the defect, the invariant and the scenario, in its output, JSON and JUnit."""
    name = "bank.reports_without_reconciliation"
    monkeypatch.setitem(DEFECTS, name, dataclasses.replace(DEFECTS[name],
                                                           explained_by=("no_false_overdue",)))
    json_file, junit_file = tmp_path / "m.json", tmp_path / "m.xml"
    result = CliRunner().invoke(app, [
        "defects", "--matrix", str(docking), "--jobs", "1", "--defect", name,
        "--json", str(json_file), "--junit", str(junit_file)], env={"COLUMNS": "200"})
    assert result.exit_code == 1, result.output
    assert (f"imprecise: {name} also fails no_false_overdue_sms, which does not explain it "
            "(in small-docking)") in result.output
    assert "1 of 1 defects caught by an invariant that explains them" in result.output
    report = json.loads(json_file.read_text(encoding="utf-8"))
    assert (report["complete"], report["passed"]) == (True, False)
    assert report["uncaught"] == [] and report["imprecise"] == [name]
    suite = ET.parse(junit_file).getroot().find("testsuite[@name='defects']")
    assert suite is not None and suite.get("failures") == "1"
    failure = suite.find(f"testcase[@name='{name}']/failure")
    assert failure is not None
    assert failure.get("message", "").startswith(f"caught imprecisely: {name} also fails "
                                                 "no_false_overdue_sms")


def test_matrix_command_rejects_an_unknown_defect(docking: Path) -> None:
    """An unknown --defect is bad input: exit 2 naming it."""
    result = CliRunner().invoke(app, ["defects", "--matrix", str(docking), "--defect", "bank.x"])
    assert result.exit_code == 2
    assert "unknown defect 'bank.x'" in result.output


def test_matrix_command_rejects_a_missing_path(tmp_path: Path) -> None:
    """A path that does not exist is bad input: exit 2 before anything runs."""
    result = CliRunner().invoke(app, ["defects", "--matrix", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
