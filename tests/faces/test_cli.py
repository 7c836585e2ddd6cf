"""The ``lendsim`` command (README, "Command line"): exit 0 all pass, 1 any fails, 2 bad
input, no traceback."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import Result
from rich.console import Console
from typer.testing import CliRunner

from simulator.faces.cli import app
from simulator.scenarios.defects import DEFECTS
from tests.support.processes import Terminal, interruptible
from tests.support.scenario_text import (
    MALFORMED,
    borrower,
    docking_outage,
    generated,
    line_of,
    load,
    repay,
    world,
    write_scenario,
)

INCIDENT = Path(__file__).resolve().parents[2] / "scenarios" / "incident"
#: a folder of the library whose scenarios are small worlds, for the commands that run one
IN_TRANSIT = INCIDENT.parent / "in-transit"
#: the scenario ids in the in-transit folder (file stem = scenario id)
IN_TRANSIT_IDS = tuple(sorted(path.stem for path in IN_TRANSIT.glob("*.yaml")))
#: the in-transit scenarios bank.no_correction_on_late_arrival fails, read off the files: only
#: there is a delinquency reported falsely (the bank gave up waiting for the file, paula had
#: paid before the threshold) that the late-arriving repayment must correct. In the others
#: nothing needs correcting: the CN payment was truly late, and the US payers in transit over
#: the month end are never reported.
FAIL_WITHOUT_CORRECTIONS = ("us-late-repayment-beyond-wait-corrected",)


def invoke(*args: str | Path) -> Result:
    """Run ``lendsim ARGS`` in-process, stdout and stderr kept apart."""
    return CliRunner().invoke(app, [str(arg) for arg in args])


def assert_bad_input(result: Result, *needles: str) -> str:
    """Bad input: exit 2, an error naming the problem on stderr, no traceback anywhere.

    Returns the error with its whitespace collapsed (a terminal may wrap it).
    """
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert result.stdout == ""
    error = " ".join(result.stderr.split())
    assert error.startswith("error: ")
    for needle in needles:
        assert needle in error
    return error


def test_run_a_library_folder_passes() -> None:
    """``lendsim run scenarios/in-transit`` passes every scenario and exits 0."""
    result = invoke("run", IN_TRANSIT)
    assert result.exit_code == 0, result.output
    assert f"{len(IN_TRANSIT_IDS)} passed, 0 failed" in result.stdout
    assert result.stderr == ""


@dataclass(frozen=True)
class DefectRun:
    """``lendsim run --defect … --json --junit --html`` on the in-transit folder."""

    result: Result
    json_file: Path
    junit_file: Path
    html_file: Path


@pytest.fixture(scope="module")
def defect_run(tmp_path_factory: pytest.TempPathFactory) -> DefectRun:
    """The in-transit folder run once with a planted defect, writing all three reports."""
    folder = tmp_path_factory.mktemp("reports")
    files = folder / "out" / "report.json", folder / "report.xml", folder / "report.html"
    result = invoke("run", "--defect", "bank.no_correction_on_late_arrival", IN_TRANSIT,
                    "--json", files[0], "--junit", files[1], "--html", files[2])
    return DefectRun(result, *files)


def test_planted_defect_fails_with_exit_1(defect_run: DefectRun) -> None:
    """With bank.no_correction_on_late_arrival the in-transit folder fails (exit 1), naming
    the scenario and the invariant."""
    result = defect_run.result
    assert result.exit_code == 1, result.output
    assert "bureau_matches_truth violated" in result.stdout
    assert "FAIL us-late-repayment-beyond-wait-corrected" in result.stdout
    assert "Traceback" not in result.output


def test_json_report_written(defect_run: DefectRun) -> None:
    """``--json FILE`` writes the README, "Command line" report, creating the folder."""
    report = json.loads(defect_run.json_file.read_text(encoding="utf-8"))
    assert set(report) == {"scenarios", "passed", "failed", "skipped"}
    assert sorted(s["scenario"] for s in report["scenarios"]) == list(IN_TRANSIT_IDS)
    failed = [s for s in report["scenarios"] if not s["passed"]]
    assert tuple(sorted(s["scenario"] for s in failed)) == FAIL_WITHOUT_CORRECTIONS
    assert (report["passed"], report["failed"], report["skipped"]) == \
        (len(IN_TRANSIT_IDS) - 1, 1, 0)
    assert any(v["invariant"] == "bureau_matches_truth"
               for s in failed for v in s["violations"])


def test_junit_report_written(defect_run: DefectRun) -> None:
    """``--junit FILE`` writes JUnit XML with one testcase per scenario."""
    suite = ET.parse(defect_run.junit_file).getroot()
    cases = suite.findall("testcase")
    assert sorted(case.get("name") or "" for case in cases) == list(IN_TRANSIT_IDS)
    failing = sorted(case.get("name") or "" for case in cases if case.find("failure") is not None)
    assert tuple(failing) == FAIL_WITHOUT_CORRECTIONS
    assert int(suite.get("failures") or 0) == 1


def test_html_report_written(defect_run: DefectRun) -> None:
    """``--html FILE`` writes the HTML page naming every scenario."""
    page = defect_run.html_file.read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>")
    for scenario in IN_TRANSIT_IDS:
        assert scenario in page


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("bank.nope", id="short-name"),
        pytest.param("bank.reports_without_reconcilation", id="misspelt-long-name"),
    ],
)
def test_unknown_defect_exits_2(name: str) -> None:
    """An unknown ``--defect`` exits 2 with an error naming it, before running anything."""
    assert_bad_input(invoke("run", "--defect", name, INCIDENT), f"unknown defect {name!r}")


def test_malformed_scenario_exits_2_naming_file_and_line(tmp_path: Path) -> None:
    """A malformed scenario file exits 2 with an error naming file:line and the key."""
    path = tmp_path / "malformed.yaml"
    path.write_text(MALFORMED, encoding="utf-8")
    assert_bad_input(invoke("run", path), f"{path}:7: borrowers[0].laon: unknown key 'laon'")


def test_missing_path_exits_2(tmp_path: Path) -> None:
    """A path that does not exist exits 2 with an error naming it."""
    missing = tmp_path / "nowhere"
    assert_bad_input(invoke("run", missing), f"{missing}: no such scenario file or folder")


def test_folder_without_scenarios_exits_2(tmp_path: Path) -> None:
    """A folder holding no scenario file is bad input: exit 2, naming the folder."""
    assert_bad_input(invoke("run", tmp_path), f"no scenario files found in {tmp_path}")


def test_unknown_defect_in_scenario_file_exits_2(tmp_path: Path) -> None:
    """A scenario that plants an unknown defect is bad input naming the file, not a crash."""
    path = write_scenario(tmp_path / "bad-defect.yaml", world=world(defects=["bank.nope"]))
    line = line_of(path.read_text(encoding="utf-8"), "bank.nope")
    assert_bad_input(invoke("run", path), f"{path}:{line}:", "unknown defect 'bank.nope'")


@pytest.mark.parametrize(
    "case",
    [
        pytest.param("unknown-defect", id="unknown-defect"),
        pytest.param("misspelt-defect", id="misspelt-long-defect-name"),
        pytest.param("malformed", id="malformed-file"),
        pytest.param("missing", id="missing-path"),
        pytest.param("empty", id="folder-without-scenarios"),
    ],
)
def test_bad_input_error_is_one_line(case: str, tmp_path: Path) -> None:
    """The error for bad input is one line, however long, so it can be grepped and logged."""
    path = tmp_path / "malformed.yaml"
    path.write_text(MALFORMED, encoding="utf-8")
    args: dict[str, list[str | Path]] = {
        "unknown-defect": ["run", "--defect", "bank.nope", INCIDENT],
        "misspelt-defect": ["run", "--defect", "bank.reports_without_reconcilation", INCIDENT],
        "malformed": ["run", path],
        "missing": ["run", tmp_path / "nowhere"],
        "empty": ["run", tmp_path / "empty"],
    }
    (tmp_path / "empty").mkdir()
    result = invoke(*args[case])
    assert_bad_input(result)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, f"the error is wrapped over {len(lines)} lines: {result.stderr!r}"


def test_default_path_is_local_scenarios_folder(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Without paths, ``lendsim run`` runs ./scenarios when there is one."""
    write_scenario(tmp_path / "scenarios" / "local.yaml", scenario="local-one")
    monkeypatch.chdir(tmp_path)
    result = invoke("run")
    assert result.exit_code == 0, result.output
    assert "local-one" in result.stdout
    assert "1 passed, 0 failed" in result.stdout


