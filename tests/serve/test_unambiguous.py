"""A face runs a request exactly as it was checked (simulator.serve.reading): whatever two
readers could read differently is refused before anything runs, every answer encodes, and a
client that goes away is no error."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from simulator.scenarios.loader import load_scenario_text
from simulator.serve.problems import json_bytes
from simulator.serve.sandbox import Sandbox
from simulator.wire.signing import Keyring
from tests.support.asgi_client import AppClient

WORLD = """\
scenario: unambiguous
summary: Two loans to serve.
start: 2026-02-01T21:00
until: 2026-12-31
borrowers:
  - id: alice
    loan: {principal: 12000.00, annual_rate: 0.18, months: 12, disbursed: 2026-01-01}
  - id: bob
    loan: {principal: 5000.00, annual_rate: 0.12, months: 6, disbursed: 2026-01-01}
"""
KEYS = Keyring.for_testing()


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(load_scenario_text(WORLD), strict_responses=True) as made:
        yield made


def send(sandbox: Sandbox, method: str, path: str, raw: bytes = b"", *,
         headers: list[tuple[str, str]] | None = None, content_type: str = "application/json",
         sign: bool = True) -> httpx.Response:
    """A request signed over exactly these bytes; ``headers`` are added as given (repeats
    included)."""
    sent: list[tuple[str, str]] = []
    if sign:
        sent += list(KEYS.sign("partner", method, path, raw, sandbox.now()).items())
    if raw:
        sent.append(("Content-Type", content_type))
    sent += headers or []
    return AppClient(sandbox.app).request(method, path, content=raw, headers=sent)


def captured(sandbox: Sandbox) -> list[tuple[str, int]]:
    rows: list[tuple[str, int]] = sandbox.call(lambda: sandbox.world.platform.db.execute(
        "SELECT loan_id, amount FROM payments ORDER BY payment_id").fetchall())
    return rows


def postings(sandbox: Sandbox) -> int:
    count: int = sandbox.call(lambda: sandbox.world.bank.db.execute(
        "SELECT count(*) FROM postings").fetchone()[0])
    return count


def is_problem(reply: httpx.Response, status: int) -> dict[str, Any]:
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = reply.json()
    assert body["status"] == status
    return body


# -- 1. half a surrogate pair ----------------------------------------------------------------
def test_a_lone_surrogate_escape_is_a_400_on_the_sandbox_and_on_a_party(
        sandbox: Sandbox) -> None:
    """``{"by":"\\ud800"}`` to the sandbox and a signed repayment naming ``L-bob\\ud800`` are
    refused as malformed JSON (not a 500 while echoing the value), and nothing happens."""
    clock = sandbox.clock_body()["now"]
    reply = send(sandbox, "POST", "/clock/advance", b'{"by":"\\ud800"}', sign=False)
    assert "ud800" in is_problem(reply, 400)["detail"]
    raw = b'{"loan_id":"L-bob\\ud800","amount":100}'
    is_problem(send(sandbox, "POST", "/platform/repayments", raw), 400)
    is_problem(send(sandbox, "POST", "/platform/repayments", b'{"\\udfff":1}'), 400)
    assert captured(sandbox) == [] and sandbox.clock_body()["now"] == clock


def test_a_paired_surrogate_escape_is_text() -> None:
    """A surrogate pair written as two escapes is one character: the body reads."""
    from simulator.serve.reading import parse_json

    assert parse_json(b'{"a":"\\ud83d\\ude00"}', "op") == {"a": "\U0001F600"}


def test_an_answer_always_encodes() -> None:
    """A body holding a lone surrogate or an infinite number still encodes (U+FFFD, null)."""
    assert json.loads(json_bytes({"detail": "no loan L-\ud800", "rate": float("inf")})) == {
        "detail": "no loan L-\ufffd", "rate": None}


# -- 2. the request executed is the request checked --------------------------------------------
def test_an_undeclared_query_parameter_is_refused(sandbox: Sandbox) -> None:
    """``?loan_id=L-alice`` on a repayment for L-bob is a 400 naming the parameter; nothing is
    captured (it used to credit L-alice)."""
    raw = json.dumps({"loan_id": "L-bob", "amount": 100}).encode()
    body = is_problem(send(sandbox, "POST", "/platform/repayments?loan_id=L-alice", raw), 400)
    assert '"loan_id"' in body["detail"] and "not in the contract" in body["detail"]
    assert captured(sandbox) == []
    is_problem(send(sandbox, "GET", "/bank/loans/L-alice?x=1"), 400)
    is_problem(AppClient(sandbox.app).request("GET", "/clock?now=1"), 400)
    ok = send(sandbox, "POST", "/platform/repayments", raw)
    assert ok.status_code == 201 and captured(sandbox) == [("L-bob", 100)]


def test_a_body_on_an_operation_that_takes_none_is_refused(sandbox: Sandbox) -> None:
    """A GET with a body is a 400: the body would be ignored, so it is not run."""
    is_problem(send(sandbox, "GET", "/bank/loans/L-alice", b'{"loan_id":"L-bob"}'), 400)


# -- 8. repeated headers, keys and charsets ----------------------------------------------------
def test_a_repeated_signature_header_is_a_401(sandbox: Sandbox) -> None:
    """A bad then a good ``X-Lendsim-Signature`` (or any signature header twice) is refused
    as ambiguous, whichever comes first."""
    path = "/bank/loans/L-alice"
    good = KEYS.sign("partner", "GET", path, b"", sandbox.now())
    for order in ("bad-first", "good-first"):
        headers = [(k, v) for k, v in good.items() if k != "X-Lendsim-Signature"]
        pair = [("X-Lendsim-Signature", "0" * 64), ("X-Lendsim-Signature",
                                                   good["X-Lendsim-Signature"])]
        headers += pair if order == "bad-first" else pair[::-1]
        reply = AppClient(sandbox.app).request("GET", path, headers=headers)
        assert "sent more than once" in is_problem(reply, 401)["detail"]


def test_a_repeated_idempotency_key_is_a_400(sandbox: Sandbox) -> None:
    """Two ``Idempotency-Key`` headers are refused; nothing is posted."""
    raw = json.dumps({"payment_id": "PAY-9", "loan_id": "L-alice", "amount": 100,
                      "currency": "CNY", "value_time": sandbox.now().isoformat()}).encode()
    reply = send(sandbox, "POST", "/bank/repayments", raw,
                 headers=[("Idempotency-Key", "K1"), ("Idempotency-Key", "K2")])
    assert "Idempotency-Key" in is_problem(reply, 400)["detail"]
    assert postings(sandbox) == 0


def test_a_repeated_json_key_is_a_400(sandbox: Sandbox) -> None:
    """``{"amount":-1,"amount":3}`` is refused, not read as 3."""
    raw = b'{"loan_id":"L-alice","amount":-1,"amount":3}'
    body = is_problem(send(sandbox, "POST", "/platform/repayments", raw), 400)
    assert 'key "amount" appears twice' in body["detail"]
    assert captured(sandbox) == []


@pytest.mark.parametrize("content_type", ["application/json; charset=latin-1",
                                          "application/json; charset=utf-16",
                                          "application/json; version=2", "text/json"])
def test_only_utf8_json_is_accepted(sandbox: Sandbox, content_type: str) -> None:
    """A charset other than UTF-8 (or any other parameter) is a 415, not ignored."""
    raw = json.dumps({"loan_id": "L-alice", "amount": 100}).encode()
    is_problem(send(sandbox, "POST", "/platform/repayments", raw, content_type=content_type),
               415)
    assert captured(sandbox) == []


@pytest.mark.parametrize("content_type", ["application/json", "application/json;charset=UTF-8",
                                          'application/json; charset="utf-8"',
                                          "application/merge-patch+json"])
def test_utf8_json_media_types_are_accepted(sandbox: Sandbox, content_type: str) -> None:
    """``application/json`` (or ``+json``), with or without ``charset=utf-8``, is read."""
    raw = json.dumps({"loan_id": "L-alice", "amount": 100}).encode()
    reply = send(sandbox, "POST", "/platform/repayments", raw, content_type=content_type)
    assert reply.status_code == 201, reply.text


def test_a_number_too_large_for_a_float_is_a_422(sandbox: Sandbox) -> None:
    """``1e999`` reads as infinity, which no contract accepts: a 422 naming the field."""
    body = is_problem(send(sandbox, "POST", "/faults", b'{"kind":"error","link":"recon",'
                                                       b'"for":"1h","rate":1e999}', sign=False),
                      422)
    assert "$.rate" in body["detail"]
    assert sandbox.call(sandbox.faults) == []


# -- 7. personal data in errors --------------------------------------------------------------
@pytest.mark.parametrize("name", ["Jane Example", "张伟"])
def test_a_name_sent_as_a_key_or_an_enum_value_is_not_echoed(sandbox: Sandbox,
                                                             name: str) -> None:
    """A name where a field name or an enum value goes is described, never shown."""
    loan = {"loan_id": "L-carol", "borrower": "carol", "subject_id": "S-1", "name": "C",
            "phone": "1", "principal": 100, "annual_rate": "0.1", "months": 1,
            "method": name, "disbursed": "2026-01-01", name: 1}
    reply = send(sandbox, "POST", "/bank/loans", json.dumps(loan).encode())
    assert name not in is_problem(reply, 422)["detail"]
    assert json.dumps(name)[1:-1] not in reply.text


def test_an_unknown_path_is_masked_in_the_404(sandbox: Sandbox) -> None:
    """A 404 for a path holding an ID number or a name names the path masked."""
    reply = AppClient(sandbox.app).request("GET", "/bank/110101199003071234/Jane%20Example")
    detail = is_problem(reply, 404)["detail"]
    assert "110101199003071234" not in detail and "Jane" not in detail
    assert "1101**********1234" in detail


# -- 9. a client that goes away ------------------------------------------------------------------
def test_a_client_disconnect_is_not_an_error(sandbox: Sandbox,
                                             caplog: pytest.LogCaptureFixture) -> None:
    """A client that disconnects before its body arrives is noted, not logged as an ERROR
    with a traceback, and nothing runs."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def record(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": "/platform/repayments",
             "raw_path": b"/platform/repayments", "root_path": "", "query_string": b"",
             "headers": [(b"content-type", b"application/json"), (b"content-length", b"40")],
             "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8765)}
    with caplog.at_level(logging.INFO):
        asyncio.run(sandbox.app(scope, receive, record))
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("disconnected" in r.getMessage() for r in caplog.records)
    assert captured(sandbox) == []
