"""Where the contract suite sends its requests, and how it signs them.

A :class:`Target` is an in-process sandbox or a live server; a :class:`SuiteRun` is one
contract's run against it (calls by operation name, findings, ``curl`` reproductions).
"""

from __future__ import annotations

import abc
import json
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from simulator.core.errors import LendsimError
from simulator.faces.contract_suite.report import Finding
from simulator.serve.sandbox import Sandbox
from simulator.wire.contracts import load_contracts
from simulator.wire.signing import SIGNED_HEADERS, Keyring

__all__ = ["InProcess", "Live", "Reply", "Signer", "SuiteAuth", "SuiteRun", "SuiteState", "Target"]


#: a live server's clock is read again after this many seconds, or after a request to these
_CLOCK_TTL = 5.0


_CLOCK_MOVERS = ("/clock/advance", "/reset")


class Signer(requests.auth.AuthBase):
    """Signs each request as it is sent (the exact bytes), at the sandbox's virtual now."""

    def __init__(self, keyring: Keyring, key_id: str, now: Callable[[], datetime],
                 moved: Callable[[], None]) -> None:
        self.keyring = keyring
        self.key_id = key_id
        self.now = now
        self.moved = moved
        self.count = 0
        self._lock = threading.Lock()

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        path = self.sending(request)
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        if not isinstance(body, bytes):  # a streamed body: signing needs the bytes
            raise LendsimError("the contract suite cannot sign a streamed request body")
        request.headers.update(self.keyring.sign(self.key_id, str(request.method), path,
                                                 body, self.now()))
        return request

    def sending(self, request: requests.PreparedRequest) -> str:
        """Count a request about to be sent, signed or not; its path with the query."""
        with self._lock:
            self.count += 1
        parts = urlsplit(str(request.url))
        if parts.path.endswith(_CLOCK_MOVERS):
            self.moved()  # this request may move the clock: the next one reads it again
        return parts.path + (f"?{parts.query}" if parts.query else "")


@dataclass
class Reply:
    status: int
    body: Any
    text: str


class Target(abc.ABC):
    """An in-process sandbox or a live server, as the suite sees it."""

    label = ""

    def prefix(self, party: str) -> str:
        return "" if party == "sandbox" else f"/{party}"

    @abc.abstractmethod
    def load(self, party: str, config: Any) -> Any:
        """The schemathesis schema of ``party``'s contract, bound to this target."""

    @abc.abstractmethod
    def now(self) -> datetime:
        """The target's virtual clock."""

    @abc.abstractmethod
    def reset(self) -> None:
        """Put the target back to its first state."""

    def moved(self) -> None:  # noqa: B027 - a hook: only a live target needs it
        """The suite advanced or reset the clock (a live target reads it afresh)."""

    @abc.abstractmethod
    def session(self) -> requests.Session:
        """The HTTP session requests go through."""

    @abc.abstractmethod
    def url(self, path: str) -> str:
        """The full address of ``path`` on this target."""


class InProcess(Target):
    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.label = "in-process sandbox"

    def load(self, party: str, config: Any) -> Any:
        import schemathesis

        return schemathesis.openapi.from_asgi(f"{self.prefix(party)}/openapi.json",
                                              self.sandbox.app, config=config)

    def now(self) -> datetime:
        sandbox = self.sandbox
        instant: datetime = sandbox.call(lambda: sandbox.world.clock.now)
        return instant

    def reset(self) -> None:
        self.sandbox.call(self.sandbox.reset)

    def session(self) -> requests.Session:
        from schemathesis.python import asgi

        return asgi.get_client(self.sandbox.app)  # type: ignore[arg-type]

    def url(self, path: str) -> str:
        return f"http://testserver{path}"


