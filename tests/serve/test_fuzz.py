"""Hypothesis sends arbitrary text — lone surrogates, control characters, huge numbers, repeated
keys — to every operation of every face and the sandbox: never a 5xx, every error a problem
document, and a request the face refuses changes nothing."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.scenarios.loader import load_scenario_text
from simulator.serve.sandbox import Sandbox
from simulator.wire.contracts import load_contracts
from simulator.wire.signing import Keyring
from tests.support.asgi_client import AppClient

WORLD = """\
scenario: fuzzed
summary: Two loans under fire.
start: 2026-02-01T21:00
until: 2026-12-31
borrowers:
  - id: alice
    loan: {principal: 12000.00, annual_rate: 0.18, months: 12, disbursed: 2026-01-01}
  - id: bob
    loan: {principal: 5000.00, annual_rate: 0.12, months: 6, disbursed: 2026-01-01}
"""
KEYS = Keyring.for_testing()
CONTRACTS = load_contracts()
OPERATIONS = [(face, operation) for face in ("bank", "platform", "bureau", "sms", "sandbox")
              for operation in sorted(CONTRACTS.operations(face))]
#: how many cases each operation got in this run (printed with -s)
CASES: Counter[str] = Counter()

_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=12) | st.sampled_from(
    ["\ud800", "L-bob\udfff", "\x00", "\x1b[2J", "Jane Example", "110101199003071234",
     "2026-02-01T13:00:00+00:00", "3d", "L-alice", "CNY", "\u202e"])
_NUMBER = st.integers(min_value=-(10 ** 40), max_value=10 ** 40) | st.sampled_from(
    ["1e999", "-1e999", "1" * 5000, "0.1e-400", "9" * 30 + ".0"])
_SCALAR = st.none() | st.booleans() | _TEXT | _NUMBER
_VALUE = st.recursive(_SCALAR, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    _TEXT, inner, max_size=3), max_leaves=8)


def _json_text(value: Any) -> str:
    """JSON with numbers written as given (``1e999`` stays a literal) and strings escaped
    the way a hostile client writes them (lone surrogates as ``\\udXXX`` escapes)."""
    if (isinstance(value, str) and value[:1].isdigit()) or (isinstance(value, str) and
                                                         value.startswith("-1e")):
        return value
    if isinstance(value, dict):
        return "{" + ",".join(f"{_json_text(str(k))}:{_json_text(v)}"
                              for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_json_text(item) for item in value) + "]"
    return json.dumps(value)


def _field_names(face: str, operation: str) -> list[str]:
    schema = CONTRACTS.request_schema(face, operation)
    return sorted(schema.get("properties", {})) or ["x"]


@st.composite
def _request(draw: st.DrawFn, face: str,
             operation: str) -> tuple[str, str, str, bytes, dict[str, bytes], str]:
    method, path, params = CONTRACTS.operations(face)[operation]
    for name in params:
        segment = draw(_TEXT | st.sampled_from(["L-alice", "F000001", "2026-02-01"]))
        path = path.replace("{" + name + "}",
                            quote(segment.encode("utf-8", "surrogatepass"), safe="") or "x")
    prefix = "" if face == "sandbox" else f"/{face}"
    fields = draw(st.dictionaries(st.sampled_from(_field_names(face, operation)), _VALUE,
                                  max_size=5))
    body = draw(st.sampled_from(["fields", "value", "bytes", "none"]))
    raw = {"fields": _json_text(fields).encode("utf-8", "surrogatepass"),
           "value": _json_text(draw(_VALUE)).encode("utf-8", "surrogatepass"),
           "bytes": draw(st.binary(max_size=40)), "none": b""}[body]
    headers: dict[str, bytes] = {}
    if draw(st.booleans()):
        headers["Idempotency-Key"] = draw(st.text(st.characters(min_codepoint=32,
                                                                max_codepoint=255),
                                                  max_size=20)).encode("latin-1")
    content_type = draw(st.sampled_from(["application/json", "application/json; charset=utf-8",
                                         "application/json; charset=latin-1", "text/plain"]))
    query = draw(st.sampled_from(["", "?loan_id=L-alice", "?x=%ED%A0%80"]))
    return face, operation, method, raw, headers, f"{prefix}{path}{query}" + "\0" + content_type


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(load_scenario_text(WORLD), strict_responses=True) as made:
        yield made


def _state(sandbox: Sandbox) -> tuple[Any, ...]:
    """Everything a request could change: each party's committed changes, the clock, faults."""
    def read() -> tuple[Any, ...]:
        world = sandbox.world
        return (tuple(party.db.total_changes for party in world.parties.values()),
                world.clock.now, len(sandbox.faults()))
    found: tuple[Any, ...] = sandbox.call(read)
    return found


#: cases per operation: a quarter of the profile's examples (dev 12, ci 75)
PER_OPERATION = max(settings().max_examples // 4, 5)


@pytest.mark.parametrize(("face", "operation"), OPERATIONS,
                         ids=[f"{face}.{operation}" for face, operation in OPERATIONS])
def test_arbitrary_input_never_gets_a_5xx_and_a_refusal_changes_nothing(
        sandbox: Sandbox, face: str, operation: str) -> None:
    """Arbitrary text to each operation: never a 5xx, every error a problem document whose
    status is the HTTP status, and a 400/401/413/415/422 leaves the world as it was."""

    @settings(max_examples=PER_OPERATION, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(request=_request(face, operation), signed=st.booleans())
    def fuzz(request: tuple[str, str, str, bytes, dict[str, bytes], str],
             signed: bool) -> None:
        one_case(sandbox, request, signed)

    fuzz()


def one_case(sandbox: Sandbox, request: tuple[str, str, str, bytes, dict[str, bytes], str],
             signed: bool) -> None:
    face, operation, method, raw, headers, target = request
    path, _, content_type = target.partition("\0")
    CASES[f"{face}.{operation}"] += 1
    sent: dict[str, Any] = dict(headers)
    if raw:
        sent["Content-Type"] = content_type
    if signed and face != "sandbox":
        sent.update(KEYS.sign("partner", method, path, raw, sandbox.now()))
    before = _state(sandbox)
    reply = AppClient(sandbox.app).request(method, path, content=raw, headers=sent)
    assert reply.status_code < 500, (face, operation, reply.text)
    if reply.status_code >= 400:
        assert reply.headers["content-type"] == "application/problem+json"
        assert reply.json()["status"] == reply.status_code
    if reply.status_code in (400, 401, 413, 415, 422) and not (
            face == "bureau" and operation == "credit_report"):  # a refused query is audited
        assert _state(sandbox) == before, (face, operation, reply.status_code)


def test_the_fuzzed_cases_are_counted() -> None:
    """Each operation fuzzed in this process got its share of cases (printed with ``-s``)."""
    print("fuzz cases per operation:", dict(sorted(CASES.items())))
    assert all(count >= 1 for count in CASES.values())
