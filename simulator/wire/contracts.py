"""Contracts: the OpenAPI 3.1 documents in ``contracts/`` as executable truth.

Every wire format lives in one document per party — ``bank.yaml``,
``platform.yaml``, ``bureau.yaml``, ``sms.yaml`` — plus ``sandbox.yaml``, the
test control lendsim serves. An ``operationId`` is the name of the party's
operation (the key in its ``routes()``). An operation takes one JSON object,
its *body*: the request body's fields plus the path (and query) parameters;
header parameters stay headers. Code never restates a schema: it asks here::

    contracts = load_contracts()
    contracts.validate_request("bank", "post_repayment", body, {"Idempotency-Key": key})
    contracts.validate_response("bank", "post_repayment", 201, answer)

A payload that does not conform raises :class:`~simulator.core.errors.ContractError`
naming the party, the operation, the JSON path of the offending field and what
was expected. Values are shown only through :func:`~simulator.core.privacy.redact`,
and never for a field the contract marks ``x-personal: true``.

Validators are compiled once, when a document is loaded; ``load_contracts()``
loads the documents once per process.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from simulator.core.errors import ContractError
from simulator.core.headers import header as header_value
from simulator.core.privacy import quoted, redact
from simulator.core.topology import PARTIES
from simulator.wire.openapi import (
    CompiledAnswer,
    CompiledOperation,
    RequestBody,
    Route,
    Schema,
    compile_operations,
    read_document,
)

__all__ = ["DOCUMENTS", "SERVED", "Contracts", "Guard", "load_contracts"]


#: The documents in ``contracts/``, by party (``sandbox``: lendsim's test control).
DOCUMENTS: tuple[str, ...] = (*PARTIES, "sandbox", "control", "payments")
#: The documents lendsim's own servers serve (``control`` is what a system under test offers).
SERVED: tuple[str, ...] = (*PARTIES, "sandbox")


_JSON_TYPES = {"object": "an object", "array": "a list", "string": "text",
               "integer": "an integer", "number": "a number", "boolean": "true or false",
               "null": "null"}


_BOUNDS = {"minimum": "at least", "exclusiveMinimum": "above", "maximum": "at most",
           "exclusiveMaximum": "below"}


_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


#: how many problems one message names
_SHOWN = 3


#: how many payloads that passed a guard remembers (to skip checking them again)
_REMEMBERED = 100_000


def _json_path(parts: Iterable[Any]) -> str:
    """``$.messages[0].phone``"""
    text = "$"
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _IDENTIFIER.match(str(part)) and len(str(part)) <= 40:
            text += f".{part}"
        else:  # a key that may be anything the caller sent: described, never shown
            text += f"[{quoted(str(part))}]"
    return redact(text)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    for kind, word in (((dict,), "an object"), ((list,), "a list"), ((str,), "text"),
                       ((int,), "an integer"), ((float,), "a number")):
        if isinstance(value, kind):
            return word
    return type(value).__name__


def _shown(value: Any, schema: Mapping[str, Any]) -> str:
    """A value fit for a message: personal data withheld, the rest redacted and short."""
    if schema.get("x-personal"):
        return "a value withheld as personal data"
    if isinstance(value, dict | list):
        return _json_type(value)
    if isinstance(value, str):  # may be anything the caller sent (a name, even)
        return quoted(value)
    text = json.dumps(value, ensure_ascii=False, default=str)
    if len(text) > 60:
        text = text[:57] + "…"
    return redact(text)


def _describe(error: ValidationError) -> list[tuple[tuple[Any, ...], str]]:
    """(the path of an offending field, what was wrong with it), for each field the error
    is about (several for missing or unexpected fields)."""
    path = tuple(error.absolute_path)
    schema: Mapping[str, Any] = error.schema if isinstance(error.schema, Mapping) else {}
    keyword = str(error.validator)
    instance: Any = error.instance
    value: Any = error.validator_value
    if keyword == "required" and isinstance(instance, dict):
        missing = [key for key in value if key not in instance]
        return [((*path, key), "missing (a required field)") for key in missing]
    if keyword == "additionalProperties" and isinstance(instance, dict):
        known = list(schema.get("properties", {}))
        allowed = ", ".join(known) if known else "no fields"
        return [((*path, key), f"unexpected field (the contract allows {allowed})")
                for key in instance if key not in known]
    if keyword == "not" and isinstance(instance, dict) and isinstance(value, Mapping):
        forbidden = [key for key in value.get("required", []) if key in instance]
        if forbidden:
            return [((*path, key), "not allowed here") for key in forbidden]
    return [(path, _what(error))]


def _what(error: ValidationError) -> str:
    """What was wrong with the value an error is about."""
    schema: Mapping[str, Any] = error.schema if isinstance(error.schema, Mapping) else {}
    keyword = str(error.validator)
    value: Any = error.validator_value
    instance: Any = error.instance
    expected = schema.get("x-expected")
    got = _shown(instance, schema)
    if keyword == "type":
        types = value if isinstance(value, list) else [value]
        wanted = " or ".join(_JSON_TYPES.get(str(t), str(t)) for t in types)
        return f"expected {wanted}, got {_json_type(instance)}"
    if keyword == "enum":
        choices = ", ".join(json.dumps(choice) for choice in value)
        return f"expected one of {choices}, got {got}"
    if keyword == "const":
        return f"expected {json.dumps(value)}, got {got}"
    if keyword in _BOUNDS:
        return f"expected a number {_BOUNDS[keyword]} {value}, got {got}"
    if keyword in ("minLength", "maxLength"):
        bound = "at least" if keyword == "minLength" else "at most"
        return f"expected {bound} {value} characters, got {len(instance)}"
    if keyword in ("minItems", "maxItems"):
        bound = "at least" if keyword == "minItems" else "at most"
        return f"expected {bound} {value} items, got {len(instance)}"
    if keyword == "format":
        return f"expected {expected or 'a ' + str(value)}, got {got}"
    if keyword == "pattern":
        return f"expected {expected or 'text matching ' + str(value)}, got {got}"
    if keyword == "oneOf" and all(isinstance(s, dict) and set(s) == {"required"} for s in value):
        names = [name for s in value for name in s["required"]]
        return f"expected exactly one of the fields {', '.join(names)}"
    if keyword == "oneOf" and not error.context:
        return expected or "matches more than one of the shapes the contract allows"
    if keyword in ("oneOf", "anyOf"):
        return expected or "matches none of the shapes the contract allows"
    if keyword in ("not", "None"):  # None: a `false` schema
        return "is not allowed here"
    return expected or f"does not satisfy the contract's {keyword!r} rule"


class Contracts:
    """The contracts of ``parties`` (default: all), loaded and compiled."""

    def __init__(self, parties: Iterable[str] = DOCUMENTS) -> None:
        self._documents: dict[str, dict[str, Any]] = {}
        self._operations: dict[str, dict[str, CompiledOperation]] = {}
        for party in parties:
            document = read_document(party)
            self._documents[party] = document
            self._operations[party] = compile_operations(party, document)

    @property
    def parties(self) -> tuple[str, ...]:
        return tuple(self._documents)

    def document(self, party: str) -> dict[str, Any]:
        """A copy of the party's OpenAPI document as written (``$ref`` kept)."""
        self._party(party)
        return copy.deepcopy(self._documents[party])

    def operations(self, party: str) -> dict[str, Route]:
        """``operationId`` → ``(method, path, path_params)`` for the party's HTTP face."""
        return {name: operation.route for name, operation in self._party(party).items()}

    def request_body(self, party: str, operation: str) -> RequestBody:
        """Whether the operation takes a body, requires one, and the contract's examples."""
        return self._operation(party, operation).request_body

    def query_parameters(self, party: str, operation: str) -> tuple[str, ...]:
        """The query parameters the operation declares (fields of its body); no other may
        be sent."""
        return self._operation(party, operation).query_params

    def header_parameters(self, party: str, operation: str) -> tuple[str, ...]:
        """The header parameters the operation declares (``Idempotency-Key``)."""
        return tuple(header.name for header in self._operation(party, operation).headers)

    def request_schema(self, party: str, operation: str) -> Schema:
        """The schema of the operation's body: request body fields plus path parameters."""
        return self._operation(party, operation).body_schema

    def response_schema(self, party: str, operation: str, status: int) -> Schema | None:
        """The schema of the body answered with ``status``; ``None`` when it has no body."""
        return self._answer(party, operation, status).schema

    def response_media_type(self, party: str, operation: str, status: int) -> str | None:
        """``application/json``, ``application/problem+json``, or ``None`` for no body."""
        return self._answer(party, operation, status).media_type

    def validate_request(self, party: str, operation: str, body: Any,
                         headers: Mapping[str, str] | None = None) -> None:
        """Raise :class:`ContractError` unless ``body`` and ``headers`` conform."""
        found = self._operation(party, operation)
        if not found.body.is_valid(body):
            self._raise(party, operation, "request", found.body, body)
        for header in found.headers:
            value = header_value(headers or {}, header.name)
            where = f"request header {header.name}"
            if value is None:
                if header.required:
                    raise ContractError(
                        f"{party}.{operation} {where}: missing (a required header)",
                        party=party, operation=operation, where=where)
                continue
            if not header.validator.is_valid(value):
                self._raise(party, operation, where, header.validator, value)

    def validate_response(self, party: str, operation: str, status: int, body: Any) -> None:
        """Raise :class:`ContractError` unless the contract lists ``status`` with this body."""
        answer = self._answer(party, operation, status)
        where = f"response {status}"
        if answer.validator is None:
            if body:
                raise ContractError(
                    f"{party}.{operation} {where}: expected no body, got {_json_type(body)}",
                    party=party, operation=operation, where=where, path="$")
            return
        if not answer.validator.is_valid(body):
            self._raise(party, operation, where, answer.validator, body)

    def guard(self, party: str, *, link: str) -> Guard:
        """What checks every request and response on ``link``, whose far end is ``party``."""
        self._party(party)
        return Guard(self, party, link)

    # -- helpers ------------------------------------------------------------------------------
    def _party(self, party: str) -> dict[str, CompiledOperation]:
        found = self._operations.get(party)
        if found is None:
            raise ContractError(f"no contract for {party!r} (there are: "
                                f"{', '.join(self._operations)})", party=party)
        return found

    def _operation(self, party: str, operation: str) -> CompiledOperation:
        found = self._party(party).get(operation)
        if found is None:
            raise ContractError(f"{party}.{operation}: the {party} contract has no operation "
                                f"{operation!r}", party=party, operation=operation)
        return found

    def _answer(self, party: str, operation: str, status: int) -> CompiledAnswer:
        found = self._operation(party, operation)
        answer = found.answer(status)
        if answer is None:
            listed = ", ".join(found.answers)
            raise ContractError(
                f"{party}.{operation} response {status}: a status the contract does not list "
                f"(it lists {listed})", party=party, operation=operation,
                where=f"response {status}")
        return answer

    @staticmethod
    def _raise(party: str, operation: str, where: str, validator: Draft202012Validator,
               value: Any) -> None:
        """Name the most relevant problem first, then up to two more."""
        errors = list(validator.iter_errors(value))
        found: list[tuple[str, str]] = []
        for error in (best_match(errors), *(best_match([error]) for error in errors)):
            if error is None:
                continue
            for path, what in _describe(error):
                problem = (_json_path(path), what)
                if problem not in found:
                    found.append(problem)
        shown = "; ".join(f"{path}: {what}" for path, what in found[:_SHOWN])
        more = f" (and {len(found) - _SHOWN} more)" if len(found) > _SHOWN else ""
        raise ContractError(f"{party}.{operation} {where}: {shown}{more}", party=party,
                            operation=operation, where=where, path=found[0][0])


