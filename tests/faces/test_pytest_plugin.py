"""The pytest plugin: each scenario file under a ``scenarios`` folder is a test item."""

from __future__ import annotations

import re
from importlib.metadata import entry_points

import pytest

from tests.support.scenario_text import (
    MALFORMED,
    borrower,
    docking_outage,
    line_of,
    repay,
    world,
    write_scenario,
)

pytest_plugins = ["pytester"]

ID_NUMBER = "110101199003071234"
DOCKING_STEPS = [*docking_outage("2026-02-01T08:00", "3d"), repay("2026-02-01T21:00")]



#: Inner runs need only the lendsim plugin, auto-loaded from its entry point: no cache, and no
#: other installed plugin — xdist's warnings (errors under filterwarnings=error) depend on how
#: the outer run was started, and a plugin the outer run did not load would be imported, its
#: asserts rewritten, afresh in every inner run (seconds each).
ISOLATED = ("-p", "no:cacheprovider", "-p", "no:benchmark", "-p", "no:xdist",
            *(arg for entry in entry_points(group="pytest11") if entry.name != "lendsim"
              for arg in ("-p", f"no:{entry.name}")))


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """Run pytest in ``pytester``'s folder with the lendsim plugin (auto-loaded)."""
    return pytester.runpytest(*ISOLATED, *args)


def _alice() -> dict[str, object]:
    return borrower(id_number=ID_NUMBER)


@pytest.fixture
def library(pytester: pytest.Pytester) -> pytest.Pytester:
    """A project with a ``scenarios`` folder holding one passing and one failing scenario."""
    write_scenario(pytester.path / "scenarios" / "passing.yaml", scenario="passing",
                   borrowers=[_alice()], steps=DOCKING_STEPS)
    write_scenario(pytester.path / "scenarios" / "deeper" / "failing.yaml", scenario="failing",
                   borrowers=[_alice()], steps=DOCKING_STEPS,
                   world=world(defects=["bank.reports_without_reconciliation"]))
    return pytester


