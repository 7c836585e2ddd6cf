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

A payload that does not conform raises :class:`~simulator.errors.ContractError`
naming the party, the operation, the JSON path of the offending field and what
was expected. Values are shown only through :func:`~simulator.privacy.redact`,
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
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, NamedTuple, cast

import yaml
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError, best_match

from simulator.errors import ContractError
from simulator.headers import header as header_value
from simulator.locator import contract_path
from simulator.privacy import redact

__all__ = ["PARTIES", "Contracts", "Guard", "RequestBody", "Route", "load_contracts"]

#: The documents in ``contracts/``, by party (``sandbox``: lendsim's test control).
PARTIES: tuple[str, ...] = ("bank", "platform", "bureau", "sms", "sandbox")

Schema = dict[str, Any]

_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
#: keywords that only annotate: a ``$ref`` beside them is inlined with them merged in
_ANNOTATIONS = frozenset({"description", "summary", "title", "examples", "example", "default",
                          "deprecated", "readOnly", "writeOnly", "x-expected", "x-personal"})
_NO_BODY: Schema = {"type": "object", "additionalProperties": False, "properties": {}}


class Route(NamedTuple):
    """Where an operation is served over HTTP."""

    method: str  #: ``GET``, ``POST``, ``DELETE``…
    path: str  #: ``/loans/{loan_id}``
    path_params: tuple[str, ...]  #: ``("loan_id",)``: fields of the body taken from the path


# -- formats -----------------------------------------------------------------------------
_FORMATS = FormatChecker(formats=())
_INSTANT = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?"
                      r"([Zz]|[+-][0-9]{2}:[0-9]{2})$")
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


@_FORMATS.checks("date-time", raises=ValueError)
def _is_instant(value: object) -> bool:
    """RFC 3339 with an offset, and a real instant (no 24:00, no 30 February)."""
    if not isinstance(value, str):
        return True  # a format only speaks about strings
    if not _INSTANT.match(value):
        return False
    datetime.fromisoformat(value.upper())
    return True


@_FORMATS.checks("date", raises=ValueError)
def _is_date(value: object) -> bool:
    """``YYYY-MM-DD``, a real calendar date."""
    if not isinstance(value, str):
        return True
    if not _DATE.match(value):
        return False
    date.fromisoformat(value)
    return True


def _compile(schema: Schema) -> Draft202012Validator:
    return Draft202012Validator(schema, format_checker=_FORMATS)


# -- loading -------------------------------------------------------------------------------
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _JsonLoader(_SafeLoader):  # type: ignore[valid-type,misc]
    """YAML read as JSON data: ``2026-01-01`` stays text, never becomes a ``date``."""


_JsonLoader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _read(party: str) -> dict[str, Any]:
    path = contract_path(f"{party}.yaml")
    document = yaml.load(path.read_text(encoding="utf-8"), Loader=_JsonLoader)
    if not isinstance(document, dict) or not str(document.get("openapi", "")).startswith("3.1"):
        raise ContractError(f"{path.name} is not an OpenAPI 3.1 document", party=party)
    return document