class Live(Target):
    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")
        self.label = self.base
        self._clock: tuple[float, datetime | None] = (0.0, None)
        self._real_time = False

    def load(self, party: str, config: Any) -> Any:
        import schemathesis

        return schemathesis.openapi.from_url(f"{self.base}{self.prefix(party)}/openapi.json",
                                             config=config, timeout=10)

    def now(self) -> datetime:
        """The server's virtual now, read from its clock at most every few seconds (and
        after the suite moves or resets it); real time if it has no sandbox clock."""
        read_at, instant = self._clock
        if instant is not None and time.monotonic() - read_at < _CLOCK_TTL:
            return instant + timedelta(seconds=time.monotonic() - read_at) \
                if self._real_time else instant
        try:
            reply = requests.get(f"{self.base}/clock", timeout=10)
            instant = datetime.fromisoformat(reply.json()["now"])
            self._real_time = False
        except (requests.RequestException, ValueError, KeyError, TypeError):
            instant = datetime.now(UTC)  # no sandbox clock: real time
            self._real_time = True
        self._clock = (time.monotonic(), instant)
        return instant

    def moved(self) -> None:
        """The suite advanced or reset the server's clock: read it afresh."""
        self._clock = (0.0, None)

    def reset(self) -> None:
        with suppress(requests.RequestException):
            requests.post(f"{self.base}/reset", timeout=30)
        self.moved()

    def session(self) -> requests.Session:
        return requests.Session()

    def url(self, path: str) -> str:
        return f"{self.base}{path}"


class SuiteRun:
    """What the checks of one party's run need: where to send, how to sign, the contracts."""

    def __init__(self, party: str, target: Target, signer: Signer) -> None:
        self.party = party
        self.target = target
        self.signer = signer
        self.contracts = load_contracts()
        self.client = target.session()
        self.findings: list[Finding] = []
        #: Idempotency-Keys a 201 answered in this run: a later 201 under one is a replay
        self.posted_keys: set[str] = set()

    def call(self, party: str, operation: str, fields: Mapping[str, Any] | None = None,
             headers: Mapping[str, str] | None = None, raw: bytes | None = None) -> Reply:
        """Call an operation by name: path parameters are taken from ``fields``, the rest is
        the JSON body (or ``raw`` bytes)."""
        method, path, params = self.contracts.operations(party)[operation]
        fields = dict(fields or {})
        for name in params:
            path = path.replace("{" + name + "}", quote(str(fields.pop(name, "")), safe=""))
        send: dict[str, Any] = {"headers": dict(headers or {}), "auth": self.signer,
                                "timeout": 30}
        if raw is not None:
            send["data"] = raw
            send["headers"].setdefault("Content-Type", "application/json")
        elif method != "GET" and method != "DELETE":
            send["json"] = fields
        url = self.target.url(f"{self.target.prefix(party)}{path}")
        response = self.client.request(method, url, **send)
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = None
        return Reply(response.status_code, body, response.text)

    def curl(self, party: str, operation: str, fields: Mapping[str, Any],
             headers: Mapping[str, str] | None = None) -> str:
        method, path, params = self.contracts.operations(party)[operation]
        body = dict(fields)
        for name in params:
            path = path.replace("{" + name + "}", quote(str(body.pop(name, "")), safe=""))
        parts = [f"curl -X {method}"]
        for name, value in (headers or {}).items():
            parts.append(f"-H '{name}: {value}'")
        if method not in ("GET", "DELETE"):
            parts.append("-H 'Content-Type: application/json'")
            parts.append(f"-d '{json.dumps(body, ensure_ascii=False)}'")
        parts.append(self.target.url(f"{self.target.prefix(party)}{path}"))
        return " ".join(parts)

    def find(self, operation: str, check: str, title: str, message: str,
             reproduce: str = "") -> None:
        method, path, _ = self.contracts.operations(self.party)[operation]
        self.findings.append(Finding(self.party, f"{method} {path} ({operation})", check, title,
                                     message, reproduce))

    def example(self, party: str, operation: str) -> dict[str, Any] | None:
        """The first request-body example of an operation in its contract."""
        examples = self.contracts.request_body(party, operation).examples
        return dict(examples[0]) if examples else None


class SuiteState:
    """The run under way (its checks and auth consult it) and whether they are installed."""

    active: SuiteRun | None = None
    registered = False
    lock = threading.Lock()


class SuiteAuth(requests.auth.AuthBase):
    """Signs a schemathesis request with the signer of the run under way (if any).

    Schemathesis fills a party contract's security scheme with placeholder values for the
    four signature headers, which this replaces with a real signature. A request without
    them goes unsigned: one to the sandbox (its contract asks for no signature), or a
    negative case that left a signature header out on purpose (it must get 401).
    """

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        run = SuiteState.active
        if run is None:
            return request
        if not all(name in request.headers for name in SIGNED_HEADERS):
            run.signer.sending(request)  # the sandbox's (unsigned) or a negative case
            return request
        return run.signer(request)