def test_defect_in_scenario_and_option_fails_small_run(tmp_path: Path) -> None:
    """A small scenario passes as is and fails (exit 1) once ``--defect`` plants the mistake."""
    path = write_scenario(tmp_path / "docking.yaml",
                          steps=[*docking_outage("2026-02-01T08:00", "3d"),
                                 repay("2026-02-01T21:00")])
    assert invoke("run", path).exit_code == 0
    result = invoke("run", "--defect", "bank.reports_without_reconciliation", path)
    assert result.exit_code == 1
    assert "no_false_overdue violated" in result.stdout


def test_quiet_prints_only_failures_and_the_count(tmp_path: Path) -> None:
    """``--quiet`` leaves out the table: a passing run prints only the closing count."""
    path = write_scenario(tmp_path / "quiet.yaml", scenario="quiet-one")
    result = invoke("run", "--quiet", path)
    assert result.exit_code == 0
    assert result.stdout.strip() == "1 passed, 0 failed"
    assert "quiet-one" in invoke("run", path).stdout  # the table names it without --quiet


def test_defects_lists_the_catalogue() -> None:
    """``lendsim defects`` lists all 15 defects, one per line on a wide page, with its mistake."""
    result = CliRunner().invoke(app, ["defects"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 15
    assert [line.split()[0] for line in lines] == list(DEFECTS)
    for line, defect in zip(lines, DEFECTS.values(), strict=True):
        assert line.endswith(defect.mistake)


def test_defects_list_wraps_to_80_columns() -> None:
    """On an 80-column page each mistake wraps under itself; every line fits."""
    result = CliRunner().invoke(app, ["defects"], env={"COLUMNS": "80"})
    lines = result.stdout.splitlines()
    assert len(lines) > 15 and all(len(line) <= 80 for line in lines)
    names = [line.split()[0] for line in lines if not line.startswith(" ")]
    assert names == list(DEFECTS)


@pytest.mark.skipif(shutil.which("lendsim") is None, reason="the lendsim command is not installed")
def test_installed_command(tmp_path: Path) -> None:
    """The installed ``lendsim`` command runs a scenario (exit 0) and rejects bad input (exit 2)."""
    command = shutil.which("lendsim")
    assert command is not None
    path = write_scenario(tmp_path / "scenarios" / "small.yaml", scenario="small-one")
    ran = subprocess.run([command, "run", str(path), "--json", str(tmp_path / "r.json")],
                         capture_output=True, text=True, timeout=60, check=False)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "1 passed, 0 failed" in ran.stdout
    assert json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))["passed"] == 1
    bad = subprocess.run([command, "run", "--defect", "bank.nope", str(path)],
                         capture_output=True, text=True, timeout=60, check=False)
    assert bad.returncode == 2
    assert "unknown defect 'bank.nope'" in bad.stderr
    assert "Traceback" not in bad.stderr + bad.stdout


