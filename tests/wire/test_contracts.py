"""The contracts in ``contracts/``: valid OpenAPI 3.1, one operation per party operation,
examples that conform, and a validator whose errors name the offending field."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from openapi_spec_validator import OpenAPIV31SpecValidator
from openapi_spec_validator.readers import read_from_filename

from simulator.core.errors import ContractError
from simulator.core.locator import data_path
from simulator.core.topology import PARTIES
from simulator.scenarios.loader import load_scenario_text
from simulator.wire.contracts import DOCUMENTS, Contracts, load_contracts
from simulator.wire.openapi import Route
from simulator.wire.signing import SIGNED_HEADERS
from simulator.world.world import World
from tests.support.worlds import LOAN, scenario_text

CONTRACT_FILES = sorted(data_path("contracts").glob("*.yaml"))
REFERENCE_PARTIES = PARTIES
SANDBOX_OPERATIONS = {"get_clock", "advance_clock", "list_faults", "add_fault", "remove_fault",
                      "reset"}
METHODS = ("get", "put", "post", "delete", "patch")


@pytest.fixture(scope="module")
def contracts() -> Contracts:
    """The contracts, loaded once (as every strict world shares them)."""
    return load_contracts()


@pytest.fixture
def world() -> Iterator[World]:
    """A started one-borrower world (alice, CN) whose party databases close at teardown."""
    built = World(load_scenario_text(scenario_text(), file="contracts-test.yaml"),
                  strict_contracts=True)
    built.start()
    yield built
    for party in built.parties.values():
        party.close()


def operations(document: Mapping[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(path, method, operation object) of every operation in a document."""
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def resolve(document: Mapping[str, Any], node: Any) -> Any:
    """``node`` with a top-level ``$ref`` followed (components responses and parameters)."""
    while isinstance(node, dict) and "$ref" in node:
        target: Any = document
        for part in node["$ref"][2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def named_examples(holder: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """(name, value) of a media type's or parameter's ``examples``/``example``."""
    found = [(name, example["value"]) for name, example in holder.get("examples", {}).items()]
    if "example" in holder:
        found.append(("example", holder["example"]))
    return found


# -- the documents ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", CONTRACT_FILES, ids=lambda path: path.name)
def test_contract_is_valid_openapi_3_1(path: Path) -> None:
    """Each contracts/*.yaml, as a standard reader reads it, is a valid OpenAPI 3.1 document."""
    document, base_uri = read_from_filename(str(path))
    assert str(document["openapi"]).startswith("3.1")
    validator = OpenAPIV31SpecValidator(document, base_uri=base_uri)
    assert [error.message for error in validator.iter_errors()] == []


def test_there_is_a_contract_per_party() -> None:
    """The contracts folder holds exactly the documents the code loads."""
    assert sorted(path.stem for path in CONTRACT_FILES) == sorted(DOCUMENTS)


@pytest.mark.parametrize("party", REFERENCE_PARTIES)
def test_operation_ids_are_the_party_operations(contracts: Contracts, world: World,
                                                party: str) -> None:
    """Every operationId is an operation of the party, and every operation has one."""
    assert set(contracts.operations(party)) == set(world.parties[party].routes())


def test_sandbox_contract_has_the_control_operations(contracts: Contracts) -> None:
    """The sandbox contract offers clock, faults and reset, as lendsim serves them."""
    assert set(contracts.operations("sandbox")) == SANDBOX_OPERATIONS


@pytest.mark.parametrize(
    ("party", "operation", "route"),
    [
        pytest.param("bank", "get_loan", Route("GET", "/loans/{loan_id}", ("loan_id",)),
                     id="bank-get_loan"),
        pytest.param("bank", "post_repayment", Route("POST", "/repayments", ()),
                     id="bank-post_repayment"),
        pytest.param("platform", "list_loans",
                     Route("GET", "/borrowers/{borrower}/loans", ("borrower",)),
                     id="platform-list_loans"),
        pytest.param("bureau", "get_dispute",
                     Route("GET", "/disputes/{dispute_id}", ("dispute_id",)),
                     id="bureau-get_dispute"),
        pytest.param("sms", "send_batch", Route("POST", "/messages", ()), id="sms-send_batch"),
        pytest.param("sandbox", "remove_fault",
                     Route("DELETE", "/faults/{fault_id}", ("fault_id",)),
                     id="sandbox-remove_fault"),
    ],
)
def test_operations_give_the_http_route(contracts: Contracts, party: str, operation: str,
                                        route: Route) -> None:
    """``operations(party)`` maps an operationId to its method, path and path parameters."""
    assert contracts.operations(party)[operation] == route


def test_path_parameters_are_body_fields(contracts: Contracts) -> None:
    """A path parameter is a required field of the operation's body."""
    schema = contracts.request_schema("bank", "get_loan")
    assert schema["required"] == ["loan_id"]
    assert set(schema["properties"]) == {"loan_id"}
    contracts.validate_request("bank", "get_loan", {"loan_id": LOAN})
    with pytest.raises(ContractError, match=r"\$\.loan_id: missing"):
        contracts.validate_request("bank", "get_loan", {})


@pytest.mark.parametrize("party", DOCUMENTS)
def test_errors_are_problem_documents(contracts: Contracts, party: str) -> None:
    """Every error status answers application/problem+json with the Problem schema, every
    success plain JSON or no body."""
    for operation in contracts.operations(party):
        document = contracts.document(party)
        responses = next(op["responses"] for _, _, op in operations(document)
                         if op["operationId"] == operation)
        for status in responses:
            media_type = contracts.response_media_type(party, operation, int(status))
            if int(status) >= 400:
                assert media_type == "application/problem+json", (operation, status)
                schema = contracts.response_schema(party, operation, int(status))
                assert schema is not None
                assert schema["required"] == ["type", "title", "status"], (operation, status)
            else:
                assert media_type in ("application/json", None), (operation, status)


def own_statuses(party: str, operation: Mapping[str, Any], document: Mapping[str, Any]
                 ) -> set[int]:
    """The statuses an HTTP face answers by itself for an operation: 413 (a body over
    1 MiB) and 400 (an undeclared query parameter, a repeated header, a body where none is
    taken) always; 401 (signature) for a party; 415 (not JSON) with a request body."""
    statuses = {400, 413} | ({401} if party != "sandbox" else set())
    if "requestBody" in operation:
        statuses.add(415)
    return statuses


@pytest.mark.parametrize("party", DOCUMENTS)
def test_transport_errors_are_listed(contracts: Contracts, party: str) -> None:
    """Each operation lists, as problem documents, the statuses its HTTP face answers by itself
    for bad transport-level input (simulator.serve.http answers exactly these)."""
    document = contracts.document(party)
    missing = []
    for _, _, operation in operations(document):
        name = operation["operationId"]
        for status in sorted(own_statuses(party, operation, document)):
            if str(status) not in operation["responses"]:
                missing.append(f"{name} {status}")
                continue
            assert contracts.response_media_type(party, name, status) == \
                "application/problem+json"
            contracts.validate_response(party, name, status, {
                "type": "about:blank", "title": "Refused", "status": status})
    assert missing == []
    if party == "sandbox":  # control requests are not signed
        assert all("401" not in op["responses"] for _, _, op in operations(document))


@pytest.mark.parametrize("party", REFERENCE_PARTIES)
def test_every_party_operation_requires_the_signature(contracts: Contracts, party: str) -> None:
    """The four signature headers are apiKey security schemes in the header, required together
    (one security requirement) by every operation of a party contract."""
    document = contracts.document(party)
    schemes = document["components"]["securitySchemes"]
    assert {scheme["name"] for scheme in schemes.values()} == set(SIGNED_HEADERS)
    assert all(scheme["type"] == "apiKey" and scheme["in"] == "header"
               for scheme in schemes.values())
    requirement = {name: [] for name in schemes}
    assert document["security"] == [requirement]
    for _, _, operation in operations(document):
        assert operation.get("security", document["security"]) == [requirement], \
            operation["operationId"]
    assert "security" not in contracts.document("sandbox")


def integer_schemas(node: Any, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, schema) of every schema in ``node`` that admits an integer."""
    if isinstance(node, dict):
        kind = node.get("type")
        if kind == "integer" or (isinstance(kind, list) and "integer" in kind):
            yield where, node
        for key, value in node.items():
            yield from integer_schemas(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from integer_schemas(value, f"{where}/{index}")


@pytest.mark.parametrize("party", DOCUMENTS)
def test_every_integer_is_bounded_within_64_bits(contracts: Contracts, party: str) -> None:
    """Every integer a contract admits has a minimum and a maximum a party can store (SQLite
    keeps 64-bit integers), so no conforming request can fail for want of storage."""
    int64 = range(-(1 << 63), 1 << 63)
    found = list(integer_schemas(contracts.document(party), party))
    assert found
    unbounded = [where for where, schema in found
                 if not (schema.get("minimum") in int64 and schema.get("maximum") in int64
                         and schema["minimum"] <= schema["maximum"])]
    assert unbounded == []


def test_the_integer_bounds(contracts: Contracts) -> None:
    """Money keeps its ceiling of 10^14 minor units; days past due may span every date a
    contract can name, and no more."""
    for party in ("bank", "platform"):
        schemas = contracts.document(party)["components"]["schemas"]
        assert schemas["PositiveMoney"]["maximum"] == 10 ** 14
    bank = contracts.document("bank")["components"]["schemas"]
    assert bank["Money"]["maximum"] == 10 ** 14
    assert bank["DaysPastDue"]["maximum"] == date.max.toordinal() - date.min.toordinal()
    contracts.validate_request("bureau", "submit_reports", {"furnisher": "bank", "records": [{
        "subject_id": "S-1", "account": LOAN, "installment": 1, "period": "2026-02",
        "status": "overdue", "days_past_due": 3652058}]})
    with pytest.raises(ContractError, match=r"days_past_due: expected a number at most 3652058"):
        contracts.validate_request("bureau", "submit_reports", {"furnisher": "bank", "records": [{
            "subject_id": "S-1", "account": LOAN, "installment": 1, "period": "2026-02",
            "status": "overdue", "days_past_due": 10 ** 19}]})


@pytest.mark.parametrize(("operation", "titles"), [
    pytest.param("add_fault", {"Invalid request", "Fault already over", "Beyond the horizon"},
                 id="add_fault"),
    pytest.param("advance_clock", {"Invalid request", "Beyond the horizon"}, id="advance_clock"),
])
def test_sandbox_documents_its_business_422s(contracts: Contracts, operation: str,
                                              titles: set[str]) -> None:
    """The sandbox's 422 is a schema violation ("Invalid request") or a business reason with a
    title of its own, each described and shown by an example."""
    document = contracts.document("sandbox")
    spec = next(op for _, _, op in operations(document) if op["operationId"] == operation)
    answer = resolve(document, spec["responses"]["422"])
    examples = answer["content"]["application/problem+json"]["examples"].values()
    assert {example["value"]["title"] for example in examples} == titles
    for title in titles - {"Invalid request"}:
        assert f"`{title}`" in answer["description"]


@pytest.mark.parametrize("party", DOCUMENTS)
def test_every_object_schema_is_closed(contracts: Contracts, party: str) -> None:
    """Every object in a request or response schema has ``additionalProperties: false``."""
    def open_objects(schema: Any, where: str) -> Iterator[str]:
        if isinstance(schema, dict):
            if "properties" in schema and schema.get("additionalProperties") is not False:
                yield where
            for key, value in schema.items():
                if key not in ("if", "not"):  # conditions, not objects
                    yield from open_objects(value, f"{where}/{key}")
        elif isinstance(schema, list):
            for index, value in enumerate(schema):
                yield from open_objects(value, f"{where}/{index}")

    found = []
    document = contracts.document(party)
    for _, _, operation in operations(document):
        name = operation["operationId"]
        found.extend(open_objects(contracts.request_schema(party, name), f"{name} request"))
        for status in operation["responses"]:
            found.extend(open_objects(contracts.response_schema(party, name, int(status)),
                                      f"{name} {status}"))
    assert found == []


# -- examples -------------------------------------------------------------------------------


@pytest.mark.parametrize("party", DOCUMENTS)
def test_every_request_and_response_has_an_example(contracts: Contracts, party: str) -> None:
    """Each request body and each response with a body carries at least one example."""
    document = contracts.document(party)
    missing = []
    for path, method, operation in operations(document):
        if "requestBody" in operation:
            for media_type, item in resolve(document, operation["requestBody"])["content"].items():
                if not named_examples(item):
                    missing.append(f"{method.upper()} {path} request {media_type}")
        for status, response in operation["responses"].items():
            for media_type, item in resolve(document, response).get("content", {}).items():
                if not named_examples(item):
                    missing.append(f"{method.upper()} {path} {status} {media_type}")
    assert missing == []


@pytest.mark.parametrize("party", DOCUMENTS)
def test_examples_conform_to_their_schemas(contracts: Contracts, party: str) -> None:
    """Every request, response and parameter example validates against its schema."""
    document = contracts.document(party)
    checked = 0
    for _, _, operation in operations(document):
        name = operation["operationId"]
        parameters = [resolve(document, p) for p in operation.get("parameters", [])]
        headers = {p["name"]: str(named_examples(p)[0][1]) for p in parameters
                   if p["in"] == "header"}
        fields = {p["name"]: named_examples(p)[0][1] for p in parameters if p["in"] == "path"}
        if fields and "requestBody" not in operation:
            contracts.validate_request(party, name, fields, headers)
            checked += 1
        if "requestBody" in operation:
            for item in resolve(document, operation["requestBody"])["content"].values():
                for _, value in named_examples(item):
                    contracts.validate_request(party, name, {**value, **fields}, headers)
                    checked += 1
        for status, response in operation["responses"].items():
            for item in resolve(document, response).get("content", {}).values():
                for _, value in named_examples(item):
                    contracts.validate_response(party, name, int(status), value)
                    checked += 1
    assert checked >= len(contracts.operations(party))


def test_schema_examples_conform(contracts: Contracts) -> None:
    """A schema's own ``examples`` list validates against that schema (formats checked)."""
    def examples(schema: Any) -> Iterator[tuple[dict[str, Any], Any]]:
        if isinstance(schema, dict):
            if isinstance(schema.get("examples"), list):
                for example in schema["examples"]:
                    yield schema, example
            for value in schema.values():
                yield from examples(value)
        elif isinstance(schema, list):
            for value in schema:
                yield from examples(value)

    checked = set()
    for party in DOCUMENTS:
        document = contracts.document(party)
        for _, _, operation in operations(document):
            name = operation["operationId"]
            schemas = [contracts.request_schema(party, name), *(
                contracts.response_schema(party, name, int(status))
                for status in operation["responses"])]
            for schema, example in examples(schemas):
                Draft202012Validator(schema, format_checker=FormatChecker()).validate(example)
                checked.add((party, repr(example)))
    assert {party for party, _ in checked} >= {"bureau", "sandbox"}


@pytest.mark.parametrize("party", DOCUMENTS)
def test_links_chain_real_operations(contracts: Contracts, party: str) -> None:
    """Each OpenAPI link targets an operation of the same contract, fills exactly that
    operation's path parameters, from fields the response really has."""
    document = contracts.document(party)
    routes = contracts.operations(party)
    seen = 0
    for _, _, operation in operations(document):
        for status, response in operation["responses"].items():
            for name, link in response.get("links", {}).items():
                seen += 1
                target = routes[link["operationId"]]
                parameters = link.get("parameters", {})
                assert set(parameters) == set(target.path_params), name
                schema = contracts.response_schema(party, operation["operationId"],
                                                   int(status))
                assert schema is not None
                for expression in parameters.values():
                    assert expression.startswith("$response.body#/"), name
                    assert expression.removeprefix("$response.body#/") in schema["required"]
    assert seen > 0 or party in ("sms", "control", "payments")


@pytest.mark.parametrize(
    ("party", "operation", "target"),
    [
        pytest.param("bank", "post_repayment", "get_posting", id="repayment-posting"),
        pytest.param("bank", "book_loan", "get_loan", id="booking-loan"),
        pytest.param("bank", "submit_reconciliation", "get_reconciliation",
                     id="reconciliation"),
        pytest.param("bureau", "open_dispute", "get_dispute", id="dispute"),
    ],
)
def test_the_required_links_exist(contracts: Contracts, party: str, operation: str,
                                  target: str) -> None:
    """The response that creates a resource links to the operation that reads it."""
    document = contracts.document(party)
    responses = next(op["responses"] for _, _, op in operations(document)
                     if op["operationId"] == operation)
    targets = {link["operationId"] for response in responses.values()
               for link in response.get("links", {}).values()}
    assert target in targets


# -- validation ------------------------------------------------------------------------------

POSTING = {"posting_id": "PST00000001", "payment_id": "PAY00000001", "loan_id": LOAN,
           "amount": 110016, "applied": 110016, "refunded": 0,
           "value_time": "2026-02-01T13:00:00+00:00", "status": "posted"}
REPAYMENT = {"payment_id": "PAY00000001", "loan_id": LOAN, "amount": 110016, "currency": "CNY",
             "value_time": "2026-02-01T13:00:00+00:00"}
RECONCILIATION = {"business_date": "2026-02-01", "count": 1, "total": 110016, "entries": [
    {"payment_id": "PAY00000001", "loan_id": LOAN, "amount": 110016,
     "value_time": "2026-02-01T13:00:00+00:00"}]}
MESSAGE = {"borrower": "alice", "phone": "212-555-0100", "loan_id": LOAN, "installment": 1,
           "reason": "overdue_warning", "text": "Installment 1 is overdue."}


def without(body: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != key}


@pytest.mark.parametrize(
    ("party", "operation", "body", "path", "expected"),
    [
        pytest.param("bank", "post_repayment", without(REPAYMENT, "amount"), "$.amount",
                     "missing", id="missing-field"),
        pytest.param("bank", "post_repayment", {**REPAYMENT, "amount": "110016"}, "$.amount",
                     "expected an integer, got text", id="wrong-type"),
        pytest.param("bank", "post_repayment", {**REPAYMENT, "note": "x"}, "$.note",
                     "unexpected field", id="extra-field"),
        pytest.param("bank", "post_repayment", {**REPAYMENT, "amount": 0}, "$.amount",
                     "expected a number at least 1, got 0", id="below-minimum"),
        pytest.param("bank", "post_repayment",
                     {**REPAYMENT, "value_time": "2026-02-01T13:00:00"}, "$.value_time",
                     "with an offset", id="instant-without-offset"),
        pytest.param("bank", "submit_reconciliation",
                     {**RECONCILIATION, "entries": [{**RECONCILIATION["entries"][0], "x": 1}]},
                     "$.entries[0].x", "unexpected field", id="nested-extra-field"),
        pytest.param("sms", "send_batch",
                     {"sender": "bank", "messages": [without(MESSAGE, "text")]},
                     "$.messages[0].text", "missing", id="nested-missing-field"),
        pytest.param("sms", "send_batch", {"sender": "bank", "messages": []}, "$.messages",
                     "expected at least 1 items", id="empty-list"),
        pytest.param("bureau", "open_dispute",
                     {"subject_id": "000-00-0000", "account": LOAN, "period": "2026-13"},
                     "$.period", "a month like 2026-02", id="pattern"),
        pytest.param("sandbox", "advance_clock", {"to": "2026-03-01T00:00:00+08:00",
                                                  "by": "3d"},
                     "$", "exactly one of the fields to, by", id="one-of"),
    ],
)
def test_validate_request_names_the_field(contracts: Contracts, party: str, operation: str,
                                          body: dict[str, Any], path: str,
                                          expected: str) -> None:
    """A request that breaks its contract is rejected naming party, operation, path and
    what was expected."""
    with pytest.raises(ContractError) as caught:
        contracts.validate_request(party, operation, body, {"Idempotency-Key": "PAY00000001"})
    error = caught.value
    assert (error.party, error.operation, error.where, error.path) == (
        party, operation, "request", path)
    assert str(error).startswith(f"{party}.{operation} request: {path}: ")
    assert expected in str(error)


@pytest.mark.parametrize(
    ("party", "operation", "status", "body", "path", "expected"),
    [
        pytest.param("bank", "get_posting", 200, without(POSTING, "posting_id"), "$.posting_id",
                     "missing", id="missing-field"),
        pytest.param("bank", "get_posting", 200, {**POSTING, "applied": 1.5}, "$.applied",
                     "expected an integer, got a number", id="wrong-type"),
        pytest.param("bank", "get_posting", 200, {**POSTING, "internal": True}, "$.internal",
                     "unexpected field", id="extra-field"),
        pytest.param("bank", "get_posting", 200, {**POSTING, "status": "pending"}, "$.status",
                     'expected "posted", got "pending"', id="const"),
        pytest.param("bank", "get_posting", 404, {"title": "Unknown posting", "status": 404},
                     "$.type", "missing", id="problem-without-type"),
        pytest.param("platform", "list_payments", 200,
                     {"loan_id": LOAN, "payments": [{"payment_id": "PAY00000001",
                                                     "amount": 1, "status": "lost",
                                                     "value_time": "2026-02-01T13:00:00Z"}]},
                     "$.payments[0].status", "expected one of", id="nested-enum"),
    ],
)
def test_validate_response_names_the_field(contracts: Contracts, party: str, operation: str,
                                           status: int, body: dict[str, Any], path: str,
                                           expected: str) -> None:
    """A response that breaks its contract is rejected naming party, operation, status, path
    and what was expected."""
    with pytest.raises(ContractError) as caught:
        contracts.validate_response(party, operation, status, body)
    error = caught.value
    assert (error.party, error.operation, error.where, error.path) == (
        party, operation, f"response {status}", path)
    assert str(error).startswith(f"{party}.{operation} response {status}: {path}: ")
    assert expected in str(error)


def test_conforming_payloads_pass(contracts: Contracts) -> None:
    """The reference payloads of the tables above conform as they are."""
    contracts.validate_request("bank", "post_repayment", REPAYMENT,
                               {"Idempotency-Key": "PAY00000001"})
    contracts.validate_request("bank", "submit_reconciliation", RECONCILIATION)
    contracts.validate_request("sms", "send_batch", {"sender": "bank", "messages": [MESSAGE]})
    contracts.validate_response("bank", "get_posting", 200, POSTING)


def test_required_header_is_checked_without_regard_to_case(contracts: Contracts) -> None:
    """The Idempotency-Key header is required; its name matches in any case."""
    contracts.validate_request("bank", "post_repayment", REPAYMENT,
                               {"idempotency-key": "PAY00000001"})
    with pytest.raises(ContractError) as caught:
        contracts.validate_request("bank", "post_repayment", REPAYMENT, {})
    assert caught.value.where == "request header Idempotency-Key"
    assert "missing" in str(caught.value)
    with pytest.raises(ContractError, match=r"request header Idempotency-Key: .*at least 1"):
        contracts.validate_request("bank", "post_repayment", REPAYMENT, {"Idempotency-Key": ""})


def test_unlisted_status_is_rejected(contracts: Contracts) -> None:
    """A status the contract does not list is a violation that names the listed ones."""
    with pytest.raises(ContractError,
                       match=r"response 500: .*lists 200, 400, 401, 404, 413, 422, 503"):
        contracts.validate_response("bank", "get_loan", 500, {"type": "about:blank",
                                                              "title": "Oops", "status": 500})


def test_no_content_response_must_have_no_body(contracts: Contracts) -> None:
    """A 204 answer has no schema and must carry no body."""
    assert contracts.response_schema("platform", "installment_overdue", 204) is None
    contracts.validate_response("platform", "installment_overdue", 204, {})
    with pytest.raises(ContractError, match="response 204: expected no body"):
        contracts.validate_response("platform", "installment_overdue", 204, {"ok": True})


@pytest.mark.parametrize(
    ("party", "operation"),
    [pytest.param("treasury", "get_loan", id="unknown-party"),
     pytest.param("bank", "launder", id="unknown-operation")],
)
def test_unknown_party_or_operation_is_an_error(contracts: Contracts, party: str,
                                                operation: str) -> None:
    """Asking for an operation no contract has is a ContractError naming it."""
    with pytest.raises(ContractError, match=party if party == "treasury" else operation):
        contracts.request_schema(party, operation)


def test_personal_data_never_appears_in_messages(contracts: Contracts) -> None:
    """A personal field's value is withheld; any other value is quoted redacted when it is a
    plain token, and otherwise described without being shown (it may be a name)."""
    booking = {"loan_id": LOAN, "borrower": "alice", "subject_id": "110101199003071234",
               "name": "Jane Example", "phone": "call 13812345678", "principal": 1200000,
               "annual_rate": "0.18", "months": 12, "method": "equal_installment",
               "disbursed": "2026-01-01"}
    with pytest.raises(ContractError) as caught:
        contracts.validate_request("bank", "book_loan", booking)
    message = str(caught.value)
    assert caught.value.path == "$.phone"
    assert "withheld as personal data" in message
    assert "5678" not in message
    with pytest.raises(ContractError) as caught:
        contracts.validate_request("bank", "book_loan", {**booking, "phone": "13812345678",
                                                         "loan_id": "13812345678 x"})
    message = str(caught.value)
    assert caught.value.path == "$.loan_id"
    assert "not shown" in message and "13812345678" not in message
    with pytest.raises(ContractError) as caught:
        contracts.validate_request("bank", "book_loan", {**booking, "phone": "13812345678",
                                                         "loan_id": "13812345678!"})
    assert '"138****5678!"' not in str(caught.value)
    with pytest.raises(ContractError) as caught:
        contracts.validate_request("bank", "book_loan", {**booking, "phone": "13812345678",
                                                         "method": "13812345678"})
    message = str(caught.value)
    assert '"138****5678"' in message and "13812345678" not in message
    for hidden in ("Jane Example", "张伟"):
        with pytest.raises(ContractError) as caught:
            contracts.validate_request("bank", "book_loan", {**booking, "phone": "13812345678",
                                                             "method": hidden, hidden: 1})
        assert hidden not in str(caught.value)


def test_several_problems_are_counted(contracts: Contracts) -> None:
    """A message names up to three problems and counts the rest."""
    with pytest.raises(ContractError) as caught:
        contracts.validate_request("bank", "post_repayment", {"a": 1, "b": 2, "c": 3, "d": 4},
                                   {"Idempotency-Key": "k"})
    assert str(caught.value).count("; ") == 2
    assert "more)" in str(caught.value)


def test_guard_names_the_link_and_checks_a_payload_once(
        contracts: Contracts, monkeypatch: pytest.MonkeyPatch) -> None:
    """A guard's errors name its link; a payload that passed is not checked again."""
    guard = contracts.guard("bank", link="platform->bank")
    checked: list[str] = []
    original = Contracts.validate_request

    def counting(self: Contracts, *args: Any) -> None:
        checked.append(args[1])
        original(self, *args)

    monkeypatch.setattr(Contracts, "validate_request", counting)
    headers = {"Idempotency-Key": "PAY00000001"}
    guard.request("post_repayment", dict(REPAYMENT), headers)
    guard.request("post_repayment", dict(REPAYMENT), headers)
    assert checked == ["post_repayment"]
    with pytest.raises(ContractError, match=r"^on link platform->bank: bank.post_repayment"):
        guard.request("post_repayment", {**REPAYMENT, "amount": -1}, headers)


# -- the reference parties answer what their contracts say ---------------------------------------


def test_reference_parties_answer_what_their_contracts_say(contracts: Contracts,
                                                           world: World) -> None:
    """Successes and errors of every reference operation conform to its contract."""
    bank, platform, bureau, sms = (world.parties[name] for name in REFERENCE_PARTIES)
    answered: set[tuple[str, str, int]] = set()

    def ask(party: Any, operation: str, body: dict[str, Any],
            headers: dict[str, str] | None = None) -> dict[str, Any]:
        response = party.handle(operation, body, headers or {})
        contracts.validate_response(party.name, operation, response.status, response.body)
        answered.add((party.name, operation, response.status))
        return dict(response.body)

    booking = {"loan_id": "L-bob", "borrower": "bob", "subject_id": "000-00-0000",
               "name": "Bob Example", "phone": "212-555-0101", "principal": 300000,
               "annual_rate": "0.12", "months": 3, "method": "equal_principal",
               "disbursed": "2026-01-01"}
    contracts.validate_request("bank", "book_loan", booking)
    ask(bank, "book_loan", booking)
    ask(bank, "book_loan", booking)  # 409
    ask(bank, "book_loan", without(booking, "months"))  # 422
    carol = {**booking, "loan_id": "L-carol", "borrower": "carol"}
    ask(bank, "book_loans", {"loans": [carol]})
    ask(bank, "book_loans", {"loans": [carol]})  # 409: nothing booked
    ask(bank, "book_loans", {"loans": []})  # 422
    ask(bank, "get_loan", {"loan_id": LOAN})
    ask(bank, "get_loan", {"loan_id": "L-nobody"})  # 404
    repayment = {**REPAYMENT, "value_time": world.clock.now.isoformat()}  # not in the future
    key = {"Idempotency-Key": "PAY00000001"}
    posting = ask(bank, "post_repayment", repayment, key)
    ask(bank, "post_repayment", repayment, key)  # replay: 201
    ask(bank, "post_repayment", {**repayment, "amount": 5}, key)  # key reused: 422
    ask(bank, "post_repayment", repayment)  # no key: 400
    ask(bank, "post_repayment", {**repayment, "loan_id": "L-nobody"}, {"Idempotency-Key": "X"})
    ask(bank, "post_repayment", {**repayment, "payment_id": "PAY00000009", "currency": "USD"},
        {"Idempotency-Key": "PAY00000009"})  # currency mismatch: 422
    ask(bank, "post_repayment", {**repayment, "payment_id": "PAY00000009",
                                 "value_time": "2030-01-01T00:00:00+00:00"},
        {"Idempotency-Key": "PAY00000009"})  # value time in the future: 422
    ask(bank, "post_repayment", repayment, {"Idempotency-Key": "PAY-OTHER"})  # posted: 422
    ask(bank, "get_posting", {"posting_id": posting["posting_id"]})
    ask(bank, "get_posting", {"posting_id": "PST99999999"})  # 404
    ask(bank, "list_postings", {"limit": "1"})
    ask(bank, "list_postings", {"after": posting["posting_id"], "limit": "1000"})
    ask(bank, "pay_at_counter", {"loan_id": LOAN, "amount": 100})
    ask(bank, "pay_at_counter", {"loan_id": "L-nobody", "amount": 100})  # 404
    ask(bank, "submit_reconciliation", {**RECONCILIATION, "refunds": []})
    ask(bank, "submit_reconciliation", {**RECONCILIATION, "count": 2})  # 422
    ask(bank, "get_reconciliation", {"business_date": "2026-02-01"})
    ask(bank, "get_reconciliation", {"business_date": "2026-02-02"})  # 404
    ask(bank, "verify_dispute", {"dispute_id": "DSP000001", "subject_id": "000-00-0000",
                                 "account": LOAN, "period": "2026-02"})
    ask(bank, "verify_dispute", {"dispute_id": "DSP000001", "subject_id": "000-00-0000",
                                 "account": "L-nobody", "period": "2026-02"})  # 404

    opening = {"loan_id": "L-bob", "borrower": "bob", "phone": "212-555-0101",
               "principal": 300000, "months": 3, "disbursed": "2026-01-01"}
    ask(platform, "open_loan", opening)
    ask(platform, "open_loan", opening)  # 409
    ask(platform, "list_loans", {"borrower": "alice"})
    ask(platform, "repay", {"loan_id": LOAN, "amount": 110016})
    ask(platform, "repay", {"loan_id": "L-nobody", "amount": 1})  # 404
    ask(platform, "repay", {"loan_id": LOAN, "amount": 0})  # 422
    ask(platform, "list_payments", {"loan_id": LOAN})
    ask(platform, "list_pending", {})
    ask(platform, "list_pending", {"after": "PAY00000001", "limit": "10"})
    for kind in ("overdue", "cleared"):
        ask(platform, f"installment_{kind}", {"loan_id": LOAN, "installment": 1, "kind": kind})

    report = {"subject_id": "000-00-0000", "account": LOAN, "installment": 1,
              "period": "2026-02", "status": "overdue", "days_past_due": 1}
    ask(bureau, "submit_reports", {"furnisher": "bank", "records": [report]})
    dispute = ask(bureau, "open_dispute", {"subject_id": "000-00-0000", "account": LOAN,
                                           "period": "2026-02"})
    ask(bureau, "get_dispute", {"dispute_id": dispute["dispute_id"]})
    ask(bureau, "get_dispute", {"dispute_id": "DSP999999"})  # 404
    ask(bureau, "credit_report", {"requester": "bank", "subject_id": "000-00-0000",
                                  "purpose": "loan_application", "consent_ref": "C-1"})
    ask(bureau, "credit_report", {"requester": "bank", "subject_id": "000-00-0000",
                                  "purpose": "marketing"})  # 403

    ask(sms, "send_batch", {"sender": "bank", "messages": [MESSAGE]})
    ask(sms, "send_batch", {"sender": "bank", "messages": []})  # 422
    sms.crash()
    ask(sms, "send_batch", {"sender": "bank", "messages": [MESSAGE]})  # 503

    assert {status for _, _, status in answered} == {200, 201, 204, 400, 403, 404, 409, 422,
                                                      503}
    assert {(party, operation) for party, operation, _ in answered} == {
        (party, operation) for party in REFERENCE_PARTIES
        for operation in contracts.operations(party)}
