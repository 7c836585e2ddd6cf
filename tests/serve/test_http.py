"""HTTP faces (simulator.serve.http): every contract operation served by the party's own handle,
requests checked against the contract, errors as problem documents, never a 5xx for bad input."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.engine.links import Response
from simulator.parties.bank import Bank
from simulator.scenarios.loader import load_scenario_text
from simulator.serve.home import Home
from simulator.serve.http import MAX_BODY, party_app
from simulator.serve.sandbox import Sandbox
from simulator.wire.contracts import load_contracts
from simulator.wire.signing import Keyring
from simulator.world.world import World
from tests.support.asgi_client import AppClient

WORLD = """\
scenario: http-faces
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
#: a value for each path parameter the contracts use
PATH_VALUES = {"loan_id": "L-alice", "posting_id": "PST00000001", "business_date": "2026-02-01",
               "borrower": "alice", "dispute_id": "DSP000001", "fault_id": "F000001"}
PARTY_OPERATIONS = [(party, operation) for party in ("bank", "platform", "bureau", "sms")
                    for operation in sorted(load_contracts().operations(party))]


class Signed:
    """Sends requests to a sandbox's parties signed at its virtual now."""

    def __init__(self, sandbox: Sandbox, key_id: str = "partner") -> None:
        self.sandbox = sandbox
        self.client = AppClient(sandbox.app)
        self.key_id = key_id

    def __call__(self, method: str, path: str, body: Any = None, *, raw: bytes | None = None,
                 headers: dict[str, Any] | None = None,
                 content_type: str = "application/json") -> httpx.Response:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None
                                            else b"")
        now = self.sandbox.call(lambda: self.sandbox.world.clock.now)
        sent = {**KEYS.sign(self.key_id, method, path, data, now), **(headers or {})}
        if data:
            sent.setdefault("Content-Type", content_type)
        return self.client.request(method, path, content=data, headers=sent)


def example(party: str, operation: str) -> dict[str, Any] | None:
    """The first request-body example of an operation in its contract."""
    contracts = load_contracts()
    method, path, _ = contracts.operations(party)[operation]
    spec = contracts.document(party)["paths"][path][method.lower()]
    for media in spec.get("requestBody", {}).get("content", {}).values():
        for item in media.get("examples", {}).values():
            return dict(item["value"])
    return None


def url(party: str, operation: str, values: dict[str, str] | None = None) -> tuple[str, str]:
    method, path, params = load_contracts().operations(party)[operation]
    for name in params:
        path = path.replace("{" + name + "}", (values or PATH_VALUES)[name])
    return method, f"/{party}{path}"


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(load_scenario_text(WORLD), strict_responses=True) as made:
        yield made


@pytest.fixture(scope="module")
def shared() -> Iterator[Sandbox]:
    with Sandbox(load_scenario_text(WORLD), strict_responses=True) as made:
        yield made


def postings(sandbox: Sandbox) -> int:
    count: int = sandbox.call(lambda: sandbox.world.bank.db.execute(
        "SELECT count(*) FROM postings").fetchone()[0])
    return count


# -- every operation -----------------------------------------------------------------------------
@pytest.mark.parametrize(("party", "operation"), PARTY_OPERATIONS,
                         ids=[f"{p}.{o}" for p, o in PARTY_OPERATIONS])
def test_every_operation_is_reachable(shared: Sandbox, party: str, operation: str) -> None:
    """Each contract operation is served at its method and path by the party's own handler,
    and answers a status its contract lists (strict faces turn anything else into a 500)."""
    method, path = url(party, operation)
    headers = {"Idempotency-Key": "PAY00000001"} if operation == "post_repayment" else None
    reply = Signed(shared)(method, path, example(party, operation), headers=headers)
    assert reply.status_code < 500, reply.text
    assert "no operation at" not in reply.text and reply.status_code != 405
    listed = load_contracts().response_media_type(party, operation, reply.status_code)
    assert reply.headers.get("content-type", "").split(";")[0] == (listed or
                                                                    reply.headers.get(
                                                                        "content-type", ""))