def test_module_is_runnable_without_console_script(tmp_path: Path) -> None:
    """``python -m simulator.faces.cli defects`` works too (the module has a __main__ guard)."""
    ran = subprocess.run([sys.executable, "-m", "simulator.faces.cli", "defects"],
                         capture_output=True, text=True, timeout=60, check=False,
                         cwd=Path(__file__).resolve().parents[2],
                         env={**os.environ, "COLUMNS": "200"})
    assert ran.returncode == 0, ran.stderr
    assert len(ran.stdout.strip().splitlines()) == 15


@pytest.mark.parametrize("option", ["--json", "--junit", "--html"])
def test_a_report_path_that_is_a_folder_is_refused_before_the_run(tmp_path: Path,
                                                                  option: str) -> None:
    """``--json DIR`` (or --junit, --html): exit 2 naming the option before any scenario
    runs, not an IsADirectoryError after the whole run."""
    result = invoke("run", INCIDENT / "docking-failure-correct-bank.yaml", option, tmp_path)
    assert_bad_input(result, option, "is a folder")
    assert "passed" not in result.stdout


def test_a_report_path_under_a_file_is_refused(tmp_path: Path) -> None:
    """A report path whose parent is a file cannot be written: exit 2 naming it."""
    blocker = tmp_path / "file.txt"
    blocker.write_text("x", encoding="utf-8")
    result = invoke("run", INCIDENT / "docking-failure-correct-bank.yaml", "--html",
                    blocker / "report.html")
    assert_bad_input(result, "--html", "is not a folder")


def test_contracts_test_checks_its_junit_path_first(tmp_path: Path) -> None:
    """``lendsim contracts test --junit DIR``: exit 2 before any request is sent."""
    result = invoke("contracts", "test", "--party", "sms", "--junit", tmp_path)
    assert_bad_input(result, "--junit", "is a folder")


