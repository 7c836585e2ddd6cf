"""``lendsim explain SCENARIO``: a borrower's timeline in the terminal, passing or failing."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from simulator.faces.cli import app
from tests.support.explained import ID_NUMBER, INCIDENT_STEPS
from tests.support.scenario_text import borrower, generated, write_scenario

PLANTED = "bank.reports_without_reconciliation"


def explain(*args: str | Path, columns: int = 80) -> Result:
    """``lendsim explain ARGS`` in-process, on an ``columns``-wide output."""
    return CliRunner().invoke(app, ["explain", *map(str, args)],
                              env={"COLUMNS": str(columns)})


@pytest.fixture
def incident(tmp_path: Path) -> Path:
    """The small incident as a scenario file under ``scenarios/``."""
    return write_scenario(
        tmp_path / "scenarios" / "incident-explained.yaml", scenario="incident-explained",
        until="2026-03-05", steps=INCIDENT_STEPS,
        borrowers=[borrower(id_number=ID_NUMBER, principal="1200.00"), generated(3)])


def test_a_passing_run_shows_its_timeline(incident: Path) -> None:
    """A passing scenario exits 0 and shows alice's timeline: the repayment, its forward
    held while the platform's relay backs off the link, the posting after the outage — in
    local time with the offset."""
    result = explain(incident)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith("pass incident-explained")
    assert "alice (1101**********1234) in incident-explained" in out
    assert " 2026-02-01 Sun +08:00" in out
    assert "  21:00 borrower    repays in the app → 201" in out
    assert "holds PAY00000004: forwarding PAY00000001 failed" in out
    assert "posted PAY" in out
    assert "▲ no_false" not in out and ID_NUMBER not in out


def test_a_failing_run_shows_where_each_violation_happened(incident: Path) -> None:
    """With the defect planted the scenario fails (exit 1); the timeline flags both violations
    under their entries and names the other borrowers the violations name."""
    result = explain(incident, "--defect", PLANTED)
    assert result.exit_code == 1, result.output
    out = result.stdout
    assert out.startswith("FAIL incident-explained")
    assert f"defects planted: {PLANTED}" in out
    assert "▲ no_false_overdue:" in out and "▲ no_false_overdue_sms:" in out
    assert "also named in violations: b0001, b0002, b0003 (3 borrower(s))" in out


def test_borrower_picks_whose_timeline(incident: Path) -> None:
    """``--borrower b0002`` shows b0002's timeline instead of alice's."""
    result = explain(incident, "--borrower", "b0002")
    assert result.exit_code == 0, result.output
    assert "b0002 (" in result.stdout and "alice (" not in result.stdout


def test_a_scenario_is_found_by_its_id(incident: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Inside a folder with scenarios/, the scenario's id is enough."""
    monkeypatch.chdir(incident.parent.parent)
    result = explain("incident-explained")
    assert result.exit_code == 0, result.output
    assert "pass incident-explained" in result.stdout


def test_every_line_fits_80_columns(incident: Path) -> None:
    """On an 80-column terminal no line is longer — but the scenario's file path, shown whole
    as the user gave it (here a long temporary folder)."""
    result = explain(incident, "--defect", PLANTED)
    lines = [line for line in result.stdout.splitlines() if line != f"  file {incident}"]
    assert len(lines) == len(result.stdout.splitlines()) - 1
    assert all(len(line) <= 80 for line in lines), max(lines, key=len)


def test_html_report_of_one_scenario(incident: Path, tmp_path: Path) -> None:
    """``--html FILE`` also writes the report, with every violating borrower's timeline."""
    page = tmp_path / "explained.html"
    result = explain(incident, "--defect", PLANTED, "--html", page)
    assert result.exit_code == 1
    text = page.read_text(encoding="utf-8")
    for who in ("alice", "b0001", "b0002", "b0003"):
        assert f'data-borrower="{who}"' in text


def test_utc_on_request(incident: Path) -> None:
    """``--utc`` shows the same repayment at 13:00 on a +00:00 day."""
    result = explain(incident, "--utc")
    assert " 2026-02-01 Sun +00:00" in result.stdout
    assert "  13:00 borrower    repays in the app" in result.stdout


@pytest.mark.parametrize(("args", "complaint"), [
    (("--borrower", "zed"), "incident-explained: no borrower 'zed' (its borrowers: alice, "),
    (("--defect", "bank.nope"), "unknown defect 'bank.nope'"),
])
def test_bad_input_exits_2(incident: Path, args: tuple[str, ...], complaint: str) -> None:
    """An unknown borrower or defect exits 2 with a one-line error, nothing run."""
    result = explain(incident, *args, columns=400)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert complaint in result.stderr and "Traceback" not in result.output


def test_an_unknown_scenario_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Neither a file nor an id in scenarios/: exit 2 naming it."""
    (tmp_path / "scenarios").mkdir()
    monkeypatch.chdir(tmp_path)
    result = explain("no-such-scenario", columns=400)
    assert result.exit_code == 2
    assert "no scenario file 'no-such-scenario', nor a scenario with that id in scenarios" \
        in result.stderr