def test_the_face_serves_the_same_operation_as_the_link(sandbox: Sandbox) -> None:
    """A loan read over HTTP is exactly what the bank's own handle answers (no second
    implementation); the path parameter became a field of the body."""
    reply = Signed(sandbox)("GET", "/bank/loans/L-alice")
    direct = sandbox.call(lambda: sandbox.world.bank.handle("get_loan", {"loan_id": "L-alice"},
                                                            {}))
    assert reply.status_code == direct.status == 200
    assert reply.json() == direct.body


def test_party_app_serves_one_party_from_its_world_thread() -> None:
    """``party_app`` on its own: a bank built on a home thread, served from the same thread."""
    home = Home()
    try:
        world: World = home.call(lambda: World(load_scenario_text(WORLD)))
        home.call(world.start)
        app = party_app(world.bank, load_contracts(), KEYS, world.clock, home=home,
                        strict_responses=True)
        headers = KEYS.sign("partner", "GET", "/loans/L-bob", b"", world.clock.now)
        reply = AppClient(app).request("GET", "/loans/L-bob", headers=headers)
        assert reply.status_code == 200 and reply.json()["loan_id"] == "L-bob"
        unsigned = AppClient(app).request("GET", "/loans/L-bob")
        assert unsigned.status_code == 401
        home.call(lambda: [party.close() for party in world.parties.values()])
    finally:
        home.close()


def test_each_face_serves_its_contract(sandbox: Sandbox) -> None:
    """``/<party>/openapi.json`` is the party's contract, with the mount as its server."""
    client = AppClient(sandbox.app)
    for party in ("bank", "platform", "bureau", "sms"):
        document = client.request("GET", f"/{party}/openapi.json").json()
        assert document["servers"] == [{"url": f"/{party}"}]
        assert {op["operationId"] for item in document["paths"].values()
                for op in item.values()} == set(load_contracts().operations(party))
    assert client.request("GET", "/openapi.json").json()["info"]["title"].startswith(
        "lendsim sandbox")


# -- refusals ------------------------------------------------------------------------------------
def test_422_names_the_field(sandbox: Sandbox) -> None:
    """A body that breaks the contract gets a 422 problem document naming the field; nothing is
    posted."""
    body = {**(example("bank", "post_repayment") or {}), "amount": "lots"}
    reply = Signed(sandbox)("POST", "/bank/repayments", body,
                            headers={"Idempotency-Key": "PAY00000001"})
    assert reply.status_code == 422
    assert reply.headers["content-type"] == "application/problem+json"
    problem = reply.json()
    assert problem["status"] == 422 and "$.amount" in problem["detail"]
    assert "expected an integer" in problem["detail"]
    assert postings(sandbox) == 0


def test_a_missing_required_field_is_named(sandbox: Sandbox) -> None:
    """A missing required field is named in the 422."""
    body = example("bank", "book_loan") or {}
    del body["principal"]
    reply = Signed(sandbox)("POST", "/bank/loans", body)
    assert reply.status_code == 422 and "$.principal" in reply.json()["detail"]


def test_unparseable_json_is_400(sandbox: Sandbox) -> None:
    """Malformed JSON is a 400 "Malformed JSON" on every operation that takes a body (each
    contract lists it)."""
    signed = Signed(sandbox)
    reply = signed("POST", "/bank/repayments", raw=b'{"amount": 1',
                   headers={"Idempotency-Key": "K"})
    assert reply.status_code == 400 and reply.json()["title"] == "Malformed JSON"
    assert "line 1 column 13" in reply.json()["detail"]
    reply = signed("POST", "/bank/loans", raw=b"\x00not json")
    assert reply.status_code == 400 and reply.json()["title"] == "Malformed JSON"
    reply = signed("POST", "/bank/loans", raw=b"[NaN]")
    assert reply.status_code == 400 and reply.json()["title"] == "Malformed JSON"


def test_a_missing_idempotency_key_is_400(sandbox: Sandbox) -> None:
    """The bank contract's required ``Idempotency-Key`` header: missing → 400 naming it."""
    reply = Signed(sandbox)("POST", "/bank/repayments", example("bank", "post_repayment"))
    assert reply.status_code == 400 and "Idempotency-Key" in reply.json()["detail"]
    assert postings(sandbox) == 0