def test_schemathesis_is_a_runtime_dependency() -> None:
    """``contracts test`` works after the README's first command: schemathesis is one of
    lendsim's own dependencies, not an extra."""
    import tomllib

    project = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml")
                            .read_text(encoding="utf-8"))["project"]
    assert any(dep.startswith("schemathesis") for dep in project["dependencies"])
    assert not any(dep.startswith("schemathesis") for extra in
                   project.get("optional-dependencies", {}).values() for dep in extra)


# -- the command line for someone alone: --version, -h, help without type noise -------------
def test_version_prints_the_package_version() -> None:
    """``lendsim --version`` prints the installed version and exits 0."""
    from importlib.metadata import version

    result = invoke("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"lendsim {version('lendsim')}"


COMMANDS = (("",), ("run",), ("explain",), ("defects",), ("serve",), ("check",),
            ("serve-party",), ("explore",), ("contracts",), ("contracts", "test"))


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "lendsim")
def test_dash_h_is_help_without_type_noise_in_80_columns(command: tuple[str, ...]) -> None:
    """``-h`` works like ``--help`` for every command; no ``<bool>``-like type shows beside
    an option, and every line fits 80 columns."""
    args = [part for part in command if part]
    result = CliRunner().invoke(app, [*args, "-h"], env={"COLUMNS": "80", "TERM": "dumb"})
    assert result.exit_code == 0, result.output
    assert result.stdout == CliRunner().invoke(
        app, [*args, "--help"], env={"COLUMNS": "80", "TERM": "dumb"}).stdout
    assert "Usage:" in result.stdout
    for noise in ("<bool>", "<list", "<path>", "<int>", "<str>", "[x>="):
        assert noise not in result.stdout, noise
    assert all(len(line) <= 80 for line in result.stdout.splitlines())


def test_help_shows_metavars() -> None:
    """Options show what they take: ``--json FILE``, ``--defect NAME``, ``-j N``, ``-k EXPR``."""
    text = " ".join(CliRunner().invoke(app, ["run", "-h"],
                                       env={"COLUMNS": "120"}).stdout.split())
    for shown in ("--json FILE", "--defect NAME", "-j N", "-k EXPR", "--borrower ID"):
        name, metavar = shown.rsplit(" ", 1)
        assert re.search(rf"{re.escape(name)}[ │|-]*(?:-\w[ │]*)?{metavar}\b", text), shown


# -- run -j, -k, --utc, --borrower --------------------------------------------------------
def _report(*args: str | Path) -> dict[str, dict[str, object]]:
    """``lendsim run ARGS --json`` → the report's scenarios by id."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "r.json"
        result = invoke("run", *args, "--json", path)
        assert result.exit_code in (0, 1), result.output
        report = json.loads(path.read_text(encoding="utf-8"))
    return {s["scenario"]: s for s in report["scenarios"]}


def _docking_failures(tmp_path: Path, count: int) -> tuple[str | Path, ...]:
    """``lendsim run`` arguments: ``count`` scenarios ``s0``… of four borrowers through a
    3-day docking outage, with the incident's defect planted (the first fails)."""
    folder = tmp_path / "scenarios"
    for number in range(count):
        write_scenario(folder / f"s{number}.yaml", scenario=f"s{number}", seed=number,
                       borrowers=[borrower(), generated(3)],
                       steps=[*docking_outage("2026-02-01T08:00", "3d"),
                              repay("2026-02-01T21:00")])
    return folder, "--defect", "bank.reports_without_reconciliation"


def test_run_in_processes_gives_the_same_verdicts_and_digests(tmp_path: Path) -> None:
    """``-j 2`` gives exactly the verdicts, violations and digests of ``-j 1``, in order."""
    args = _docking_failures(tmp_path, 3)
    one, two = _report(*args, "-j", "1"), _report(*args, "-j", "2")
    assert list(one) == list(two) == ["s0", "s1", "s2"]
    for name in one:
        for key in ("passed", "digest", "events", "violations", "unexpected"):
            assert one[name][key] == two[name][key], (name, key)
    assert not one["s0"]["passed"]


