"""``lendsim explore`` (README, "Explore"): exit 0 when every invariant held, 1 on a finding
with its shrunk scenario written, 2 for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from simulator.faces.cli import app


def invoke(*args: str | Path) -> Result:
    return CliRunner().invoke(app, ["explore", *(str(arg) for arg in args)])


def test_a_short_clean_campaign_exits_0(tmp_path: Path) -> None:
    """Sixteen worlds in this process: the summary says every invariant held, nothing is
    written under --out, and the JSON report counts the runs and no finding."""
    report = tmp_path / "explore.json"
    result = invoke("--runs", "16", "--seed", "11", "-j", "1", "--out", tmp_path / "out",
                    "--json", report)
    assert result.exit_code == 0, result.output
    assert "lendsim explore — seed 11, 16 runs" in result.stdout
    assert "every invariant held in every run" in result.stdout
    assert not (tmp_path / "out").exists()
    data = json.loads(report.read_text(encoding="utf-8"))
    assert (data["runs"], data["violating_runs"], data["findings"]) == (16, 0, [])


def test_a_planted_defect_is_found_shrunk_and_reproduced_by_lendsim_run(tmp_path: Path) -> None:
    """With bank.utc_cutoff planted, explore exits 1, names each invariant with its first run
    and shrunk file; `lendsim run` on a shrunk file fails on that invariant; the JSON lists
    each finding with its run, world seed and the shrunk file."""
    out, report = tmp_path / "out", tmp_path / "explore.json"
    result = invoke("--runs", "8", "--seed", "3", "-j", "1", "--defect", "bank.utc_cutoff",
                    "--out", out, "--json", report, "--shrink-runs", "10")
    assert result.exit_code == 1, result.output
    assert "FOUND" in result.stdout and "defect bank.utc_cutoff planted" in result.stdout
    data = json.loads(report.read_text(encoding="utf-8"))
    assert "no_false_overdue" in data["invariants"]
    assert data["violating_runs"] == len(data["findings"]) >= 1
    assert {"run", "world_seed", "invariants", "first"} <= set(data["findings"][0])
    shrunk = next(s for s in data["shrunk"] if s["target"] == "no_false_overdue")
    file = Path(shrunk["file"])
    assert file.parent == out and file.is_file()
    assert shrunk["lines"] < shrunk["original_lines"]
    assert "no_false_overdue  " in result.stdout and str(file) in result.stdout
    rerun = CliRunner().invoke(app, ["run", str(file)])
    assert rerun.exit_code == 1
    assert "no_false_overdue violated" in rerun.stdout


@pytest.mark.parametrize(("args", "needle"), [
    pytest.param(["--runs", "5", "--time", "1m"], "--runs or --time, not both", id="both"),
    pytest.param(["--time", "soon"], "'--time' must be a duration like 30m", id="bad-time"),
    pytest.param(["--defect", "bank.nonsense"], "unknown defect 'bank.nonsense'", id="defect"),
    pytest.param(["--runs", "0"], "--runs must be 1 or more (got 0)", id="no-runs"),
    pytest.param(["--seed", "-1"], "--seed must be 0 or more (got -1)", id="negative-seed"),
    pytest.param(["--shrink-runs", "-5"], "--shrink-runs must be 0 or more", id="shrink-runs"),
    pytest.param(["--json", "."], "--json .: is a folder", id="json-folder"),
    pytest.param(["--dask", "tcp://127.0.0.1:9", "-j", "2"], "with --dask the cluster's",
                 id="dask-and-jobs"),
])
def test_bad_input_exits_2_naming_the_option(args: list[str], needle: str) -> None:
    """A mistake in the options is one error line naming it, exit 2, nothing run."""
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert result.stdout == "" and "Traceback" not in result.output
    assert needle in " ".join(result.stderr.split())


def test_out_that_is_a_file_is_bad_input(tmp_path: Path) -> None:
    """--out must be a folder (made if missing); a file there is refused before anything runs."""
    taken = tmp_path / "taken"
    taken.write_text("", encoding="utf-8")
    result = invoke("--runs", "1", "--out", taken)
    assert result.exit_code == 2 and "--out" in result.stderr and "not a folder" in result.stderr


REFERENCE_BANK = "bank=python:simulator.sut.reference:bank_app"


def test_the_reference_bank_under_test_explores_clean(tmp_path: Path) -> None:
    """With the reference bank as the system under test (--sut, as for `lendsim run`), a few
    worlds hold every invariant: exit 0, the summary and the JSON name the system."""
    report = tmp_path / "explore.json"
    result = invoke("--runs", "2", "--seed", "3", "-j", "1", "--sut", REFERENCE_BANK,
                    "--out", tmp_path / "out", "--json", report)
    assert result.exit_code == 0, result.output
    assert f"{REFERENCE_BANK} under test" in result.stdout
    assert "every invariant held in every run" in result.stdout
    data = json.loads(report.read_text(encoding="utf-8"))
    assert (data["runs"], data["under_test"], data["findings"]) == (2, REFERENCE_BANK, [])


def test_a_system_that_cannot_go_on_is_a_finding_reproduced_with_its_sut(
        tmp_path: Path) -> None:
    """A platform that answers a clock move with its clock an hour behind stops every world:
    system_failed is the finding, its shrunk file is written, and `lendsim run --sut` on that
    file fails the same way (the summary prints that command)."""
    sut = "platform=python:tests.support.systems:platform_clock_back"
    out = tmp_path / "out"
    result = invoke("--runs", "1", "--seed", "2", "-j", "1", "--sut", sut, "--out", out,
                    "--shrink-runs", "4")
    assert result.exit_code == 1, result.output
    assert "system_failed" in result.stdout
    assert "answered set_clock with its clock at" in result.stdout
    (file,) = out.glob("*.yaml")
    assert f"reproduce: lendsim run --sut {sut} {file}" in " ".join(result.stdout.split())
    rerun = CliRunner().invoke(app, ["run", "--sut", sut, str(file)])
    assert rerun.exit_code == 1
    assert "system under test failed" in rerun.stdout


@pytest.mark.parametrize(("args", "needle"), [
    pytest.param(["--sut", REFERENCE_BANK, "--defect", "bank.utc_cutoff"],
                 "defects are planted in reference parties only", id="defect-in-sut"),
    pytest.param(["--sut", "teller=python:x:y"], "teller", id="unknown-role"),
    pytest.param(["--profile", "profile.yaml"], "give --sut too", id="profile-alone"),
])
def test_bad_system_options_exit_2(args: list[str], needle: str, tmp_path: Path) -> None:
    """--sut and --profile are checked as for `lendsim run`: one error line, exit 2."""
    (tmp_path / "profile.yaml").write_text("role: bank\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["explore", "--runs", "1", *[
        str(tmp_path / a) if a.endswith(".yaml") else a for a in args]])
    assert result.exit_code == 2, result.output
    assert needle in " ".join(result.stderr.split()) and "Traceback" not in result.output
