"""Every hop conforms: the scenario library runs with every payload checked against its
contract and finds no violation, and a payload that breaks its contract fails the run with
a message naming the link, the operation and the field."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from simulator.core.locator import data_path
from simulator.engine.links import Body, Reply, Response
from simulator.faces.cli import app
from simulator.parties.bank import Bank
from simulator.scenarios.loader import discover, load_scenario
from simulator.wire.contracts import Contracts
from simulator.world.runner import run_scenario
from simulator.world.world import World

LIBRARY_ROOT = data_path("scenarios")
#: Scenarios with more borrowers than this only add volume: the rest of the library
#: exercises every (party, operation, status) they do. Strict runs of the whole library take
#: about 7 s of CPU, of the rest under 2 s; CI (.ci/run) runs the whole library strictly.
CROWD = 50
#: every operation a reference party or a borrower calls in a run, by party
CALLED = {
    "bank": {"book_loans", "post_repayment", "submit_reconciliation", "verify_dispute",
             "list_postings", "pay_at_counter"},
    "platform": {"open_loan", "repay", "list_payments", "installment_overdue",
                 "installment_cleared", "list_pending"},
    "bureau": {"submit_reports", "open_dispute"},
    "sms": {"send_batch"},
}
#: a small scenario with an outage, retries, a reconciliation file and bureau reports
SMALL = LIBRARY_ROOT / "incident" / "docking-failure-us.yaml"


@pytest.fixture
def bank_answers_an_extra_field(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bank's posting answer carries a field its contract lacks."""
    original = Bank.op_post_repayment

    def leaky(self: Bank, body: Body, headers: Mapping[str, str]) -> Response:
        response = original(self, body, headers)
        if not response.ok:
            return response
        return Response(response.status, {**response.body, "internal_note": "posted by batch"})

    monkeypatch.setattr(Bank, "op_post_repayment", leaky)


def test_library_conforms_at_every_hop(monkeypatch: pytest.MonkeyPatch) -> None:
    """The library (up to CROWD borrowers a scenario), run with every request and response
    checked, breaks no contract, and its checks reach every operation parties call."""
    checked: set[tuple[str, str]] = set()
    original = Contracts.validate_request

    def counting(self: Contracts, party: str, operation: str, *args: Any) -> None:
        checked.add((party, operation))
        original(self, party, operation, *args)

    monkeypatch.setattr(Contracts, "validate_request", counting)
    failures = {}
    scenarios = [load_scenario(file) for file in discover([LIBRARY_ROOT])]
    representative = [scenario for scenario in scenarios if len(scenario.borrowers) <= CROWD]
    for scenario in representative:
        result = run_scenario(scenario, strict_contracts=True)
        if result.error or not result.passed:
            failures[scenario.id] = result.reasons()
    assert failures == {}
    assert len(representative) >= len(scenarios) - 4
    assert checked == {(party, operation) for party, names in CALLED.items()
                       for operation in names}


def test_strict_run_only_checks() -> None:
    """Checking contracts changes nothing in the run: the journal digest is the same."""
    scenario = load_scenario(SMALL)
    assert run_scenario(scenario, strict_contracts=True).digest == run_scenario(scenario).digest


def test_default_world_checks_nothing() -> None:
    """Without strict contracts no link holds a check and no contract is consulted."""
    world = World(load_scenario(SMALL))
    try:
        assert world.contracts is None
        assert {name: link.validate for name, link in world.links.items()} == dict.fromkeys(
            world.links)
    finally:
        for party in world.parties.values():
            party.close()


@pytest.mark.usefixtures("bank_answers_an_extra_field")
def test_extra_response_field_fails_the_run() -> None:
    """A party answering a field its contract lacks fails the scenario, naming the link,
    the operation, the status and the field; no invariant is judged."""
    result = run_scenario(load_scenario(SMALL), strict_contracts=True)
    assert not result.passed
    assert result.error is not None
    assert result.error.startswith("on link platform->bank: bank.post_repayment response 201: "
                                   "$.internal_note: unexpected field")
    assert result.violations == {}
    assert result.reasons()[0] == f"contract violated: {result.error}"
    assert result.as_dict()["error"] == result.error


@pytest.mark.usefixtures("bank_answers_an_extra_field")
def test_default_run_does_not_look_at_payloads() -> None:
    """Without strict contracts the same extra field goes unnoticed (checks cost nothing)."""
    result = run_scenario(load_scenario(SMALL))
    assert result.error is None
    assert result.passed


def test_wrong_request_payload_fails_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """A caller that sends a value time without an offset fails the run at the request."""
    world = World(load_scenario(SMALL), strict_contracts=True)
    link = world.links["platform->bank"]
    original = link.call

    def naive(operation: str, body: Body, headers: Mapping[str, str] | None = None, *,
              ref: str | None = None) -> Reply:
        return original(operation, {**body, "value_time": body["value_time"][:19]}, headers,
                        ref=ref)

    monkeypatch.setattr(link, "call", naive)
    outcome = world.run()
    assert outcome.error is not None
    assert outcome.error.startswith("on link platform->bank: bank.post_repayment request: "
                                    "$.value_time: expected an RFC 3339 instant with an offset")
    assert outcome.violations == {}
    assert world.journal.count("contract.violated") == 1


@pytest.mark.usefixtures("bank_answers_an_extra_field")
def test_cli_reports_a_violation_as_a_failed_scenario(tmp_path: Path) -> None:
    """``lendsim run --strict-contracts`` shows a violation as a failed scenario (exit 1,
    no traceback) and writes it into the JSON report."""
    report = tmp_path / "report.json"
    result = CliRunner().invoke(app, ["run", "--strict-contracts", "--json", str(report),
                                      str(SMALL)])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    output = " ".join(result.stdout.split())
    assert "FAIL docking-failure-us" in output
    assert "contract violated: on link platform->bank: bank.post_repayment response 201: " \
           "$.internal_note: unexpected field" in output
    scenarios: list[dict[str, Any]] = json.loads(report.read_text())["scenarios"]
    assert [(s["passed"], s["error"][:40]) for s in scenarios] == [
        (False, "on link platform->bank: bank.post_repaym")]


def test_cli_strict_run_passes_a_conforming_scenario() -> None:
    """``lendsim run --strict-contracts`` exits 0 when every payload conforms."""
    result = CliRunner().invoke(app, ["run", "--strict-contracts", "-q", str(SMALL)])
    assert result.exit_code == 0, result.output
    assert "1 passed, 0 failed" in result.stdout
