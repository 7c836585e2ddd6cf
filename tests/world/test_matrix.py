"""The defect matrix runs the library per defect and reports which scenarios catch each."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from simulator.faces.cli import app
from simulator.scenarios.loader import discover
from simulator.world.matrix import defect_matrix

INCIDENT = Path(__file__).resolve().parents[2] / "scenarios" / "incident"
CORRECT = INCIDENT / "docking-failure-correct-bank.yaml"


def test_a_caught_defect_names_the_scenario_and_its_invariants() -> None:
    """Planting the incident's defect makes the correct-bank scenario fail on no_false_overdue."""
    matrix = defect_matrix([CORRECT], ["bank.reports_without_reconciliation"], jobs=1)
    assert matrix.baseline_failures == []
    [catch] = matrix.caught["bank.reports_without_reconciliation"]
    assert catch.scenario == "docking-failure-correct-bank"
    assert set(catch.invariants) == {"no_false_overdue", "no_false_overdue_sms"}
    assert catch.unexplained == ()
    assert matrix.complete


def test_an_uncaught_defect_makes_the_matrix_incomplete() -> None:
    """A defect no scenario catches (UTC cut-off, with only evening CN payments) is reported."""
    matrix = defect_matrix([CORRECT], ["bank.utc_cutoff"], jobs=1)
    assert matrix.uncaught == ["bank.utc_cutoff"]
    assert not matrix.complete


def test_matrix_command_exits_1_when_a_defect_is_uncaught(tmp_path: Path) -> None:
    """`lendsim defects --matrix` on a library missing a defect exits 1 and names the defect."""
    result = CliRunner().invoke(app, [
        "defects", "--matrix", str(CORRECT), "--jobs", "1",
        "--defect", "bank.utc_cutoff", "--defect", "bank.reports_without_reconciliation"])
    assert result.exit_code == 1, result.output
    assert "uncaught: no invariant that explains bank.utc_cutoff fails (in no scenario)" \
        in result.output
    assert "bank.reports_without_" in result.output  # the table may fold the long name
    assert "1 of 2 defects caught by an invariant that explains them, over 1 scenarios" \
        in result.output


def test_matrix_command_rejects_an_unknown_defect() -> None:
    """An unknown --defect is bad input: exit 2 naming it."""
    result = CliRunner().invoke(app, ["defects", "--matrix", str(CORRECT), "--defect", "bank.x"])
    assert result.exit_code == 2
    assert "unknown defect 'bank.x'" in result.output


def test_matrix_command_rejects_a_missing_path(tmp_path: Path) -> None:
    """A path that does not exist is bad input: exit 2 before anything runs."""
    result = CliRunner().invoke(app, ["defects", "--matrix", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "Traceback" not in result.output


LIBRARY = Path(__file__).resolve().parents[2] / "scenarios"


def test_the_library_catches_every_defect_precisely() -> None:
    """Over the whole library: no scenario fails on the correct world, every catalogued defect
    is caught by an invariant that explains it (not only by an expectation), and no failure
    is on an invariant the defect does not explain."""
    matrix = defect_matrix(discover([LIBRARY]))
    assert matrix.baseline_failures == []
    assert matrix.uncaught == []
    noise = {(defect, c.scenario, c.unexplained)
             for defect, catches in matrix.caught.items() for c in catches if c.unexplained}
    assert noise == set()
