"""``lendsim check``: one verdict per requirement (profile, control contract, contract
suite, scenarios), exit 0 only when all pass, 1 on findings, 2 on bad input."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from simulator.faces.cli import app as cli
from simulator.sut.runs import close_launchers

LIBRARY = Path(__file__).parents[2] / "scenarios"
#: two small library scenarios a platform meets: an outage over the due date, and a crash
SCENARIOS = [str(LIBRARY / "outages" / "api-down-recon-up-over-due-date.yaml"),
             str(LIBRARY / "crashes" / "platform-crash-before-forward.yaml")]
CLEAN = "python:tests.support.systems:platform"


@pytest.fixture(autouse=True)
def _fresh_launchers() -> object:
    yield
    close_launchers()


def check(*args: str, target: str = CLEAN, role: str = "platform",
          paths: list[str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["check", "--role", role, "--target", target, "-j", "1",
                                      "--max-examples", "1", *args,
                                      *(SCENARIOS if paths is None else paths)])
    return result.exit_code, result.output


def test_a_clean_platform_passes_every_requirement(tmp_path: Path) -> None:
    """The reference platform passes the profile, each control probe, the contract suite and
    both scenarios; the three reports say the same."""
    reports = {kind: tmp_path / f"check.{kind}" for kind in ("json", "xml", "html")}
    code, out = check("--json", str(reports["json"]), "--junit", str(reports["xml"]),
                      "--html", str(reports["html"]))
    assert code == 0, out
    report = json.loads(reports["json"].read_text())
    groups = [r["group"] for r in report["requirements"]]
    assert groups[0] == "profile" and groups.count("control") >= 5
    assert groups.count("contract") == 1 and groups.count("scenario") == 2
    assert {r["status"] for r in report["requirements"]} == {"pass"}
    cases = ET.parse(reports["xml"]).getroot().iter("testcase")
    assert len(list(cases)) == len(groups)
    assert "platform-crash-before-forward" in reports["html"].read_text()
    assert "passed, 0 failed" in out


def test_a_platform_that_never_retries_fails_naming_the_invariant(tmp_path: Path) -> None:
    """A platform that never retries a failed forward fails the outage scenario with exit 1;
    the finding names the invariant and the command that reproduces it."""
    report_file = tmp_path / "check.json"
    code, out = check("--json", str(report_file),
                      target="python:tests.support.systems:platform_no_retry",
                      paths=SCENARIOS[:1])
    assert code == 1, out
    failed = [r for r in json.loads(report_file.read_text())["requirements"]
              if r["status"] == "FAIL"]
    assert [r["name"] for r in failed] == ["api-down-recon-up-over-due-date"]
    assert "exactly_once_posting" in " ".join(failed[0]["evidence"])
    assert failed[0]["reproduce"].startswith("lendsim run --sut platform=python:tests.support")
    assert "reproduce: lendsim run --sut" in out


def test_a_clock_that_can_be_moved_back_fails_the_control_contract(tmp_path: Path) -> None:
    """A platform that accepts a clock move backwards fails that control requirement."""
    report_file = tmp_path / "check.json"
    code, out = check("--json", str(report_file),
                      target="python:tests.support.systems:platform_accepts_clock_back",
                      paths=SCENARIOS[:1])
    assert code == 1, out
    failed = [r["name"] for r in json.loads(report_file.read_text())["requirements"]
              if r["status"] == "FAIL"]
    assert len(failed) == 1 and "back" in failed[0], failed


def test_a_profile_beyond_the_law_is_a_finding(tmp_path: Path) -> None:
    """A bank profile promising to report later than the law allows fails the profile
    requirement, with the legal limit in the evidence."""
    profile = tmp_path / "profile.yaml"
    profile.write_text("role: platform\njurisdictions: [CN]\nforwards_within: 3d\n")
    report_file = tmp_path / "check.json"
    code, out = check("--profile", str(profile), "--json", str(report_file), paths=SCENARIOS[:1])
    assert code == 1, out
    law = json.loads(report_file.read_text())["requirements"][0]
    assert law["status"] == "FAIL"
    assert law["evidence"] == ["forwards_within 3d is beyond the legal limit in CN, 1d"]


def test_a_scenario_that_does_not_apply_is_skipped_with_its_reason(tmp_path: Path) -> None:
    """A profile that does not crash on request skips the crash scenario, saying why, and the
    check still passes."""
    profile = tmp_path / "profile.yaml"
    profile.write_text("role: platform\ncrash: false\n")
    code, out = check("--profile", str(profile), paths=SCENARIOS[1:])
    assert code == 0, out
    assert "skip platform-crash-before-forward" in out
    assert "the profile says it does not crash on request" in out


@pytest.mark.parametrize(("args", "expected"), [
    (["--role", "bureau", "--target", CLEAN], "bank or platform"),
    (["--role", "platform", "--target", "ftp://x"], "python:"),
    (["--role", "platform", "--target", "python:no.such.module:app"], "no.such.module"),
    (["--role", "platform", "--target", CLEAN, "--timeout", "0"], "--timeout"),
    (["--role", "platform", "--target", CLEAN, "--max-examples", "0"], "--max-examples"),
    (["--role", "platform", "--target", CLEAN, "--profile", "missing.yaml"], "missing.yaml"),
    (["--role", "platform", "--target", CLEAN, "no-such-scenario.yaml"], "no-such-scenario"),
])
def test_bad_input_is_exit_2_naming_the_mistake(args: list[str], expected: str) -> None:
    """Each mistake on the command line exits 2 with a message naming it, no traceback."""
    result = CliRunner().invoke(cli, ["check", *args])
    assert result.exit_code == 2, result.output
    assert expected in result.output
    assert "Traceback" not in result.output


def test_a_profile_for_the_other_role_is_bad_input(tmp_path: Path) -> None:
    """A bank profile given to a platform check is refused with the file and key."""
    profile = tmp_path / "profile.yaml"
    profile.write_text("role: bank\n")
    code, out = check("--profile", str(profile), paths=SCENARIOS[:1])
    assert code == 2, out
    assert "profile.yaml" in out and "role" in out and "not the platform" in out
