"""Reading a request exactly as it will be run: nothing ambiguous gets through.

A gateway in front of a face must be able to check the very request the party
runs, so a face refuses whatever two readers could read differently:

* a body over :data:`MAX_BODY` (413), never read past the limit;
* a media type other than ``application/json`` or ``application/*+json``, or a
  ``charset`` other than UTF-8 (415);
* JSON that is not UTF-8, repeats a key in one object, holds a ``\\ud800``-style
  escape without its pair (not Unicode text), ``NaN`` or ``Infinity`` (400);
* a header the request depends on sent more than once (``Content-Type``, the
  operation's header parameters; the signature headers are the signature's
  business) (400);
* a query parameter the contract does not declare, or a declared one sent twice or
  also in the body (400).

A number with a fraction or an exponent that is integral is the integer JSON Schema says
it is (``8165.0`` → ``8165``); one too large for a float is read as infinity, which no
contract accepts (422, naming the field); :func:`oversized` finds a number no party can
store. :class:`Headers` spell a request's headers as parties and links do.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import ClientDisconnect, Request

from simulator.core.privacy import quoted
from simulator.serve.problems import Answer

__all__ = ["MAX_BODY", "Headers", "header_name", "oversized", "parse_json", "query_fields",
           "read_body", "repeated", "unsupported_media"]

#: the largest request body a face reads
MAX_BODY = 1 << 20

_UTF8 = ("utf-8", "utf8")
_ESCAPED_SURROGATE = re.compile(rb"\\u[dD][89abcdefABCDEF]")


async def read_body(request: Request) -> bytes | Answer | None:
    """The body, a 413 past :data:`MAX_BODY`, or ``None`` if the client went away."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
        return Answer.problem(413, "Payload too large",
                              f"bodies are limited to {MAX_BODY} bytes")
    chunks = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY:
                return Answer.problem(413, "Payload too large",
                                      f"bodies are limited to {MAX_BODY} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        return None
    return b"".join(chunks)


def unsupported_media(content_type: str, operation: str) -> Answer | None:
    """A 415 unless the media type is JSON (``application/json`` or ``application/*+json``)
    with no parameter but an optional UTF-8 ``charset``."""
    media, *parameters = (part.strip() for part in content_type.split(";"))
    media = media.lower()
    json_type = media == "application/json" or (
        media.startswith("application/") and media.endswith("+json"))
    if not json_type:
        return Answer.problem(415, "Unsupported media type",
                              f"{operation} takes application/json")
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() != "charset" or value.strip().strip('"').lower() not in _UTF8:
            return Answer.problem(415, "Unsupported media type",
                                  f"{operation} takes application/json in UTF-8 (the only "
                                  "parameter allowed is charset=utf-8)")
    return None


class _Unreadable(ValueError):
    """JSON that parses but cannot be read one way only."""


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise _Unreadable(f"the key {quoted(key)} appears twice in one object")
        found[key] = value
    return found


def _number(text: str) -> int | float:
    value = Decimal(text)
    if value.is_finite() and value == value.to_integral_value() and value.adjusted() < 30:
        return int(value)
    return float(text)


def _constant(name: str) -> Any:
    raise _Unreadable(f"{name} is not JSON")


def _has_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        if value.isascii():
            return False
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_has_surrogate(key) or _has_surrogate(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_has_surrogate(item) for item in value)
    return False


def parse_json(raw: bytes, operation: str) -> Any:
    """The body as JSON, or a 400 saying why it cannot be read one way only."""
    def malformed(why: str) -> Answer:
        return Answer.problem(400, "Malformed JSON",
                              f"the body of {operation} is not valid JSON{why}")

    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        return malformed(f" (not UTF-8: byte {error.start + 1})")
    try:
        value = json.loads(text, object_pairs_hook=_object, parse_constant=_constant,
                           parse_float=_number)
    except json.JSONDecodeError as error:
        return malformed(f" (line {error.lineno} column {error.colno})")
    except _Unreadable as error:
        return malformed(f": {error}")
    except (ValueError, RecursionError):
        return malformed(" (nested too deeply, or a number too long to read)")
    if _ESCAPED_SURROGATE.search(raw) and _has_surrogate(value):
        return malformed(": a \\ud800–\\udfff escape without its pair is not Unicode text")
    return value


def repeated(names: Iterable[str], raw_headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The first of ``names`` (any case) that a request sent more than once, if any."""
    wanted = {name.lower(): name for name in names}
    seen: set[str] = set()
    for key, _value in raw_headers:
        name = key.decode("latin-1").lower()
        if name in wanted:
            if name in seen:
                return wanted[name]
            seen.add(name)
    return None


def query_fields(query: str, declared: Iterable[str], body: Mapping[str, Any] | None,
                 operation: str) -> dict[str, str] | Answer:
    """The declared query parameters as fields, or a 400 for one undeclared, repeated or
    also in the body."""
    allowed = set(declared)
    fields: dict[str, str] = {}
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=False,
                          errors="strict")
    except (UnicodeDecodeError, ValueError):
        return Answer.problem(400, "Invalid query", f"{operation}: the query string is not "
                                                    "percent-encoded UTF-8")
    for name, value in pairs:
        if name not in allowed:
            listed = ", ".join(sorted(allowed)) if allowed else "none"
            return Answer.problem(400, "Invalid query",
                                  f"{operation}: query parameter {quoted(name)} is not in the "
                                  f"contract (it declares {listed})")
        if name in fields:
            return Answer.problem(400, "Invalid query",
                                  f"{operation}: query parameter {quoted(name)} sent twice")
        if body is not None and name in body:
            return Answer.problem(400, "Invalid query",
                                  f"{operation}: {quoted(name)} given both in the query and "
                                  "the body")
        fields[name] = value
    return fields


def header_name(name: str) -> str:
    """``idempotency-key`` → ``Idempotency-Key``: how parties and links spell headers."""
    return "-".join(part.capitalize() for part in name.split("-"))


class Headers(dict[str, str]):
    """Request headers for a party: canonical spelling, case-insensitive ``get``."""

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(header_name(key), default)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(header_name(key))

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(header_name(key))


_INT64 = (1 << 63) - 1


def oversized(value: Any, path: str = "$") -> str | None:
    """The JSON path of the first number no party can store, if any: an integer beyond 64
    bits, or one too large to be a float (read as infinity).

    Every integer in the contracts has a ``maximum`` within 64 bits; this is the backstop
    should one ever lack it (a 422, never a 500).
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return path if not -_INT64 - 1 <= value <= _INT64 else None
    if isinstance(value, float):
        return None if math.isfinite(value) else path
    if isinstance(value, dict):
        for key, item in value.items():
            found = oversized(item, f"{path}.{key}")
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = oversized(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None