def test_the_wrong_content_type_is_415(sandbox: Sandbox) -> None:
    """A body that is not JSON by its content type is a 415, and nothing is booked."""
    body = json.dumps({**(example("bank", "book_loan") or {}), "loan_id": "L-carol"}).encode()
    reply = Signed(sandbox)("POST", "/bank/loans", raw=body, content_type="text/plain")
    assert reply.status_code == 415
    assert reply.json()["title"] == "Unsupported media type"
    assert reply.headers["content-type"] == "application/problem+json"
    assert Signed(sandbox)("GET", "/bank/loans/L-carol").status_code == 404


def test_a_body_over_1_mib_is_413(sandbox: Sandbox) -> None:
    """A body over 1 MiB is a 413, whether the operation takes a body or not, and whatever its
    Content-Length says: it is not read further."""
    big = b" " * (MAX_BODY + 1)
    for method, path in (("POST", "/bank/loans"), ("GET", "/bank/loans/L-alice"),
                         ("POST", "/clock/advance")):
        reply = Signed(sandbox)(method, path, raw=big)
        assert reply.status_code == 413, (method, path)
        assert reply.json()["title"] == "Payload too large"


def test_an_unsigned_request_is_401(sandbox: Sandbox) -> None:
    """An unsigned request to a party is a 401 problem naming the missing headers, with the
    scheme in WWW-Authenticate; the sandbox's control needs no signature."""
    client = AppClient(sandbox.app)
    reply = client.request("GET", "/bank/loans/L-alice")
    assert reply.status_code == 401
    assert reply.headers["www-authenticate"] == "Lendsim-HMAC-SHA256"
    assert reply.headers["content-type"] == "application/problem+json"
    assert "missing X-Lendsim-Key-Id" in reply.json()["detail"]
    assert client.request("GET", "/clock").status_code == 200


def own_refusals(party: str, operation: str) -> list[tuple[int, dict[str, Any]]]:
    """(status, how to send) for each refusal a face makes by itself for an operation."""
    contracts = load_contracts()
    method, _path, _ = contracts.operations(party)[operation]
    takes_body = contracts.document(party)["paths"][_path][method.lower()].get("requestBody")
    found: list[tuple[int, dict[str, Any]]] = [(413, {"raw": b" " * (MAX_BODY + 1)})]
    if party != "sandbox":
        found.append((401, {"unsigned": True}))
    if takes_body:
        found += [(400, {"raw": b"{"}), (415, {"raw": b"{}", "content_type": "text/plain"})]
    return found


FACE_OPERATIONS = [*PARTY_OPERATIONS, *(("sandbox", operation) for operation in
                                        sorted(load_contracts().operations("sandbox")))]


@pytest.mark.parametrize(("party", "operation"), FACE_OPERATIONS,
                         ids=[f"{p}.{o}" for p, o in FACE_OPERATIONS])
def test_a_face_answers_only_statuses_its_contract_lists(shared: Sandbox, party: str,
                                                         operation: str) -> None:
    """Every refusal a face makes by itself (413, 401, 400, 415) is a status the operation's
    contract lists, with a body its Problem schema accepts."""
    contracts = load_contracts()
    method, path = url(party, operation)
    if party == "sandbox":
        path = path.removeprefix("/sandbox")
    headers = {"Idempotency-Key": "PAY00000001"} if operation == "post_repayment" else None
    for status, how in own_refusals(party, operation):
        if how.get("unsigned"):
            reply = AppClient(shared.app).request(method, path)
        else:
            reply = Signed(shared)(method, path, raw=how["raw"], headers=headers,
                                   content_type=how.get("content_type", "application/json"))
        assert reply.status_code == status, (status, reply.text)
        assert reply.headers["content-type"] == "application/problem+json"
        contracts.validate_response(party, operation, status, reply.json())


def test_unknown_paths_and_methods_are_problems(sandbox: Sandbox) -> None:
    """An unknown path is a 404 problem; a method the path does not serve a 405 with Allow."""
    client = AppClient(sandbox.app)
    missing = client.request("GET", "/bank/nowhere")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    wrong = client.request("PUT", "/bank/loans")
    assert wrong.status_code == 405 and wrong.headers["allow"] == "POST"
    assert client.request("HEAD", "/bank/loans/L-alice").status_code == 405


def test_error_bodies_mask_personal_data(sandbox: Sandbox) -> None:
    """An ID number or phone number echoed into an error is masked."""
    signed = Signed(sandbox)
    for value in ("110101199003071234", "13812345678"):
        reply = signed("GET", f"/bank/loans/{value}")
        assert reply.status_code == 404
        assert value not in reply.text and value[-4:] in reply.text


