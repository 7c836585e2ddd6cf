"""A served world kept in a state folder (simulator.serve.state): closed and opened again it
resumes where it was — clock, parties, faults, the oracle's money, scripted borrowers — without
repeating anything; another world is refused; a reset starts the folder afresh."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from simulator.core.errors import LendsimError
from simulator.faces.cli import app as cli
from simulator.scenarios.loader import load_scenario_text
from simulator.serve.sandbox import Sandbox
from tests.serve.test_sandbox import START, WORLD, Control, journal_count, posted


def postings_of(sandbox: Sandbox, loan_id: str) -> int:
    count: int = sandbox.call(lambda: sandbox.world.bank.db.execute(
        "SELECT count(*) FROM postings WHERE loan_id = ?", (loan_id,)).fetchone()[0])
    return count


def test_a_kept_world_resumes_where_it_was(tmp_path: Path) -> None:
    """Close a sandbox after a repayment, an advance and a fault; a new one on the same folder
    has the same clock, posting and fault, and bob's due-date habit, which had run before the
    close, is not run again while the one after it still runs."""
    state = tmp_path / "state"
    with Sandbox(load_scenario_text(WORLD), state=state) as first:
        control = Control(first)
        assert control.repay("PAY-1").status_code == 201
        assert control.advance(by="3d").status_code == 200  # bob pays on 2026-02-01
        planted = control.add_fault(kind="outage", link="recon", **{"for": "10d"}).json()
        assert postings_of(first, "L-bob") == 1
    with Sandbox(load_scenario_text(WORLD), state=state) as again:
        control = Control(again)
        assert control.now() == START + timedelta(days=3)
        assert control.faults() == [planted]
        assert posted(again, "PAY-1") == 1
        assert postings_of(again, "L-bob") == 1
        assert control.repay("PAY-1").json()["payment_id"] == "PAY-1"  # the original answer
        assert control.advance(to="2026-03-02T00:00:00+08:00").status_code == 202
        control.wait_ready()
        assert postings_of(again, "L-bob") == 2  # 2026-03-01's, once
        assert journal_count(again, "world.resumed") == 1


def test_a_crash_fault_still_acting_keeps_the_party_down(tmp_path: Path) -> None:
    """A party crashed by a planted fault is still down after a restart, until the fault
    ends."""
    state = tmp_path / "state"
    with Sandbox(load_scenario_text(WORLD), state=state) as first:
        Control(first).add_fault(kind="crash", party="bank", **{"for": "2h"})
    with Sandbox(load_scenario_text(WORLD), state=state) as again:
        control = Control(again)
        assert control.party("GET", "/bank/loans/L-alice").status_code == 503
        control.advance(by="3h")
        assert control.party("GET", "/bank/loans/L-alice").status_code == 200


def test_another_world_is_refused(tmp_path: Path) -> None:
    """A folder that keeps one world refuses to serve another (a different start)."""
    state = tmp_path / "state"
    Sandbox(load_scenario_text(WORLD), state=state).close()
    other = WORLD.replace("start: 2026-01-31T09:00", "start: 2026-01-30T09:00")
    with pytest.raises(LendsimError, match="another world"):
        Sandbox(load_scenario_text(other), state=state)


def test_a_reset_starts_the_folder_afresh(tmp_path: Path) -> None:
    """After a reset the folder keeps the world at its start; what was posted is gone."""
    state = tmp_path / "state"
    with Sandbox(load_scenario_text(WORLD), state=state) as first:
        control = Control(first)
        control.repay("PAY-1")
        control.advance(by="1d")
        assert control.client.request("POST", "/reset").status_code == 204
    with Sandbox(load_scenario_text(WORLD), state=state) as again:
        assert Control(again).now() == START
        assert posted(again, "PAY-1") == 0


def test_serve_refuses_a_state_that_is_a_file(tmp_path: Path) -> None:
    """``lendsim serve --state FILE``: exit 2 with one line naming it."""
    file = tmp_path / "not-a-folder"
    file.write_text("x", encoding="utf-8")
    result = CliRunner().invoke(cli, ["serve", "--state", str(file)])
    assert result.exit_code == 2 and "not a folder" in result.output


def test_without_a_state_folder_nothing_is_written(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The default sandbox keeps everything in memory: no file appears."""
    monkeypatch.chdir(tmp_path)
    with Sandbox(load_scenario_text(WORLD)) as made:
        Control(made).repay("PAY-1")
    assert list(tmp_path.iterdir()) == []