def test_run_in_shards_gives_the_same_verdicts(tmp_path: Path) -> None:
    """``--shards 2`` splits each scenario by borrower and gives the verdicts and violations
    of one world per scenario, one report entry per scenario, a digest of its own, and the
    same again on a second sharded run."""
    args = _docking_failures(tmp_path, 2)
    whole, sharded = _report(*args), _report(*args, "--shards", "2", "-j", "2")
    assert list(whole) == list(sharded) == ["s0", "s1"]
    for name in whole:
        for key in ("passed", "unexpected"):
            assert whole[name][key] == sharded[name][key], (name, key)
        assert _by_borrower(whole[name]) == _by_borrower(sharded[name])
        assert whole[name]["digest"] != sharded[name]["digest"]
    assert not whole["s0"]["passed"]
    assert _report(*args, "--shards", "2")["s0"]["digest"] == sharded["s0"]["digest"]


def _by_borrower(entry: dict[str, object]) -> list[tuple[str, str, object]]:
    """A report entry's violations as (invariant, borrower, installment), sorted."""
    violations = entry["violations"]
    assert isinstance(violations, list)
    return sorted((v["invariant"], v.get("borrower", ""), v.get("installment"))
                  for v in violations)


@pytest.mark.parametrize(("args", "needle"), [
    pytest.param(["--shards", "0"], "--shards must be 1 or more (got 0)", id="zero"),
    pytest.param(["--shards", "2", "--html", "r.html"], "not with --shards", id="html"),
    pytest.param(["--shards", "2", "--sut", "bank=http://127.0.0.1:9"], "not with --sut",
                 id="sut"),
])
def test_bad_shards_are_bad_input(args: list[str], needle: str) -> None:
    """``--shards`` below 1, or with the HTML report or a system under test, is bad input."""
    assert_bad_input(invoke("run", *args, INCIDENT), needle)


def test_negative_jobs_is_bad_input() -> None:
    """``-j -1`` is bad input: exit 2 saying what -j takes."""
    assert_bad_input(invoke("run", "-j", "-1", INCIDENT), "-j/--jobs must be 0")


def test_k_runs_only_the_scenarios_it_selects() -> None:
    """``-k "us and not month"`` runs only the in-transit folder's US scenario that is not
    at a month end; the others are not run."""
    report = _report(IN_TRANSIT, "-k", "us and not month")
    assert list(report) == ["us-late-repayment-beyond-wait-corrected"]


@pytest.mark.parametrize(("expression", "complaint"), [
    ("us and", "ends too early"),
    ("no-such-scenario", "selects none of the scenarios"),
])
def test_bad_or_empty_k_is_bad_input(expression: str, complaint: str) -> None:
    """A malformed -k, or one selecting nothing, exits 2 naming the expression."""
    assert_bad_input(invoke("run", INCIDENT, "-k", expression), f"-k {expression!r}",
                     complaint)


def test_utc_on_request(tmp_path: Path) -> None:
    """Reports show local time with its offset; with ``--utc`` the same instants in UTC."""
    path = write_scenario(tmp_path / "docking.yaml",
                          steps=[*docking_outage("2026-02-01T08:00", "3d"),
                                 repay("2026-02-01T21:00")])
    args = (path, "--defect", "bank.reports_without_reconciliation")
    local = json.dumps(_report(*args))
    utc = json.dumps(_report(*args, "--utc"))
    assert "2026-02-01T21:00:00+08:00" in local and "+00:00" not in local
    assert "2026-02-01T13:00:00+00:00" in utc and "+08:00" not in utc


def test_unknown_borrower_is_bad_input() -> None:
    """``--borrower`` naming nobody in any scenario exits 2 naming it."""
    assert_bad_input(invoke("run", INCIDENT, "--borrower", "zed"),
                     "--borrower: no scenario has a borrower 'zed'")


# -- defects --matrix --json --junit --------------------------------------------------------
def test_matrix_writes_json_and_junit(tmp_path: Path) -> None:
    """``defects --matrix --json --junit`` writes which scenarios catch each defect; JUnit has a
    baseline suite and a defects suite with a failure for the uncaught defect."""
    scenario = write_scenario(tmp_path / "docking.yaml", scenario="small-docking",
                              steps=[*docking_outage("2026-02-01T08:00", "3d"),
                                     repay("2026-02-01T21:00")])
    json_file, junit_file = tmp_path / "m.json", tmp_path / "m.xml"
    result = invoke("defects", "--matrix", scenario, "-j", "1", "--defect", "bank.utc_cutoff",
                    "--defect", "bank.reports_without_reconciliation", "--json", json_file,
                    "--junit", junit_file)
    assert result.exit_code == 1, result.output
    report = json.loads(json_file.read_text(encoding="utf-8"))
    assert report["complete"] is False and report["uncaught"] == ["bank.utc_cutoff"]
    assert report["imprecise"] == [] and report["passed"] is False
    by_name = {d["defect"]: d for d in report["defects"]}
    caught = by_name["bank.reports_without_reconciliation"]
    assert caught["caught"] and caught["caught_by"][0]["scenario"] == "small-docking"
    assert set(caught["caught_by"][0]["invariants"]) == {"no_false_overdue",
                                                         "no_false_overdue_sms"}
    root = ET.parse(junit_file).getroot()
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert set(suites) == {"baseline", "defects"}
    assert suites["baseline"].get("failures") == "0"
    failed = [c.get("name") for c in suites["defects"].findall("testcase")
              if c.find("failure") is not None]
    assert failed == ["bank.utc_cutoff"]