def test_an_integral_number_is_an_integer(sandbox: Sandbox) -> None:
    """``1000.0`` is the integer JSON Schema says it is: the repayment is posted."""
    body = {**(example("bank", "post_repayment") or {}), "amount": 1000}
    raw = json.dumps(body).replace('"amount": 1000', '"amount": 1000.0').encode()
    reply = Signed(sandbox)("POST", "/bank/repayments", raw=raw,
                            headers={"Idempotency-Key": body["payment_id"]})
    assert reply.status_code == 201 and reply.json()["amount"] == 1000


def test_an_integer_no_party_can_store_is_a_422(sandbox: Sandbox) -> None:
    """An integer beyond what a party stores is refused by the contract's maximum with a 422
    naming the field, never a 500 from the party's database."""
    body = {"furnisher": "bank", "records": [{
        "subject_id": "S-1", "account": "L-alice", "installment": 1, "period": "2026-02",
        "status": "overdue", "days_past_due": 10 ** 30}]}
    reply = Signed(sandbox)("POST", "/bureau/reports", body)
    assert reply.status_code == 422
    assert "$.records[0].days_past_due: expected a number at most" in reply.json()["detail"]


def test_a_newline_in_a_path_parameter_is_a_422(sandbox: Sandbox) -> None:
    """A percent-encoded newline in a path parameter still reaches the face, which names the
    parameter (not a 404 from routing)."""
    reply = Signed(sandbox)("GET", "/platform/borrowers/a%0Ab/loans")
    assert reply.status_code == 422 and "$.borrower" in reply.json()["detail"]


def test_a_response_outside_the_contract_is_a_500_only_when_strict(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """A strict face (tests) turns a response the contract lacks a field for into a 500 naming
    it; a lenient one sends it and logs a warning."""
    original = Bank.op_get_loan

    def leaky(self: Bank, body: dict[str, Any], headers: Any) -> Response:
        answer = original(self, body, headers)
        return Response(answer.status, {**answer.body, "internal_score": 7})

    monkeypatch.setattr(Bank, "op_get_loan", leaky)
    for strict in (True, False):
        with Sandbox(load_scenario_text(WORLD), strict_responses=strict) as made, \
                caplog.at_level(logging.WARNING, logger="lendsim.http"):
            reply = Signed(made)("GET", "/bank/loans/L-alice")
        if strict:
            assert reply.status_code == 500
            assert "internal_score" in reply.json()["detail"]
        else:
            assert reply.status_code == 200 and reply.json()["internal_score"] == 7
            assert "internal_score" in caplog.text


# -- no 5xx for malformed input -----------------------------------------------------------------
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                               max_size=4),
    max_leaves=12)
_FIELDS = st.dictionaries(
    st.sampled_from(["payment_id", "loan_id", "amount", "currency", "value_time", "principal",
                     "annual_rate", "months", "method", "disbursed", "entries", "count",
                     "total", "business_date", "subject_id", "records", "messages", "x"]),
    _JSON, max_size=8)
_TARGETS = [url(party, operation) for party, operation in PARTY_OPERATIONS]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(target=st.sampled_from(_TARGETS),
       body=st.one_of(_FIELDS.map(lambda d: json.dumps(d).encode()),
                      _JSON.map(lambda d: json.dumps(d).encode()),
                      st.binary(max_size=64)),
       key=st.one_of(st.none(), st.text(max_size=300)),
       content_type=st.sampled_from(["application/json", "text/plain",
                                     "application/problem+json; charset=utf-8", ""]))
def test_malformed_input_never_gets_a_5xx(shared: Sandbox, target: tuple[str, str],
                                          body: bytes, key: str | None,
                                          content_type: str) -> None:
    """Arbitrary bytes, JSON values and headers to every operation: never a 5xx, and every
    error is a problem document."""
    method, path = target
    headers: dict[str, Any] = {"Idempotency-Key": key.encode("utf-8")} if key else {}
    reply = Signed(shared)(method, path, raw=body, headers=headers, content_type=content_type)
    assert reply.status_code < 500, reply.text
    if reply.status_code >= 400:
        assert reply.headers["content-type"] == "application/problem+json"
        assert reply.json()["status"] == reply.status_code
