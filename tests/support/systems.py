"""Systems under test for the tests: the reference platform or bank served alone, planted
with a defect, or wrapped to break the control contract or its role's contract one way.

Each function is a factory a ``python:`` target names
(``python:tests.support.systems:platform_clock_back``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

import requests

from simulator.sut.reference import ReferenceSystem

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


def platform() -> App:
    """The reference platform, as a system under test."""
    return ReferenceSystem("platform").app()


def bank() -> App:
    """The reference bank, as a system under test."""
    return ReferenceSystem("bank").app()


def platform_no_retry() -> App:
    """A platform that never retries a forward that failed once."""
    return ReferenceSystem("platform", defects=("platform.no_retry",)).app()


def bank_ignores_idempotency_key() -> App:
    """A bank that posts a replayed repayment again."""
    return ReferenceSystem("bank", defects=("bank.ignores_idempotency_key",)).app()


async def _body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()
        return {"type": "http.disconnect"}
    return receive


async def _answer(send: Send, status: int, body: bytes,
                  media: str = "application/json") -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", media.encode()),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def _through(app: App, scope: Scope, body: bytes) -> tuple[int, dict[str, Any]]:
    """The wrapped app's answer to a request, read whole."""
    started: dict[str, Any] = {}
    chunks: list[bytes] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            started["status"] = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, _replay(body), send)
    raw = b"".join(chunks)
    return started["status"], json.loads(raw) if raw else {}


def _wrapped(change: Callable[[App, Scope, bytes, Send], Awaitable[bool]]) -> App:
    """The reference platform, with ``change`` answering in its place when it returns True."""
    inner = platform()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await inner(scope, receive, send)
            return
        body = await _body(receive)
        if not await change(inner, scope, body, send):
            await inner(scope, _replay(body), send)
    return app


def _is(scope: Scope, method: str, path: str) -> bool:
    return bool(scope["method"] == method and scope["path"] == path)


def platform_clock_back() -> App:
    """Moved forward, it says its clock is an hour behind where it was set."""
    async def change(inner: App, scope: Scope, body: bytes, send: Send) -> bool:
        if not _is(scope, "POST", "/lendsim/clock"):
            return False
        status, answer = await _through(inner, scope, body)
        if status == 200:
            from datetime import datetime, timedelta
            answer["now"] = (datetime.fromisoformat(answer["now"])
                             - timedelta(hours=1)).isoformat()
        await _answer(send, status, json.dumps(answer).encode())
        return True
    return _wrapped(change)


def platform_never_idle() -> App:
    """Moved forward, it always says it has more work due at that very instant."""
    async def change(inner: App, scope: Scope, body: bytes, send: Send) -> bool:
        if not _is(scope, "POST", "/lendsim/clock"):
            return False
        status, answer = await _through(inner, scope, body)
        answer["next_wakeup"] = answer.get("now")
        await _answer(send, status, json.dumps(answer).encode())
        return True
    return _wrapped(change)


def platform_accepts_clock_back() -> App:
    """Asked to move its clock back, it answers 200 instead of 409."""
    async def change(inner: App, scope: Scope, body: bytes, send: Send) -> bool:
        if not _is(scope, "POST", "/lendsim/clock"):
            return False
        status, answer = await _through(inner, scope, body)
        if status == 409:
            asked = json.loads(body)["now"]
            status, answer = 200, {"now": asked, "next_wakeup": None}
        await _answer(send, status, json.dumps(answer).encode())
        return True
    return _wrapped(change)


def platform_html_repay() -> App:
    """It answers a repayment with an HTML page."""
    async def change(inner: App, scope: Scope, body: bytes, send: Send) -> bool:
        if not _is(scope, "POST", "/repayments"):
            return False
        await _answer(send, 200, b"<html>thanks</html>", "text/html")
        return True
    return _wrapped(change)


def platform_slow_repay() -> App:
    """It takes three seconds to answer a repayment."""
    async def change(inner: App, scope: Scope, body: bytes, send: Send) -> bool:
        if _is(scope, "POST", "/repayments"):
            await asyncio.sleep(3)
        return False
    return _wrapped(change)


def platform_calls_out() -> App:
    """Moved forward, it first calls a host on the internet."""
    async def change(inner: App, scope: Scope, body: bytes, send: Send) -> bool:
        if _is(scope, "POST", "/lendsim/clock"):
            def fetch() -> None:
                with contextlib.suppress(requests.RequestException):
                    requests.get("http://example.com/rates", timeout=1)
            await asyncio.get_running_loop().run_in_executor(None, fetch)
        return False
    return _wrapped(change)


def platform_no_crash() -> App:
    """It cannot crash on request: POST /lendsim/crash answers 404."""
    async def change(inner: App, scope: Scope, body: bytes, send: Send) -> bool:
        if not _is(scope, "POST", "/lendsim/crash"):
            return False
        await _answer(send, 404, json.dumps({"type": "about:blank", "title": "Not supported",
                                             "status": 404}).encode(),
                      "application/problem+json")
        return True
    return _wrapped(change)


def broken_factory() -> App:
    """A factory that fails."""
    raise RuntimeError("the database is not configured")


def not_an_app() -> int:
    """A factory that returns something that is not an app."""
    return 42


