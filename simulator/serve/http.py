"""HTTP faces: each party served over HTTP from the same operations its links call.

:func:`party_app` builds a Starlette (ASGI) application for one party from its
contract in ``contracts/`` — one route per contract operation, each handled by
the party's own :meth:`~simulator.parties.base.Party.handle`, so there is no
second implementation. A request is answered in this order:

======  ====================================================================
413     a body over 1 MiB (never read: the signature covers the body, so
        this comes first)
401     unsigned, forged, stale, from the future or replayed, or a signature
        header sent twice (see :mod:`simulator.wire.signing`); nothing is read
        further, nothing changes
400     anything two readers could read differently (:mod:`~simulator.serve.reading`):
        a query parameter the contract does not declare, a header the request
        depends on sent twice, a body on an operation that takes none; a body that
        is not UTF-8 JSON, repeats a key or holds half a surrogate pair; a header
        that breaks the contract
415     a body that is not ``application/json`` (or ``+json``) in UTF-8
422     a body that breaks the contract, or carries a number no party can store
        (beyond 64-bit integers, or infinite); ``detail`` names the field
…       whatever the party answers, checked against the contract
======  ====================================================================

These checks run on the server's event loop, before the request waits for
anything (the world's thread, a clock advance): a refusal is always quick. A face
answers only what the contract allows, and each of these is listed for every
operation (415 for one with a request body); the sandbox's operations list the
same but 401, as its control requests are not signed. ``tests/test_contracts.py``
keeps the contracts so.

Path parameters (and declared query parameters) become fields of the body, as
the contracts say. Every error is ``application/problem+json`` (RFC 9457) with
personal data masked, and quotes a value the caller sent only when it is a plain
token (:func:`~simulator.core.privacy.quoted`). No input produces a 5xx: the only
5xx are the party's own ``503`` while it is down, the sandbox's (faults, a clock
advancing), and — with ``strict_responses`` (tests) — a ``500`` for a response
that breaks the contract. Without it such a response is logged and sent as it
is, so a contract test sees exactly what the party said.

A world is single-threaded and its parties' SQLite connections belong to the
thread that opened them, so every checked request is run on the world's
:class:`Home` thread, whatever thread the server's event loop runs on.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.responses import Response as HttpResponse
from starlette.routing import Route

from simulator.core.clock import Clock
from simulator.core.errors import ContractError
from simulator.core.privacy import redact
from simulator.engine.links import Body, Outcome, Reply, Response
from simulator.serve.home import Home
from simulator.serve.problems import PROBLEM_HANDLERS, Answer, problem_body, redacted, render
from simulator.serve.reading import (
    MAX_BODY,
    parse_json,
    query_fields,
    read_body,
    repeated,
    unsupported_media,
)
from simulator.wire.openapi import RequestBody
from simulator.wire.signing import SIGNED_HEADERS, Keyring, SignatureError

__all__ = [
    "MAX_BODY",
    "OUTCOME_HEADER",
    "PROBLEM_HANDLERS",
    "ContractsLike",
    "Dispatch",
    "Face",
    "Injected",
    "Target",
    "answer_of",
    "face_app",
    "party_app",
    "problem_body",
]

log = logging.getLogger("lendsim.http")

_T = TypeVar("_T")

#: how an injected answer says what really happened to the call (``refused``, ``lost``)
OUTCOME_HEADER = "X-Lendsim-Outcome"


class Runner(Protocol):
    """Where a face runs a checked request: the world's thread (:class:`Home`, or a world's
    :class:`~simulator.core.mailbox.Mailbox`)."""

    async def run(self, action: Callable[..., _T], *args: Any) -> _T: ...


class ContractsLike(Protocol):
    """What a face needs of :class:`simulator.wire.contracts.Contracts`."""

    def operations(self, party: str) -> Mapping[str, tuple[str, str, Any]]: ...

    def document(self, party: str) -> dict[str, Any]: ...

    def request_body(self, party: str, operation: str) -> RequestBody: ...

    def query_parameters(self, party: str, operation: str) -> tuple[str, ...]: ...

    def header_parameters(self, party: str, operation: str) -> tuple[str, ...]: ...

    def validate_request(self, party: str, operation: str, body: Any,
                         headers: Mapping[str, str]) -> None: ...

    def validate_response(self, party: str, operation: str, status: int, body: Any) -> None: ...


class Target(Protocol):
    """What a face serves: a party, or the sandbox's control."""

    name: str

    def handle(self, operation: str, body: Body, headers: Mapping[str, str]) -> Response: ...


