"""HTTP faces: each party served over HTTP from the same operations its links call.

:func:`party_app` builds a Starlette (ASGI) application for one party from its
contract in ``contracts/`` — one route per contract operation, each handled by
the party's own :meth:`~simulator.parties.base.Party.handle`, so there is no
second implementation. A request is answered in this order:

======  ====================================================================
413     a body over 1 MiB (never read: the signature covers the body, so
        this comes first)
401     unsigned, forged, stale, from the future or replayed (see
        :mod:`simulator.wire.signing`); nothing is read further, nothing changes
415     a body that is not ``application/json``
400     a body that is not JSON, or a header that breaks the contract
422     a body that breaks the contract, or carries an integer beyond 64 bits
        (no party can store it); ``detail`` names the field
…       whatever the party answers, checked against the contract
======  ====================================================================

A face answers only what the contract allows, and each of these is listed for
the operation it can happen to: every party operation lists 401 and 413, one
with a request body 400 and 415 as well (and one with header parameters 400);
the sandbox's operations the same but 401, as its control requests are not
signed. ``tests/test_contracts.py`` keeps the contracts so.

Path parameters (and declared query parameters) become fields of the body, as
the contracts say. Every error is ``application/problem+json`` (RFC 9457) with
personal data masked. No input produces a 5xx: the only 5xx are the party's own
``503`` while it is down, faults injected into the sandbox, and — with
``strict_responses`` (tests) — a ``500`` for a response that breaks the
contract. Without it such a response is logged and sent as it is, so a contract
test sees exactly what the party said.

A world is single-threaded and its parties' SQLite connections belong to the
thread that opened them, so every request is run on the world's :class:`Home`
thread, whatever thread the server's event loop runs on.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol, TypeVar

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.responses import Response as HttpResponse
from starlette.routing import Route

from simulator.core.clock import Clock
from simulator.core.errors import ContractError
from simulator.core.privacy import redact
from simulator.engine.links import Body, Response, problem_document
from simulator.serve.home import Home
from simulator.wire.openapi import RequestBody
from simulator.wire.signing import SIGNED_HEADERS, Keyring, SignatureError

__all__ = [
    "MAX_BODY",
    "PROBLEM_HANDLERS",
    "ContractsLike",
    "Dispatch",
    "Face",
    "Injected",
    "Target",
    "face_app",
    "party_app",
    "problem_body",
]

log = logging.getLogger("lendsim.http")

T = TypeVar("T")

#: the largest request body a face reads
MAX_BODY = 1 << 20
PROBLEM = "application/problem+json"


class ContractsLike(Protocol):
    """What a face needs of :class:`simulator.wire.contracts.Contracts`."""

    def operations(self, party: str) -> Mapping[str, tuple[str, str, Any]]: ...

    def document(self, party: str) -> dict[str, Any]: ...

    def request_body(self, party: str, operation: str) -> RequestBody: ...

    def validate_request(self, party: str, operation: str, body: Any,
                         headers: Mapping[str, str]) -> None: ...

    def validate_response(self, party: str, operation: str, status: int, body: Any) -> None: ...


class Target(Protocol):
    """What a face serves: a party, or the sandbox's control."""

    name: str

    def handle(self, operation: str, body: Body, headers: Mapping[str, str]) -> Response: ...


class Injected(Response):
    """An answer the sandbox made up (an injected fault, a clock that is advancing): it is
    not the party's, so it is not checked against the party's contract."""


#: how a face hands a checked request to its target: (operation, body, headers, key id)
Dispatch = Callable[[str, Body, Mapping[str, str], "str | None"], Response]


# -- problem documents ---------------------------------------------------------------------

def problem_body(status: int, title: str, detail: str = "", **extra: Any) -> Body:
    """An RFC 9457 problem document, with personal data masked."""
    redacted: Body = _redacted(problem_document(status, title, detail, **extra))
    return redacted


