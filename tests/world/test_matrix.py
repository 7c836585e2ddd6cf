"""The defect matrix runs the library per defect and reports which scenarios catch each."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from simulator.faces.cli import app
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
    assert "uncaught: no scenario catches bank.utc_cutoff" in result.output
    assert "bank.reports_without_reconciliation" in result.output
    assert "1 of 2 defects caught by 1 scenarios" in result.output


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

#: A fixed subset of the library that between them catch every defect; the full
#: matrix (`lendsim defects --matrix`) runs every scenario and takes longer.
CATCHERS = (
    "calendar/cn-national-day-holiday-shift.yaml",   # bank.ignores_holiday_shift
    "calendar/cn-payment-after-local-midnight.yaml",  # bank.utc_cutoff, suppresses_delinquency
    "money/residual-within-tolerance.yaml",  # bank.no_tolerance
    "ambiguity/duplicate-delivery.yaml",  # bank.ignores_idempotency_key
    "ambiguity/timeout-after-commit-retry-same-key.yaml",  # platform.new_key_per_retry
    "crashes/platform-crash-with-pending-forwards.yaml",  # platform.outbox_not_durable
    "outages/api-down-recon-up-over-due-date.yaml",  # recon gate, value time, no_retry
    "outages/api-and-recon-down-longer-than-wait.yaml",  # corrections
    "reporting/dispute-resolved-within-limit.yaml",  # bureau.dispute_never_resolved
)


def test_the_library_catches_every_defect_precisely() -> None:
    """Every catalogued defect is caught, no scenario fails on the correct world, and each
    failure is on an invariant that explains the defect."""
    matrix = defect_matrix([LIBRARY / name for name in CATCHERS])
    assert matrix.baseline_failures == []
    assert matrix.uncaught == []
    noise = {(defect, c.scenario, c.unexplained)
             for defect, catches in matrix.caught.items() for c in catches if c.unexplained}
    assert noise == set()