def test_scenarios_folder_is_collected_and_run(library: pytest.Pytester) -> None:
    """A scenarios folder with a passing and a failing scenario gives 1 passed, 1 failed."""
    result = run(library)
    result.assert_outcomes(passed=1, failed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_failure_shows_invariant_and_evidence(library: pytest.Pytester) -> None:
    """The failure output names the scenario, the invariant and the journal evidence, masked."""
    result = run(library)
    result.stdout.fnmatch_lines([
        "*scenario failing failed:*",
        "no_false_overdue violated 1 time(s)",
        "*alice (1101**********1234) installment 1: the bureau recorded installment 1*",
        "*#* credit_file.changed {*\"account\":\"L-alice\"*",
    ])
    output = result.stdout.str()
    assert "no_false_overdue_sms violated" in output
    assert ID_NUMBER not in output
    assert "Traceback" not in output


def test_items_are_named_by_file(library: pytest.Pytester) -> None:
    """Each scenario file is one item, named after the file, under its path."""
    result = run(library, "--collect-only", "-q")
    result.stdout.fnmatch_lines([
        "scenarios/deeper/failing.yaml::failing",
        "scenarios/passing.yaml::passing",
    ], consecutive=False)
    assert result.ret == pytest.ExitCode.OK


def test_yaml_outside_scenarios_folder_is_not_collected(pytester: pytest.Pytester) -> None:
    """Scenario YAML outside a folder named ``scenarios`` is not a test."""
    write_scenario(pytester.path / "elsewhere" / "passing.yaml", scenario="elsewhere")
    write_scenario(pytester.path / "scenarios_old" / "also.yaml", scenario="also")
    result = run(pytester)
    result.assert_outcomes()
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED


def test_non_scenario_yaml_in_scenarios_folder_is_not_collected(
        pytester: pytest.Pytester) -> None:
    """A YAML file under ``scenarios`` without a ``scenario:`` key (a config file) is not a test."""
    (pytester.path / "scenarios").mkdir()
    (pytester.path / "scenarios" / "settings.yaml").write_text("colour: blue\n",
                                                                 encoding="utf-8")
    write_scenario(pytester.path / "scenarios" / "real.yaml", scenario="real")
    result = run(pytester)
    result.assert_outcomes(passed=1)


def test_malformed_scenario_shows_file_line_without_traceback(
        pytester: pytest.Pytester) -> None:
    """A malformed scenario fails with its file:line error and no Python traceback."""
    path = pytester.path / "scenarios" / "malformed.yaml"
    path.parent.mkdir()
    path.write_text(MALFORMED, encoding="utf-8")
    result = run(pytester)
    result.assert_outcomes(failed=1)
    line = line_of(MALFORMED, "laon")
    result.stdout.re_match_lines([
        rf".*/scenarios/malformed\.yaml:{line}: "
        + re.escape("borrowers[0].laon: unknown key 'laon'")])
    output = result.stdout.str()
    assert "Traceback" not in output
    assert "simulator/loader.py" not in output
    assert "raise " not in output


def test_lendsim_defect_option_plants_a_defect(library: pytest.Pytester) -> None:
    """``--lendsim-defect`` plants the defect in every scenario, failing the passing one too."""
    result = run(library, "--lendsim-defect", "bank.reports_without_reconciliation")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*scenario passing failed:*", "no_false_overdue violated*"])


def test_lendsim_defect_option_is_repeatable(pytester: pytest.Pytester) -> None:
    """Two ``--lendsim-defect`` options plant both defects; one alone is not enough here."""
    write_scenario(pytester.path / "scenarios" / "two-defects.yaml", scenario="two-defects",
                   steps=DOCKING_STEPS,
                   expect={"invariants": ["no_false_overdue", "exactly_once_posting"],
                           "violations": ["no_false_overdue", "exactly_once_posting"]})
    one = run(pytester, "--lendsim-defect", "bank.reports_without_reconciliation")
    one.assert_outcomes(failed=1)
    one.stdout.fnmatch_lines(["exactly_once_posting was expected to be violated but held"])
    both = run(pytester, "--lendsim-defect", "bank.reports_without_reconciliation",
               "--lendsim-defect", "platform.no_retry")
    both.assert_outcomes(passed=1)


def test_unknown_lendsim_defect_is_reported(library: pytest.Pytester) -> None:
    """An unknown ``--lendsim-defect`` fails the items with a message naming it, no traceback."""
    result = run(library, "--lendsim-defect", "bank.nope")
    assert result.ret != pytest.ExitCode.OK
    output = result.stdout.str()
    assert "unknown defect 'bank.nope'" in output
    assert "Traceback" not in output


def test_digest_is_recorded_as_user_property(library: pytest.Pytester) -> None:
    """Each run's journal digest is attached to the item, so JUnit XML carries it."""
    junit = library.path / "junit.xml"
    run(library, f"--junitxml={junit}")
    text = junit.read_text(encoding="utf-8")
    assert text.count('<property name="digest" value="') == 2


#: A conftest that makes the bank answer a field its contract lacks, for each test call only.
LEAKY_BANK = """\
import pytest
from simulator.engine.links import Response
from simulator.parties.bank import Bank


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    original = Bank.op_post_repayment

    def leaky(self, body, headers):
        response = original(self, body, headers)
        if not response.ok:
            return response
        return Response(response.status, {**response.body, "internal_note": "x"})

    Bank.op_post_repayment = leaky
    try:
        return (yield)
    finally:
        Bank.op_post_repayment = original
"""


def test_strict_contracts_option_fails_a_scenario_that_breaks_a_contract(
        library: pytest.Pytester) -> None:
    """``--lendsim-strict-contracts`` fails a scenario whose payloads break a contract and
    names the field; without it the same scenario passes."""
    library.makeconftest(LEAKY_BANK)
    run(library).assert_outcomes(passed=1, failed=1)
    result = run(library, "--lendsim-strict-contracts")
    result.assert_outcomes(passed=0, failed=2)
    result.stdout.fnmatch_lines(["*scenario passing failed:*",
                                 "contract violated: on link platform->bank: bank.post_repayment "
                                 "response 201: $.internal_note: unexpected field*"])
    assert "Traceback" not in result.stdout.str()


def test_a_system_under_test_plays_its_role_in_every_scenario(library: pytest.Pytester
                                                               ) -> None:
    """With --lendsim-sut the bank is the user's: the incident passes, and the scenario that
    plants a defect in the bank does not apply to it (skipped, with the reason)."""
    result = run(library, "-rs", "--lendsim-sut",
                 "bank=python:simulator.sut.reference:bank_app")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*plants bank.reports_without_reconciliation in the bank*"])


def test_a_faulty_system_under_test_fails_its_scenario(library: pytest.Pytester) -> None:
    """A platform that never retries fails the incident under --lendsim-sut, naming the
    invariant; a malformed --lendsim-sut is a failure naming the option."""
    failing = run(library, "--lendsim-sut",
                  "platform=python:tests.support.systems:platform_no_retry")
    assert failing.ret == pytest.ExitCode.TESTS_FAILED
    failing.stdout.fnmatch_lines(["*exactly_once_posting*"])
    bad = run(library, "--lendsim-sut", "teller=python:x:y")
    bad.assert_outcomes(failed=2)
    bad.stdout.fnmatch_lines(["*--lendsim-sut: no role 'teller'*"])