@dataclass(frozen=True, slots=True)
class Injected(Response):
    """An answer the sandbox made up (an injected fault, a clock that is advancing): it is
    not the party's, so it is not checked against the party's contract. ``retry_after``
    (seconds) becomes a ``Retry-After`` header; ``outcome`` (``refused``: the call never
    arrived, ``lost``: it was handled but its answer lost) an ``X-Lendsim-Outcome`` header,
    which lendsim's own transports turn into what a client would really see."""

    retry_after: int | None = None
    outcome: str | None = None


#: how a face hands a checked request to its target: (operation, body, headers, key id)
Dispatch = Callable[[str, Body, Mapping[str, str], "str | None"], Response]
#: what a request waits for before it runs (the sandbox: an advance under way); it may
#: answer instead (an :class:`Injected` refusal)
Wait = Callable[[str], Awaitable["Response | None"]]


@dataclass(frozen=True, slots=True)
class _Operation:
    name: str
    method: str
    path: str
    has_body: bool
    body_required: bool
    query: tuple[str, ...]
    headers: tuple[str, ...]


def _operations(name: str, contracts: ContractsLike) -> list[_Operation]:
    found = []
    for operation, (method, path, _params) in contracts.operations(name).items():
        body = contracts.request_body(name, operation)
        found.append(_Operation(operation, method.upper(), path, body.expected, body.required,
                                contracts.query_parameters(name, operation),
                                contracts.header_parameters(name, operation)))
    return found


@dataclass(frozen=True, slots=True)
class _Checked:
    """A request that passed every check: what the target will run."""

    body: Body
    headers: Mapping[str, str]
    key_id: str | None


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


_INT64 = (1 << 63) - 1


