"""The contract suite (simulator.faces.contract_suite, ``lendsim contracts test``): every contract
passes in process and against a live server, and a broken implementation is caught with a
readable report."""

from __future__ import annotations

import socket
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from typer.testing import CliRunner

import simulator.serve.http as http_module
from simulator.core.errors import LendsimError
from simulator.engine.links import Response
from simulator.faces.cli import app as cli
from simulator.faces.contract_suite import run_contract_suite, suite_scenario
from simulator.parties.bank import Bank
from simulator.serve.sandbox import Sandbox
from simulator.wire.contracts import SERVED
from simulator.wire.signing import Keyring

#: small but enough to meet every check: examples, coverage, fuzzing and stateful phases
EXAMPLES = 3


def secrets() -> list[str]:
    """The test keyring's keys, which no report may show."""
    ring = Keyring.for_testing()
    return [ring._keys[key_id]._value.decode() for key_id in ring.key_ids]


@pytest.mark.parametrize("party", SERVED)
def test_every_contract_passes_in_process(party: str) -> None:
    """Each contract's suite passes against lendsim's own faces with zero failures."""
    report = run_contract_suite([party], seed=0, max_examples=EXAMPLES)
    assert report.failures == [], report.text()
    (result,) = report.parties
    assert result.requests > 50
    assert {"not_a_server_error", "response_schema_conformance", "status_code_conformance",
            "lendsim_no_personal_data", "lendsim_positive_data"} <= result.checks
    if party == "bank":
        assert {"lendsim_idempotent_replay", "lendsim_value_time"} <= result.checks
    if party != "sandbox":  # the signature is a security scheme: unsigned probes must get 401
        assert {"ignored_auth", "missing_required_header"} <= result.checks


def test_a_face_that_takes_unsigned_requests_is_caught() -> None:
    """A sandbox that does not check signatures fails ignored_auth: the contracts require the
    signature headers, and schemathesis's unsigned and forged probes were answered 200."""
    with Sandbox(suite_scenario(), sign=False, horizon=timedelta(days=90)) as sandbox:
        report = run_contract_suite(["sms"], seed=0, max_examples=1, sandbox=sandbox)
    titles = {(f.check, f.title) for f in report.failures}
    assert ("ignored_auth", "API accepts requests without authentication") in titles, \
        report.text()
    assert all(f.operation == "POST /messages (send_batch)" for f in report.failures)


@pytest.fixture
def live_server() -> Iterator[str]:
    """``lendsim serve``'s app under uvicorn on a free loopback port, in a thread."""
    sandbox = Sandbox(horizon=timedelta(days=2 * 366))
    # IPPROTO_TCP, so asyncio sets TCP_NODELAY on accepted connections (else Nagle and
    # delayed ACKs cost 40 ms a request)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(sandbox.app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        listener.close()
        sandbox.close()


def test_the_suite_passes_against_a_live_server(live_server: str) -> None:
    """Against a live server (real HTTP, signed requests), bank and sandbox conform."""
    report = run_contract_suite(["bank", "sandbox"], url=live_server, seed=1, max_examples=2)
    assert report.failures == [], report.text()
    assert report.target == live_server
    assert all(p.requests > 50 for p in report.parties)


def test_a_bank_that_posts_a_replay_twice_is_caught(tmp_path: Path) -> None:
    """``lendsim contracts test`` on a world with bank.ignores_idempotency_key exits 1 with a
    report naming the operation, the check, what differed and a request to reproduce."""
    junit = tmp_path / "contracts.xml"
    result = CliRunner().invoke(cli, ["contracts", "test", "--party", "bank", "--defect",
                                      "bank.ignores_idempotency_key", "--max-examples", "2",
                                      "--junit", str(junit)])
    assert result.exit_code == 1, result.output
    out = result.output
    assert "FAIL bank POST /repayments (post_repayment): lendsim_idempotent_replay — Replay " \
           "not idempotent" in out
    assert "answered a different 201 (posting_id" in out
    assert "changed loan L-" in out
    assert "curl -X POST -H 'Idempotency-Key: PAY" in out and "/bank/repayments" in out
    assert "lendsim_key_reuse_refused" in out
    assert "X-Lendsim-Signature" not in out
    assert not any(secret in out for secret in secrets())
    root = ET.parse(junit).getroot()
    failures = root.findall(".//testcase[@name='POST /repayments (post_repayment)']/failure")
    assert failures and "Replay not idempotent" in failures[0].get("message", "")


