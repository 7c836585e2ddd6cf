"""The OpenAPI 3.1 documents in ``contracts/``, read and compiled into validators.

Every local ``$ref`` is inlined; each operation's *body* schema is its request body's
fields plus its path (and query) parameters; header parameters and every documented
response get a compiled validator of their own. Formats ``date-time`` (RFC 3339 with an
offset) and ``date`` are checked.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, NamedTuple, cast

import yaml
from jsonschema import Draft202012Validator, FormatChecker

from simulator.core.errors import ContractError
from simulator.core.locator import contract_path

__all__ = [
    "CompiledAnswer",
    "CompiledHeader",
    "CompiledOperation",
    "RequestBody",
    "Route",
    "Schema",
    "compile_operations",
    "read_document",
]


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


_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _JsonLoader(_SafeLoader):  # type: ignore[valid-type,misc]
    """YAML read as JSON data: ``2026-01-01`` stays text, never becomes a ``date``."""


_JsonLoader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def read_document(party: str) -> dict[str, Any]:
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
class CompiledHeader:
    name: str
    required: bool
    schema: Schema
    validator: Draft202012Validator


@dataclass(frozen=True, slots=True)
class CompiledAnswer:
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
class CompiledOperation:
    route: Route
    body_schema: Schema
    body: Draft202012Validator
    headers: tuple[CompiledHeader, ...]
    answers: dict[str, CompiledAnswer]  # by status key: "201", "4XX", "default"
    request_body: RequestBody
    query_params: tuple[str, ...] = ()  #: fields of the body that may come in the query

    def answer(self, status: int) -> CompiledAnswer | None:
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


def compile_operations(party: str, document: dict[str, Any]) -> dict[str, CompiledOperation]:
    inline = _Inliner(party, document)
    found: dict[str, CompiledOperation] = {}
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
                CompiledHeader(p["name"], bool(p.get("required")), p.get("schema", {}),
                        _compile(p.get("schema", {})))
                for (where, _), p in parameters.items() if where == "header")
            answers = {}
            for status, response in (operation.get("responses") or {}).items():
                media_type, schema = _content(response)
                answers[str(status)] = CompiledAnswer(
                    media_type, schema, _compile(schema) if schema is not None else None)
            route = Route(method.upper(), path,
                          tuple(p["name"] for (where, _), p in parameters.items()
                                if where == "path"))
            found[operation_id] = CompiledOperation(
                route, body_schema, _compile(body_schema), headers, answers,
                _request_body(operation.get("requestBody")),
                tuple(p["name"] for (where, _), p in parameters.items() if where == "query"))
    return found