class _Inliner:
    """Replaces every local ``$ref`` of a document by what it points at."""

    def __init__(self, party: str, document: dict[str, Any]) -> None:
        self._party = party
        self._document = document
        self._done: dict[str, Any] = {}

    def __call__(self, node: Any, trail: tuple[str, ...] = ()) -> Any:
        if isinstance(node, list):
            return [self(item, trail) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if not isinstance(ref, str):
            return {key: self(value, trail) for key, value in node.items()}
        target = self._target(ref, trail)
        siblings = {key: self(value, trail) for key, value in node.items() if key != "$ref"}
        if not siblings:
            return target
        if isinstance(target, dict) and _ANNOTATIONS.issuperset(siblings):
            return {**target, **siblings}
        return {"allOf": [target], **siblings}

    def _target(self, ref: str, trail: tuple[str, ...]) -> Any:
        if ref in self._done:
            return self._done[ref]
        if not ref.startswith("#/"):
            raise ContractError(f"{self._party}.yaml: only references inside the document are "
                                f"supported (got $ref {ref!r})", party=self._party)
        if ref in trail:
            raise ContractError(f"{self._party}.yaml: $ref {ref!r} refers to itself "
                                f"({' → '.join((*trail, ref))})", party=self._party)
        node: Any = self._document
        for part in ref[2:].split("/"):
            key = part.replace("~1", "/").replace("~0", "~")
            try:
                node = node[int(key)] if isinstance(node, list) else node[key]
            except (KeyError, IndexError, ValueError, TypeError):
                raise ContractError(f"{self._party}.yaml: $ref {ref!r} points at nothing",
                                    party=self._party) from None
        resolved = self._done[ref] = self(node, (*trail, ref))
        return resolved


@dataclass(frozen=True, slots=True)
class _Header:
    name: str
    required: bool
    schema: Schema
    validator: Draft202012Validator


@dataclass(frozen=True, slots=True)
class _Answer:
    media_type: str | None
    schema: Schema | None
    validator: Draft202012Validator | None


@dataclass(frozen=True, slots=True)
class RequestBody:
    """Whether an operation takes a request body, must have one, and its examples."""

    expected: bool
    required: bool
    examples: tuple[dict[str, Any], ...]


def _request_body(holder: Mapping[str, Any] | None) -> RequestBody:
    if not isinstance(holder, Mapping):
        return RequestBody(False, False, ())
    examples: list[dict[str, Any]] = []
    for media in (holder.get("content") or {}).values():
        for example in (media.get("examples") or {}).values():
            if isinstance(example.get("value"), dict):
                examples.append(dict(example["value"]))
        if isinstance(media.get("example"), dict):
            examples.append(dict(media["example"]))
    return RequestBody(True, bool(holder.get("required")), tuple(examples))


@dataclass(frozen=True, slots=True)
class _Operation:
    route: Route
    body_schema: Schema
    body: Draft202012Validator
    headers: tuple[_Header, ...]
    answers: dict[str, _Answer]  # by status key: "201", "4XX", "default"
    request_body: RequestBody

    def answer(self, status: int) -> _Answer | None:
        answers = self.answers
        return answers.get(str(status)) or answers.get(f"{status // 100}XX") or \
            answers.get("default")


def _content(holder: Mapping[str, Any]) -> tuple[str | None, Schema | None]:
    """The media type and schema of a request body or response (JSON first)."""
    content: Mapping[str, Any] = holder.get("content") or {}
    for media_type, item in sorted(content.items(), key=lambda pair: "json" not in pair[0]):
        schema = item.get("schema") if isinstance(item, Mapping) else None
        return media_type, cast(Schema, schema) if isinstance(schema, dict) else {}
    return None, None


def _body_schema(party: str, operation_id: str, request: Schema | None,
                 fields: list[Mapping[str, Any]]) -> Schema:
    """The request body's schema with the path and query parameters merged in as fields."""
    base = request if request is not None else _NO_BODY
    if not fields:
        return base
    if "properties" not in base:
        raise ContractError(f"{party}.yaml: {operation_id} has path parameters, so its request "
                            "body must be an object schema with 'properties'", party=party,
                            operation=operation_id)
    merged = dict(base)
    merged["properties"] = {**base["properties"],
                            **{field["name"]: field.get("schema", {}) for field in fields}}
    required = [*base.get("required", []),
                *(field["name"] for field in fields if field.get("required"))]
    if required:
        merged["required"] = required
    return merged


def _operations(party: str, document: dict[str, Any]) -> dict[str, _Operation]:
    inline = _Inliner(party, document)
    found: dict[str, _Operation] = {}
    for path, written in (document.get("paths") or {}).items():
        item = inline(written)
        shared = item.get("parameters", [])
        for method in _METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            operation_id = operation.get("operationId")
            if not operation_id:
                raise ContractError(f"{party}.yaml: {method.upper()} {path} has no operationId",
                                    party=party)
            if operation_id in found:
                raise ContractError(f"{party}.yaml: operationId {operation_id!r} is used twice",
                                    party=party, operation=operation_id)
            parameters = {(p["in"], p["name"]): p for p in (*shared, *operation.get("parameters",
                                                                                      []))}
            fields = [p for (where, _), p in parameters.items() if where in ("path", "query")]
            request = None
            if "requestBody" in operation:
                request = _content(operation["requestBody"])[1]
            body_schema = _body_schema(party, operation_id, request, fields)
            headers = tuple(
                _Header(p["name"], bool(p.get("required")), p.get("schema", {}),
                        _compile(p.get("schema", {})))
                for (where, _), p in parameters.items() if where == "header")
            answers = {}
            for status, response in (operation.get("responses") or {}).items():
                media_type, schema = _content(response)
                answers[str(status)] = _Answer(media_type, schema,
                                               _compile(schema) if schema is not None else None)
            route = Route(method.upper(), path,
                          tuple(p["name"] for (where, _), p in parameters.items()
                                if where == "path"))
            found[operation_id] = _Operation(route, body_schema, _compile(body_schema), headers,
                                             answers, _request_body(operation.get("requestBody")))
    return found


# -- messages ------------------------------------------------------------------------------
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
        elif _IDENTIFIER.match(str(part)):
            text += f".{part}"
        else:
            text += f"[{json.dumps(str(part), ensure_ascii=False)}]"
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


# -- the contracts ---------------------------------------------------------------------------
class Contracts:
    """The contracts of ``parties`` (default: all), loaded and compiled."""

    def __init__(self, parties: Iterable[str] = PARTIES) -> None:
        self._documents: dict[str, dict[str, Any]] = {}
        self._operations: dict[str, dict[str, _Operation]] = {}
        for party in parties:
            document = _read(party)
            self._documents[party] = document
            self._operations[party] = _operations(party, document)

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
    def _party(self, party: str) -> dict[str, _Operation]:
        found = self._operations.get(party)
        if found is None:
            raise ContractError(f"no contract for {party!r} (there are: "
                                f"{', '.join(self._operations)})", party=party)
        return found

    def _operation(self, party: str, operation: str) -> _Operation:
        found = self._party(party).get(operation)
        if found is None:
            raise ContractError(f"{party}.{operation}: the {party} contract has no operation "
                                f"{operation!r}", party=party, operation=operation)
        return found

    def _answer(self, party: str, operation: str, status: int) -> _Answer:
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

    It is what :attr:`simulator.links.Link.validate` holds under ``--strict-contracts``;
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