def test_a_response_field_the_contract_lacks_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bank that answers get_loan with an extra field fails response conformance, and the
    report names the field and the request."""
    original = Bank.op_get_loan

    def leaky(self: Bank, body: dict[str, Any], headers: Any) -> Response:
        answer = original(self, body, headers)
        return Response(answer.status, {**answer.body, "internal_score": 7}) \
            if answer.status == 200 else answer

    monkeypatch.setattr(Bank, "op_get_loan", leaky)
    report = run_contract_suite(["bank"], seed=0, max_examples=2)
    assert not report.passed
    found = [f for f in report.failures if f.check == "response_schema_conformance"]
    assert found and all(f.operation == "GET /loans/{loan_id} (get_loan)" for f in found)
    text = report.text()
    assert "'internal_score' was unexpected" in text
    assert "curl -X GET" in text and "/bank/loans/" in text


def test_an_error_that_echoes_an_id_number_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """With masking switched off, the personal-data probe finds an ID number echoed into a 404."""
    monkeypatch.setattr(http_module, "redacted", lambda value: value)
    report = run_contract_suite(["bureau"], seed=0, max_examples=1)
    found = [f for f in report.failures if f.check == "lendsim_no_personal_data"]
    assert found, report.text()
    assert "shows an ID number" in found[0].message
    assert "110101199003071234" not in report.text()  # the report masks it in turn


def test_a_run_is_repeatable_with_its_seed() -> None:
    """The same seed sends the same number of requests and finds the same things."""
    first = run_contract_suite(["sms"], seed=7, max_examples=2)
    second = run_contract_suite(["sms"], seed=7, max_examples=2)
    assert [p.requests for p in first.parties] == [p.requests for p in second.parties]
    assert first.failures == second.failures == []


def test_the_command_passes_and_writes_junit(tmp_path: Path) -> None:
    """``lendsim contracts test --party sms`` exits 0 and writes a JUnit case per operation."""
    junit = tmp_path / "contracts.xml"
    result = CliRunner().invoke(cli, ["contracts", "test", "--party", "sms", "--max-examples",
                                      "2", "--seed", "3", "--junit", str(junit)])
    assert result.exit_code == 0, result.output
    assert "ok   sms" in result.output and "all 1 contract(s) conform" in result.output
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("name") == "contracts.sms"
    assert [case.get("name") for case in suite] == ["POST /messages (send_batch)"]


@pytest.mark.parametrize("args", [
    ["--party", "ledger"],
    ["--max-examples", "0"],
    ["--seed", "-1"],
    ["--url", "ftp://example.org"],
    ["--url", "http://127.0.0.1:9", "--party", "sms"],
    ["--url", "http://127.0.0.1:9", "--defect", "bank.ignores_idempotency_key"],
    ["--defect", "bank.nope"],
    ["--key-id", "nobody", "--party", "sms"],
])
def test_bad_input_exits_2(args: list[str]) -> None:
    """Bad input to ``lendsim contracts test`` exits 2 with one line, no traceback."""
    result = CliRunner().invoke(cli, ["contracts", "test", *args])
    assert result.exit_code == 2, result.output
    assert "error:" in result.output and "Traceback" not in result.output


def test_the_suite_world_matches_the_contract_examples() -> None:
    """The in-process world holds the loans the contracts' examples name (L-alice)."""
    assert {b.id for b in suite_scenario().borrowers} >= {"alice"}
    with pytest.raises(LendsimError):
        run_contract_suite(["bank"], keyring=Keyring({"other": "x" * 20}))