# -- Ctrl-C -----------------------------------------------------------------------------------
#: scenarios in the interrupted run: far more work than the test waits for on any machine
SLOW = 80


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_ctrl_c_stops_cleanly_with_a_partial_summary(tmp_path: Path, jobs: str) -> None:
    """SIGINT during ``lendsim run`` exits 130 with the summary of what finished, says it was
    interrupted, writes no report and shows no traceback (in one process or several)."""
    folder = tmp_path / "scenarios"
    for number in range(SLOW):
        write_scenario(folder / f"slow{number:02d}.yaml", scenario=f"slow{number:02d}",
                       until="2026-06-01", borrowers=[borrower(months=6), generated(60)],
                       steps=[*docking_outage("2026-02-01T08:00", "3d")])
    report = tmp_path / "r.json"
    # stderr on a terminal, so the run draws its progress there: interrupted once a scenario
    # has finished (stdout stays a pipe, at the width the summary has in CI logs)
    terminal = Terminal()
    process = subprocess.Popen(
        interruptible("-m", "simulator.faces.cli", "run", str(folder), "-j", jobs,
                      "--json", str(report)), stdout=subprocess.PIPE, stderr=terminal.child,
        text=True, cwd=Path(__file__).resolve().parents[2], env={**os.environ, "COLUMNS": "80"})
    terminal.started()
    try:
        finished = terminal.wait_for(rf"\b[1-9]\d*/{SLOW} scenarios", 120)
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=60)
    finally:
        process.kill()  # a failure must not leave it running into other tests
        process.communicate()
        err = terminal.close()
    assert finished, f"no scenario finished within 120 s: {err}"
    assert process.returncode == 130, out + err
    assert re.search(rf"interrupted after [1-9]\d* of {SLOW} scenario\(s\)", out), out
    assert re.search(r"\n[1-9]\d* passed, 0 failed\n", out), out
    assert "Traceback" not in out + err
    assert not report.exists()


# -- legends only with colour -----------------------------------------------------------------
def test_matrix_legend_names_a_colour_only_with_colour() -> None:
    """An unexplained invariant carries ``*`` either way; the legend says "yellow" only when
    the console has colour."""
    from simulator.faces.reports import print_matrix
    from simulator.world.matrix import Catch, Matrix

    matrix = Matrix(["s"], [], {"bank.no_tolerance": [Catch("s", ("money_conserved",),
                                                            ("money_conserved",))]})
    plain, coloured = io.StringIO(), io.StringIO()
    print_matrix(matrix, Console(file=plain, width=80, color_system=None))
    print_matrix(matrix, Console(file=coloured, width=80, color_system="standard"))
    assert "money_conserved*" in plain.getvalue()
    assert "* : an invariant" not in plain.getvalue()
    assert "*: an invariant the defect does not explain also fired" in plain.getvalue()
    assert "yellow" not in plain.getvalue()
    assert "yellow and *: an invariant" in coloured.getvalue()


def test_a_run_off_a_terminal_prints_no_progress(tmp_path: Path) -> None:
    """Off a terminal the output is the single closing summary: no bar, no ETA."""
    path = write_scenario(tmp_path / "small.yaml", scenario="small-one")
    result = invoke("run", path)
    assert result.exit_code == 0
    assert "ETA" not in result.output and "━" not in result.output


def test_job_cost_puts_the_long_and_large_scenarios_first() -> None:
    """The estimate that orders ``lendsim run``'s jobs ranks a year of 2,000 borrowers above
    a two-month world of one borrower, and a longer world above a shorter one."""
    from simulator.faces.batch import job_cost

    small = load()
    longer = load(until="2026-06-01T00:00")
    large = load(borrowers=[generated(2000)])
    assert job_cost(large) > job_cost(longer) > job_cost(small)
