"""Reports of a batch of runs: JSON, JUnit XML, HTML and the terminal summary — all masked."""

from __future__ import annotations

import io
import json
import re
import xml.etree.ElementTree as ET
from datetime import UTC
from pathlib import Path

import pytest
from rich.console import Console

from simulator.faces.reports import (
    failure_text,
    html_report,
    json_report,
    junit_report,
    print_summary,
    write_json,
    write_report,
)
from simulator.scenarios.loader import load_scenario_text
from simulator.world.runner import ScenarioResult, run_scenario
from tests.support.scenario_text import (
    borrower,
    check,
    docking_outage,
    generated,
    repay,
    scenario_text,
)

ID_NUMBER = "110101199003071234"
PHONE = "13812345678"

#: An unmasked 18-character Chinese ID number, and an 11-digit mainland mobile number.
FULL_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
FULL_PHONE = re.compile(r"(?<![0-9A-Za-z])1[3-9]\d{9}(?![0-9A-Za-z])")

STEPS = [*docking_outage("2026-02-01T08:00", "3d"), repay("2026-02-01T21:00")]
BORROWERS = [borrower(id_number=ID_NUMBER, phone=PHONE), generated(3)]


@pytest.fixture(scope="module")
def results() -> list[ScenarioResult]:
    """A passing run and a failing one (a planted defect and a failed check step)."""
    passing = scenario_text(scenario="passing-run", borrowers=BORROWERS, steps=STEPS)
    failing = scenario_text(
        scenario="failing-run", borrowers=BORROWERS,
        steps=[*STEPS, check("2026-02-20T12:00", ("alice", "2026-02", "none"))])
    return [
        run_scenario(load_scenario_text(passing, file="scenarios/passing-run.yaml")),
        run_scenario(load_scenario_text(failing, file="scenarios/failing-run.yaml"),
                     ("bank.reports_without_reconciliation",)),
    ]


def test_the_runs_are_what_the_reports_need(results: list[ScenarioResult]) -> None:
    """The fixture gives one pass and one failure with violations and a failed check."""
    passing, failing = results
    assert passing.passed
    assert not failing.passed
    assert failing.unexpected == ["no_false_overdue", "no_false_overdue_sms"]
    assert len(failing.failed_checks) == 1


def test_json_report_shape(results: list[ScenarioResult]) -> None:
    """The JSON report is {"scenarios": [...], "passed": N, "failed": N, "skipped": N}."""
    report = json_report(results)
    assert set(report) == {"scenarios", "passed", "failed", "skipped"}
    assert report["skipped"] == 0
    assert (report["passed"], report["failed"]) == (1, 1)
    assert [s["scenario"] for s in report["scenarios"]] == ["passing-run", "failing-run"]
    assert [s["passed"] for s in report["scenarios"]] == [True, False]
    for entry in report["scenarios"]:
        assert {"scenario", "file", "passed", "violations", "digest", "events"} <= set(entry)
    assert report["scenarios"][1]["file"] == "scenarios/failing-run.yaml"
    assert {v["invariant"] for v in report["scenarios"][1]["violations"]} == {
        "no_false_overdue", "no_false_overdue_sms"}


def test_write_json_round_trips(results: list[ScenarioResult], tmp_path: Path) -> None:
    """write_json writes the JSON report as UTF-8 JSON text, creating folders."""
    path = tmp_path / "out" / "report.json"
    write_json(path, results)
    assert json.loads(path.read_text(encoding="utf-8")) == json.loads(
        json.dumps(json_report(results)))


def test_junit_report_parses(results: list[ScenarioResult]) -> None:
    """The JUnit XML has one testcase per scenario and a <failure> only for the failing one."""
    suite = ET.fromstring(junit_report(results).encode("utf-8"))
    assert suite.tag == "testsuite"
    assert (suite.get("tests"), suite.get("failures")) == ("2", "1")
    cases = suite.findall("testcase")
    assert [case.get("name") for case in cases] == ["passing-run", "failing-run"]
    assert cases[0].find("failure") is None
    failure = cases[1].find("failure")
    assert failure is not None
    assert "no_false_overdue" in (failure.get("message") or "")
    assert "no_false_overdue_sms" in (failure.text or "")
    assert "credit_file.changed" in (failure.text or "")  # the evidence entries are listed


def test_html_report(results: list[ScenarioResult]) -> None:
    """The HTML page lists each scenario with its result and the failure's reasons."""
    page = html_report(results)
    assert page.startswith("<!doctype html>")
    assert "1 passed, 1 failed" in page
    assert "passing-run" in page and "failing-run" in page
    assert page.count('<span class="badge fail">FAIL</span>') == 2  # the table and its section
    assert page.count('<span class="badge pass">pass</span>') == 2
    assert "bureau alice 2026-02: expected none, got current" in page


def test_junit_names_the_planted_defect(results: list[ScenarioResult]) -> None:
    """The planted defect is a property of the suite and of the failing case, and is in the
    case's output; the passing case says none was planted."""
    suite = ET.fromstring(junit_report(results).encode("utf-8"))
    suite_properties = {p.get("name"): p.get("value") for p in suite.iter("property")
                        if p in list(suite.find("properties") or [])}
    assert suite_properties == {"defects": "bank.reports_without_reconciliation"}
    passing, failing = suite.findall("testcase")
    for case, planted in ((passing, "none"), (failing, "bank.reports_without_reconciliation")):
        properties = {p.get("name"): p.get("value") for p in case.iter("property")}
        assert properties["defects"] == planted
        assert len(properties["digest"] or "") == 64
        assert f"defects planted: {planted}" in (case.findtext("system-out") or "")