def _redacted(value: Any) -> Any:
    """Every string inside an error body, with ID numbers, SSNs and phone numbers masked."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: _redacted(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_redacted(item) for item in value]
    return value


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    body: Body | None
    headers: dict[str, str]

    @classmethod
    def problem(cls, status: int, title: str, detail: str = "",
                headers: dict[str, str] | None = None, **extra: Any) -> _Answer:
        return cls(status, problem_body(status, title, detail, **extra), headers or {})


def _render(answer: _Answer) -> HttpResponse:
    if answer.status == 204 or answer.body is None:
        return HttpResponse(status_code=answer.status, headers=answer.headers)
    media = PROBLEM if answer.status >= 400 else "application/json"
    return JSONResponse(answer.body, status_code=answer.status, media_type=media,
                        headers=answer.headers)


@dataclass(frozen=True, slots=True)
class _Operation:
    name: str
    method: str
    path: str
    has_body: bool
    body_required: bool


def _operations(name: str, contracts: ContractsLike) -> list[_Operation]:
    found = []
    for operation, (method, path, _params) in contracts.operations(name).items():
        body = contracts.request_body(name, operation)
        found.append(_Operation(operation, method.upper(), path, body.expected, body.required))
    return found


# -- the face ----------------------------------------------------------------------------

def _header_name(name: str) -> str:
    """``idempotency-key`` → ``Idempotency-Key``: how parties and links spell headers."""
    return "-".join(part.capitalize() for part in name.split("-"))


class _Headers(dict[str, str]):
    """Request headers for a party: canonical spelling, case-insensitive ``get``."""

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(_header_name(key), default)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(_header_name(key))

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(_header_name(key))


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/")
                                           and media.endswith("+json"))


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_INT64 = (1 << 63) - 1


def _oversized(value: Any, path: str = "$") -> str | None:
    """The JSON path of the first integer no party can store (beyond 64 bits), if any.

    Parties keep integers in SQLite. Every integer in the contracts has a ``maximum``
    within 64 bits; this is the backstop should one ever lack it (a 422, never a 500).
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return path if not -_INT64 - 1 <= value <= _INT64 else None
    if isinstance(value, dict):
        for key, item in value.items():
            found = _oversized(item, f"{path}.{key}")
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _oversized(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


def _number(text: str) -> int | float:
    """A JSON number with a fraction or exponent: ``8165.0`` and ``1e3`` are the integers
    JSON Schema says they are (and parties, which count minor units, expect)."""
    value = Decimal(text)
    if value.is_finite() and value == value.to_integral_value() and value.adjusted() < 30:
        return int(value)
    return float(text)


class Face:
    """One party's (or the sandbox's) HTTP face: checks a request, hands it over, checks the
    answer. Everything from the signature check on runs on the home thread."""

    def __init__(self, name: str, contracts: ContractsLike, *,
                 target: Callable[[], Target], now: Callable[[], datetime],
                 keyring: Keyring | None, home: Home | None, strict_responses: bool,
                 dispatch: Dispatch | None, gate: Callable[[str], Response | None] | None
                 ) -> None:
        self.name = name
        self.contracts = contracts
        self.target = target
        self.now = now
        self.keyring = keyring
        self.home = home
        self.strict_responses = strict_responses
        self.dispatch = dispatch
        self.gate = gate
        self.document = contracts.document(name)
        self.operations = _operations(name, contracts)

    # -- the ASGI side (event loop thread) -----------------------------------------------
    def routes(self) -> list[Route]:
        by_path: dict[str, dict[str, _Operation]] = {}
        for operation in self.operations:
            by_path.setdefault(operation.path, {})[operation.method] = operation
        routes = [Route("/openapi.json", self._openapi, methods=["GET"])]
        for path, methods in by_path.items():
            route = Route(path, self._endpoint(methods), methods=sorted(methods))
            route.methods = set(methods)  # only what the contract lists: no implicit HEAD
            routes.append(route)
        return routes

    async def _openapi(self, request: Request) -> HttpResponse:
        document = dict(self.document)
        document["servers"] = [{"url": request.scope.get("root_path") or "/"}]
        return JSONResponse(document)

    def _endpoint(self, methods: dict[str, _Operation]
                  ) -> Callable[[Request], Awaitable[HttpResponse]]:
        allow = ", ".join(sorted(methods))

        async def endpoint(request: Request) -> HttpResponse:
            operation = methods.get(request.method)
            if operation is None:
                return _render(_Answer.problem(405, "Method not allowed",
                                               f"{request.url.path} allows {allow}",
                                               headers={"Allow": allow}))
            raw = await self._read_body(request)
            if isinstance(raw, _Answer):
                return _render(raw)
            scope = request.scope
            raw_path = scope.get("raw_path")
            path = raw_path.decode("latin-1") if isinstance(raw_path, bytes) else \
                scope.get("root_path", "") + scope["path"]
            query = scope.get("query_string", b"").decode("latin-1")
            if query:
                path = f"{path}?{query}"
            headers = _Headers({_header_name(k): v for k, v in request.headers.items()})
            params = {str(k): str(v) for k, v in request.path_params.items()}
            queried = dict(request.query_params)
            call = (operation, path, headers, raw, params, queried)
            answer = await self.home.run(self.serve, *call) if self.home is not None else \
                self.serve(*call)
            return _render(answer)

        return endpoint

    @staticmethod
    async def _read_body(request: Request) -> bytes | _Answer:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
            return _Answer.problem(413, "Payload too large",
                                   f"bodies are limited to {MAX_BODY} bytes")
        chunks = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY:
                return _Answer.problem(413, "Payload too large",
                                       f"bodies are limited to {MAX_BODY} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    # -- the world side (home thread) ----------------------------------------------------
    def serve(self, operation: _Operation, path: str, headers: _Headers, raw: bytes,
              params: dict[str, str], query: dict[str, str]) -> _Answer:
        """Check and run one request; never raises."""
        try:
            return self._serve(operation, path, headers, raw, params, query)
        except Exception:  # a bug, not the caller's fault: a 500 that says nothing private
            log.exception("%s %s failed", self.name, operation.name)
            return _Answer.problem(500, "Internal error",
                                   f"{self.name} failed to handle {operation.name}")

    def _serve(self, operation: _Operation, path: str, headers: _Headers, raw: bytes,
               params: dict[str, str], query: dict[str, str]) -> _Answer:
        if self.gate is not None:  # e.g. the sandbox finishes an advance: "now" is defined
            refused = self.gate(operation.name)
            if refused is not None:
                return self._answer(refused)
        key_id: str | None = None
        if self.keyring is not None:
            try:
                self.keyring.verify(operation.method, path, raw, headers, self.now())
            except SignatureError as error:
                return _Answer.problem(401, "Unauthorized", error.reason,
                                       headers={"WWW-Authenticate": "Lendsim-HMAC-SHA256"})
            key_id = headers.get(SIGNED_HEADERS[0])
        body: Any = {}
        if operation.has_body and (raw or operation.body_required):
            content_type = headers.get("Content-Type") or ""
            if not _is_json(content_type):
                return _Answer.problem(415, "Unsupported media type",
                                       f"{operation.name} takes application/json")
            try:
                body = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant,
                                  parse_float=_number)
            except (UnicodeDecodeError, ValueError, RecursionError) as error:
                where = f" (line {error.lineno} column {error.colno})" \
                    if isinstance(error, json.JSONDecodeError) else ""
                return _Answer.problem(400, "Malformed JSON",
                                       f"the body of {operation.name} is not valid JSON{where}")
        if isinstance(body, dict):
            body = {**body, **query, **params}
        try:
            self.contracts.validate_request(self.name, operation.name, body, headers)
        except ContractError as error:
            if (error.where or "").startswith("request header"):
                return _Answer.problem(400, "Invalid header", str(error))
            return _Answer.problem(422, "Invalid request", str(error))
        if not isinstance(body, dict):  # the contract let a non-object through
            return _Answer.problem(422, "Invalid request",
                                   f"{operation.name}: the body must be a JSON object")
        too_big = _oversized(body)
        if too_big is not None:  # no contract lets one through; storage could not keep it
            return _Answer.problem(422, "Invalid request",
                                   f"{self.name}.{operation.name} request: {too_big}: a number "
                                   "beyond 64-bit integers")
        target = self.target()
        try:
            if self.dispatch is not None:
                response = self.dispatch(operation.name, body, headers, key_id)
            else:
                response = target.handle(operation.name, body, headers)
        except Exception:
            db = getattr(target, "db", None)
            if db is not None and db.in_transaction:
                db.rollback()
            raise
        if isinstance(response, Injected):  # a sandbox fault answered, not the party
            return self._answer(response)
        return self._checked(operation, response)

    def _checked(self, operation: _Operation, response: Response) -> _Answer:
        body: Any = response.body if response.status != 204 else None
        try:
            self.contracts.validate_response(self.name, operation.name, response.status, body)
        except ContractError as error:
            message = redact(str(error))
            if self.strict_responses:
                log.error("%s %s answered outside its contract: %s", self.name,
                          operation.name, message)
                return _Answer.problem(500, "Response breaks the contract", message)
            log.warning("%s %s answered outside its contract: %s", self.name, operation.name,
                        message)
        return self._answer(response)

    @staticmethod
    def _answer(response: Response) -> _Answer:
        headers: dict[str, str] = {}
        body: Body | None = response.body
        if response.status == 204:
            body = None
        elif response.status >= 400:
            body = _redacted(body)
            retry_after = body.get("retry_after") if isinstance(body, dict) else None
            if isinstance(retry_after, int) and not isinstance(retry_after, bool):
                headers["Retry-After"] = str(retry_after)
        return _Answer(response.status, body, headers)


def _problem_handler(request: Request, exc: Exception) -> HttpResponse:
    status = exc.status_code if isinstance(exc, HTTPException) else 404
    headers = dict(exc.headers or {}) if isinstance(exc, HTTPException) else {}
    if status == 405:
        return _render(_Answer.problem(405, "Method not allowed",
                                       f"{request.url.path} allows {headers.get('Allow', '')}",
                                       headers=headers))
    return _render(_Answer.problem(status, "Not found", f"no operation at {request.url.path}",
                                   headers=headers))


#: Starlette exception handlers that answer unknown paths and methods with problem documents
PROBLEM_HANDLERS: dict[Any, Callable[[Request, Exception], HttpResponse]] = {
    404: _problem_handler, 405: _problem_handler}


def face_app(name: str, contracts: ContractsLike, *, target: Callable[[], Target],
             now: Callable[[], datetime], keyring: Keyring | None, home: Home | None = None,
             strict_responses: bool = False, dispatch: Dispatch | None = None,
             gate: Callable[[str], Response | None] | None = None) -> Starlette:
    """The face of whatever ``target()`` returns, under contract ``contracts/<name>.yaml``.

    ``target`` and ``now`` are looked up on every request (the sandbox swaps its
    world on reset); ``dispatch`` replaces ``target().handle`` (the sandbox
    routes calls through the world's links); ``gate`` may refuse an operation
    before it runs (the sandbox, while its clock advances).
    """
    face = Face(name, contracts, target=target, now=now, keyring=keyring, home=home,
                 strict_responses=strict_responses, dispatch=dispatch, gate=gate)
    return Starlette(routes=face.routes(), exception_handlers=PROBLEM_HANDLERS)


def party_app(party: Target, contracts: ContractsLike, keyring: Keyring | None,
              clock: Clock, *, home: Home | None = None,
              strict_responses: bool = False) -> Starlette:
    """An ASGI app serving ``party`` under its contract, with signed requests.

    ``keyring`` ``None`` turns signature checks off. ``clock`` is the world's
    (virtual) clock that signatures are checked against. Pass the world's
    ``home`` when the server's event loop runs on another thread than the one
    that built the party.
    """
    return face_app(party.name, contracts, target=lambda: party, now=lambda: clock.now,
                    keyring=keyring, home=home, strict_responses=strict_responses)