class Guard:
    """Checks each request and response crossing one link against the target's contract.

    It is what :attr:`simulator.engine.links.Link.validate` holds under ``--strict-contracts``;
    its errors name the link too. A payload identical to one that already passed (a
    retried request, a replayed answer) is not checked again.
    """

    __slots__ = ("_contracts", "_passed", "link", "party")

    def __init__(self, contracts: Contracts, party: str, link: str) -> None:
        self._contracts = contracts
        self.party = party
        self.link = link
        self._passed: set[bytes] = set()

    def request(self, operation: str, body: dict[str, Any], headers: Mapping[str, str]) -> None:
        self._checked(self._contracts.validate_request, (operation, body, headers),
                      (operation, body, sorted(headers.items())))

    def response(self, operation: str, status: int, body: dict[str, Any]) -> None:
        self._checked(self._contracts.validate_response, (operation, status, body),
                      (operation, status, body))

    def _checked(self, check: Callable[..., None], args: tuple[Any, ...],
                 payload: tuple[Any, ...]) -> None:
        try:
            text = json.dumps(payload, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError):
            key = None  # not plain JSON: the check will say what is wrong with it
        else:
            key = hashlib.blake2b(text.encode(), digest_size=16).digest()
            if key in self._passed:
                return
        try:
            check(self.party, *args)
        except ContractError as error:
            raise ContractError(f"on link {self.link}: {error.message}", party=error.party,
                                operation=error.operation, where=error.where,
                                path=error.path) from None
        if key is not None:
            if len(self._passed) >= _REMEMBERED:
                self._passed.clear()
            self._passed.add(key)


@functools.cache
def load_contracts() -> Contracts:
    """Every contract, loaded and compiled once per process."""
    return Contracts()