def _oversized(value: Any, path: str = "$") -> str | None:
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
            found = _oversized(item, f"{path}.{key}")
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _oversized(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


_SIGNATURE_PROBLEM = {"WWW-Authenticate": "Lendsim-HMAC-SHA256"}


class Face:
    """One party's (or the sandbox's) HTTP face: checks a request on the event loop, hands
    it to the home thread, checks the answer. ``inline`` operations (reads that are safe
    from any thread) run on the event loop too."""

    def __init__(self, name: str, contracts: ContractsLike, *,
                 target: Callable[[], Target], now: Callable[[], datetime],
                 keyring: Keyring | None, home: Runner | None, strict_responses: bool,
                 dispatch: Dispatch | None, gate: Callable[[str], Response | None] | None,
                 wait: Wait | None = None, inline: frozenset[str] = frozenset(),
                 headers: Callable[[], Mapping[str, str]] | None = None) -> None:
        self.name = name
        self.contracts = contracts
        self.target = target
        self.now = now
        self.keyring = keyring
        self.home = home
        self.strict_responses = strict_responses
        self.dispatch = dispatch
        self.gate = gate
        self.wait = wait
        self.inline = inline
        #: headers added to every answer the target gave, read on the home thread after it
        #: ran (a system under test's ``Lendsim-Next-Wakeup``)
        self.headers = headers
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
                return render(Answer.problem(405, "Method not allowed",
                                             f"this path allows {allow}",
                                             headers={"Allow": allow}))
            raw = await read_body(request)
            if raw is None:  # the client went away: nobody reads the answer
                log.info("%s %s: the client disconnected before its body arrived",
                         self.name, operation.name)
                return HttpResponse(status_code=400)
            if isinstance(raw, Answer):
                return render(raw)
            return render(await self._answer_request(operation, request, raw))

        return endpoint

    async def _answer_request(self, operation: _Operation, request: Request,
                              raw: bytes) -> Answer:
        scope = request.scope
        raw_path = scope.get("raw_path")
        path = raw_path.decode("latin-1") if isinstance(raw_path, bytes) else \
            scope.get("root_path", "") + scope["path"]
        query = scope.get("query_string", b"").decode("latin-1")
        if query:
            path = f"{path}?{query}"
        params = {str(k): str(v) for k, v in request.path_params.items()}
        try:
            checked = self.check(operation, path, scope.get("headers", []), raw, params,
                                 query)
        except Exception:  # a bug, not the caller's fault: a 500 that says nothing private
            log.exception("%s %s: checking the request failed", self.name, operation.name)
            return Answer.problem(500, "Internal error",
                                  f"{self.name} failed to check {operation.name}")
        if isinstance(checked, Answer):
            return checked
        if operation.name in self.inline or self.home is None:
            return self.run(operation, checked)
        if self.wait is not None:
            refused = await self.wait(operation.name)
            if refused is not None:
                return self._answer(refused)
        return await self.home.run(self.run, operation, checked)

    # -- checks (any thread: they touch nothing of the world) --------------------------
    def check(self, operation: _Operation, path: str, raw_headers: list[tuple[bytes, bytes]],
              raw: bytes, params: dict[str, str], query: str) -> _Checked | Answer:
        """Every check a request meets before it may run, or the refusal."""
        headers = _Headers()
        for key, value in raw_headers:
            headers.setdefault(_header_name(key.decode("latin-1").lower()),
                               value.decode("latin-1"))
        key_id: str | None = None
        if self.keyring is not None:
            twice = repeated(SIGNED_HEADERS, raw_headers)
            if twice is not None:
                return Answer.problem(401, "Unauthorized",
                                      f"ambiguous signature: {twice} sent more than once",
                                      headers=_SIGNATURE_PROBLEM)
            try:
                self.keyring.verify(operation.method, path, raw, headers, self.now())
            except SignatureError as error:
                return Answer.problem(401, "Unauthorized", error.reason,
                                      headers=_SIGNATURE_PROBLEM)
            key_id = headers.get(SIGNED_HEADERS[0])
        depends_on = (*operation.headers, *(("Content-Type",) if operation.has_body else ()))
        twice = repeated(depends_on, raw_headers)
        if twice is not None:
            return Answer.problem(400, "Invalid header",
                                  f"{operation.name}: the {twice} header was sent more than "
                                  "once")
        body: Any = {}
        if operation.has_body and (raw or operation.body_required):
            refused = unsupported_media(headers.get("Content-Type") or "", operation.name)
            if refused is not None:
                return refused
            body = parse_json(raw, operation.name)
            if isinstance(body, Answer):
                return body
        elif raw:
            return Answer.problem(400, "Unexpected body",
                                  f"{operation.name} takes no request body")
        if isinstance(body, dict):
            fields = query_fields(query, operation.query, body, operation.name)
            if isinstance(fields, Answer):
                return fields
            both = sorted(set(params) & set(body))
            if both:
                return Answer.problem(400, "Invalid request",
                                      f"{operation.name}: {both[0]} is given both in the "
                                      "path and the body")
            body = {**body, **fields, **params}
        try:
            self.contracts.validate_request(self.name, operation.name, body, headers)
        except ContractError as error:
            if (error.where or "").startswith("request header"):
                return Answer.problem(400, "Invalid header", str(error))
            return Answer.problem(422, "Invalid request", str(error))
        if not isinstance(body, dict):  # the contract let a non-object through
            return Answer.problem(422, "Invalid request",
                                  f"{operation.name}: the body must be a JSON object")
        too_big = _oversized(body)
        if too_big is not None:  # no contract lets one through; storage could not keep it
            return Answer.problem(422, "Invalid request",
                                  f"{self.name}.{operation.name} request: {too_big}: a number "
                                  "beyond 64-bit integers")
        return _Checked(body, headers, key_id)

    # -- the world side (home thread) ----------------------------------------------------
    def run(self, operation: _Operation, checked: _Checked) -> Answer:
        """Run one checked request; never raises."""
        try:
            return self._run(operation, checked)
        except Exception:  # a bug, not the caller's fault: a 500 that says nothing private
            log.exception("%s %s failed", self.name, operation.name)
            return Answer.problem(500, "Internal error",
                                  f"{self.name} failed to handle {operation.name}")

    def _run(self, operation: _Operation, checked: _Checked) -> Answer:
        if self.gate is not None:  # e.g. the sandbox: a clock advancing again
            refused = self.gate(operation.name)
            if refused is not None:
                return self._answer(refused)
        target = self.target()
        try:
            if self.dispatch is not None:
                response = self.dispatch(operation.name, checked.body, checked.headers,
                                         checked.key_id)
            else:
                response = target.handle(operation.name, checked.body, checked.headers)
        except Exception:
            db = getattr(target, "db", None)
            if db is not None and db.in_transaction:
                db.rollback()
            raise
        if isinstance(response, Injected):  # a sandbox fault answered, not the party
            return self._answer(response)
        answer = self._checked(operation, response)
        if self.headers is not None:
            answer.headers.update(self.headers())
        return answer

    def _checked(self, operation: _Operation, response: Response) -> Answer:
        body: Any = response.body if response.status != 204 else None
        try:
            self.contracts.validate_response(self.name, operation.name, response.status, body)
        except ContractError as error:
            message = redact(str(error))
            if self.strict_responses:
                log.error("%s %s answered outside its contract: %s", self.name,
                          operation.name, message)
                return Answer.problem(500, "Response breaks the contract", message)
            log.warning("%s %s answered outside its contract: %s", self.name, operation.name,
                        message)
        return self._answer(response)

    @staticmethod
    def _answer(response: Response) -> Answer:
        headers: dict[str, str] = {}
        body: Body | None = response.body
        if response.status == 204:
            body = None
        elif response.status >= 400:
            body = redacted(body)
            retry_after = body.get("retry_after") if isinstance(body, dict) else None
            if isinstance(response, Injected) and response.retry_after is not None:
                retry_after = response.retry_after
            if isinstance(response, Injected) and response.outcome is not None:
                headers[OUTCOME_HEADER] = response.outcome
            if isinstance(retry_after, int) and not isinstance(retry_after, bool):
                headers["Retry-After"] = str(retry_after)
        return Answer(response.status, body, headers)


def answer_of(reply: Reply, link: str) -> Response:
    """What a caller that crossed ``link`` gets back: the party's answer, or what the fault
    made of it (an injected error status; ``refused`` as 503, ``lost`` as 504, each saying
    so in ``X-Lendsim-Outcome``)."""
    if reply.outcome is Outcome.DELIVERED and reply.response is not None:
        return reply.response
    if reply.outcome is Outcome.ERROR and reply.status is not None:
        return Injected(reply.status, problem_body(
            reply.status, "Injected error", f"a fault on {link} answered {reply.status}"))
    if reply.outcome is Outcome.TIMEOUT:
        return Injected(504, problem_body(
            504, "Gateway timeout",
            f"the response on {link} was lost: the request may have been processed"),
            outcome="lost")
    return Injected(503, problem_body(503, "Service unavailable", f"{link} refused the call"),
                    outcome="refused")


def face_app(name: str, contracts: ContractsLike, *, target: Callable[[], Target],
             now: Callable[[], datetime], keyring: Keyring | None, home: Runner | None = None,
             strict_responses: bool = False, dispatch: Dispatch | None = None,
             gate: Callable[[str], Response | None] | None = None,
             wait: Wait | None = None,
             headers: Callable[[], Mapping[str, str]] | None = None) -> Starlette:
    """The face of whatever ``target()`` returns, under contract ``contracts/<name>.yaml``.

    ``target`` and ``now`` are looked up on every request (the sandbox swaps its
    world on reset); ``now`` is read on the event loop, so it must be safe from
    any thread. ``dispatch`` replaces ``target().handle`` (the sandbox routes
    calls through the world's links); ``wait`` holds a checked request before it
    is queued for the home thread, and may answer instead; ``gate`` may refuse an
    operation on the home thread, just before it runs.
    """
    face = Face(name, contracts, target=target, now=now, keyring=keyring, home=home,
                strict_responses=strict_responses, dispatch=dispatch, gate=gate, wait=wait,
                headers=headers)
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