def test_junit_labels_expected_violations() -> None:
    """A scenario that declares a violation lists it as expected in its case's output."""
    text = scenario_text(scenario="expected-run", borrowers=BORROWERS, steps=STEPS,
                         world={"defects": ["bank.reports_without_reconciliation"]},
                         expect={"violations": ["no_false_overdue", "no_false_overdue_sms"]})
    result = run_scenario(load_scenario_text(text, file="scenarios/expected-run.yaml"))
    assert result.passed
    suite = ET.fromstring(junit_report([result]).encode("utf-8"))
    out = suite.findtext("testcase/system-out") or ""
    assert "expected violations: no_false_overdue ×4, no_false_overdue_sms ×4" in out


def test_evidence_is_in_local_time_and_utc_on_request(results: list[ScenarioResult]) -> None:
    """Evidence lines show instants in the scenario's local time with +08:00; with a zone of
    UTC every instant of the text is in UTC instead."""
    local = failure_text(results[1])
    assert "+08:00 credit_file.changed" in local and "+00:00" not in local
    utc = failure_text(results[1], zone=UTC)
    assert "+00:00 credit_file.changed" in utc and "+08:00" not in utc


def test_summary_table_fits_80_columns(results: list[ScenarioResult]) -> None:
    """On an 80-column console the table's lines fit, long scenario names are whole, and an
    expected violation is in parentheses (no colour needed to tell)."""
    long_name = "timeout-after-commit-around-day-end-batch"  # the library's longest, 41
    text = scenario_text(scenario=long_name, borrowers=BORROWERS, steps=STEPS,
                         world={"defects": ["bank.reports_without_reconciliation"]},
                         expect={"violations": ["no_false_overdue", "no_false_overdue_sms"]})
    expected = run_scenario(load_scenario_text(text, file=f"scenarios/{long_name}.yaml"))
    stream = io.StringIO()
    print_summary([*results, expected], Console(file=stream, width=80, color_system=None))
    table = stream.getvalue().split("\n\nFAIL")[0]
    assert all(len(line) <= 80 for line in table.splitlines()), table
    assert long_name in table
    assert "(no_false_overdue), (no_false_overdue_sms)" in " ".join(table.split())


def test_failure_text_explains(results: list[ScenarioResult]) -> None:
    """failure_text names each unexpected invariant, the masked borrower, evidence and checks."""
    failing = results[1]
    text = failure_text(failing)
    count = len(failing.violations["no_false_overdue"])
    assert count == 4  # alice and the three generated borrowers
    assert f"no_false_overdue violated {count} time(s)" in text
    assert "… and 1 more" in text  # three shown per invariant
    assert "alice (1101**********1234) installment 1" in text
    assert " credit_file.changed " in text
    assert "bureau alice 2026-02: expected none, got current" in text


def test_print_summary(results: list[ScenarioResult]) -> None:
    """The terminal summary has the table, the failure's reasons and the closing count."""
    stream = io.StringIO()
    print_summary(results, Console(file=stream, width=200, color_system=None))
    out = stream.getvalue()
    assert "passing-run" in out and "failing-run" in out
    assert "FAIL failing-run" in out
    assert out.rstrip().endswith("1 passed, 1 failed")


def _all_report_text(results: list[ScenarioResult], tmp_path: Path) -> dict[str, str]:
    stream = io.StringIO()
    print_summary(results, Console(file=stream, width=200, color_system=None))
    write_json(tmp_path / "r.json", results)
    write_report(tmp_path / "r.xml", junit_report(results))
    write_report(tmp_path / "r.html", html_report(results))
    return {
        "json": (tmp_path / "r.json").read_text(encoding="utf-8"),
        "junit": (tmp_path / "r.xml").read_text(encoding="utf-8"),
        "html": (tmp_path / "r.html").read_text(encoding="utf-8"),
        "summary": stream.getvalue(),
        "failure_text": failure_text(results[1]),
    }


def test_no_personal_data_in_any_report(results: list[ScenarioResult], tmp_path: Path) -> None:
    """No report holds an unmasked 18-digit ID number or 11-digit phone number of any borrower."""
    borrowers = results[1].scenario.borrowers
    assert len(borrowers) == 4
    for name, text in _all_report_text(results, tmp_path).items():
        assert not FULL_ID_NUMBER.findall(text), name
        assert not FULL_PHONE.findall(text), name
        for person in borrowers:
            assert person.id_number not in text, (name, person.id)
            assert person.phone not in text, (name, person.id)
            assert person.name not in text, (name, person.id)


def test_masked_subject_is_in_the_reports(results: list[ScenarioResult], tmp_path: Path) -> None:
    """The masked subject stands in for the ID number in every report that explains failures."""
    texts = _all_report_text(results, tmp_path)
    for name in ("json", "junit", "html", "summary"):
        assert "1101**********1234" in texts[name], name


def test_patterns_catch_unmasked_data() -> None:
    """The scans above do find a full ID number and phone number in text."""
    assert FULL_ID_NUMBER.findall(f"subject {ID_NUMBER}, 3201**********4174") == [ID_NUMBER]
    assert FULL_PHONE.findall(f"call {PHONE} or 138****5678") == [PHONE]
