"""How lendsim reaches a system under test: one interface, three kinds of target.

A :class:`Transport` starts one HTTP request and hands back a future of the
answer; the world's thread waits for it through its mailbox
(:mod:`simulator.core.mailbox`), serving the system's calls back into the world
meanwhile. A WSGI or ASGI app given as ``python:pkg.mod:app`` is called in this
process on threads of its own (several: a call back into the world may call the
app again before the first call is answered); a service at
``http://host:port/prefix`` — or one lendsim started with ``command:`` — is
reached over the network.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests

__all__ = ["Answer", "AsgiTransport", "HttpTransport", "Transport", "TransportError",
           "WsgiTransport"]

#: calls an in-process app (or a remote service) may have under way at once
_WORKERS = 8

# An in-process system's clock is moved by freezegun, which lets lendsim's own modules keep
# the real time by looking up to five frames above whoever asks for the time: if one of
# them is lendsim's, it answers the real time. So lendsim calls into an app through six
# frames of a module that is not lendsim's, and the app's calls for the time are always
# answered with the virtual instant, however directly the app reads the clock.
_NEUTRAL = """
def call(action, *args):
    return _1(action, args)
def _1(action, args):
    return _2(action, args)
def _2(action, args):
    return _3(action, args)
def _3(action, args):
    return _4(action, args)
def _4(action, args):
    return _5(action, args)
def _5(action, args):
    return action(*args)
async def call_async(action, *args):
    return await _a1(action, args)
async def _a1(action, args):
    return await _a2(action, args)
async def _a2(action, args):
    return await _a3(action, args)
async def _a3(action, args):
    return await _a4(action, args)
async def _a4(action, args):
    return await _a5(action, args)
async def _a5(action, args):
    return await action(*args)
"""
_neutral: dict[str, Any] = {"__name__": "lendsim_system_call"}
exec(compile(_NEUTRAL, "<lendsim system call>", "exec"), _neutral)  # see above
_call_app: Callable[..., Any] = _neutral["call"]
_call_app_async: Callable[..., Any] = _neutral["call_async"]


@dataclass(frozen=True)
class Answer:
    """What a system answered: status, headers (lower-case names) and the body's bytes."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class TransportError(Exception):
    """The system could not be reached; ``reason`` says why, in words for a report.
    ``refused``: the connection was never made (the request surely did not arrive)."""

    def __init__(self, reason: str, *, refused: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.refused = refused


class Transport(Protocol):
    """Sends requests to a system under test."""

    label: str
    #: the path the system's routes sit under (``/prefix`` of ``http://host/prefix``): what
    #: a signature covers comes after it
    prefix: str

    def start(self, method: str, path: str, headers: Mapping[str, str],
              body: bytes) -> Future[Answer]:
        """Start one request; ``path`` is the path with its query string, relative to the
        system's root. The future fails with :class:`TransportError` when the system cannot
        be reached."""
        ...

    def close(self) -> None: ...


def _target(path: str) -> tuple[str, str]:
    parts = urlsplit(path)
    return parts.path or "/", parts.query


class WsgiTransport:
    """A WSGI app called in process."""

    def __init__(self, app: Callable[..., Iterable[bytes]], label: str) -> None:
        self._app = app
        self.label = label
        self.prefix = ""
        self._workers = ThreadPoolExecutor(_WORKERS, thread_name_prefix=f"lendsim {label}")

    def _call(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Answer:
        route, query = _target(path)
        environ: dict[str, Any] = {
            "REQUEST_METHOD": method, "SCRIPT_NAME": "", "PATH_INFO": route,
            "QUERY_STRING": query, "SERVER_NAME": "lendsim.system", "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.version": (1, 0), "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body), "wsgi.errors": io.StringIO(),
            "wsgi.multithread": True, "wsgi.multiprocess": False, "wsgi.run_once": False,
            "CONTENT_LENGTH": str(len(body)),
        }
        for name, value in headers.items():
            key = name.upper().replace("-", "_")
            if key == "CONTENT_TYPE":
                environ["CONTENT_TYPE"] = value
            elif key != "CONTENT_LENGTH":
                environ[f"HTTP_{key}"] = value
        started: dict[str, Any] = {}

        def start_response(status: str, response_headers: list[tuple[str, str]],
                           exc_info: object = None) -> Callable[[bytes], None]:
            started["status"] = int(status.split(" ", 1)[0])
            started["headers"] = {k.lower(): v for k, v in response_headers}
            return lambda data: None

        chunks = _call_app(self._app, environ, start_response)
        try:
            payload = _call_app(b"".join, chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        if "status" not in started:
            raise TransportError(f"{self.label}: the app answered without starting a response")
        return Answer(started["status"], started["headers"], payload)

    def start(self, method: str, path: str, headers: Mapping[str, str],
              body: bytes) -> Future[Answer]:
        return self._workers.submit(self._call, method, path, headers, body)

    def close(self) -> None:
        self._workers.shutdown(wait=False, cancel_futures=True)


class AsgiTransport:
    """An ASGI app called in process, on an event loop of its own."""

    def __init__(self, app: Callable[..., Any], label: str, *, lifespan: bool = False) -> None:
        self._app = app
        self.label = label
        self.prefix = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever,
                                        name=f"lendsim-system {label}", daemon=True)
        self._thread.start()
        self._lifespan: _Lifespan | None = None
        if lifespan:
            self._lifespan = _Lifespan(app)
            started = asyncio.run_coroutine_threadsafe(self._lifespan.start(), self._loop)
            failure = started.result()
            if failure is not None:
                self.close()
                raise TransportError(f"{label}: the app failed to start up ({failure})")

    async def _call(self, method: str, path: str, headers: Mapping[str, str],
                    body: bytes) -> Answer:
        route, query = _target(path)
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": method, "scheme": "http", "path": route, "raw_path": route.encode(),
            "query_string": query.encode(), "root_path": "",
            "headers": [(k.lower().encode("latin-1"), v.encode("latin-1"))
                        for k, v in headers.items()],
            "client": ("127.0.0.1", 0), "server": ("lendsim.system", 80),
        }
        sent = False
        status = 0
        response_headers: dict[str, str] = {}
        chunks: list[bytes] = []

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()  # the client never disconnects first
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                response_headers.update({k.decode("latin-1").lower(): v.decode("latin-1")
                                         for k, v in message.get("headers", [])})
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await _call_app_async(self._app, scope, receive, send)
        if not status:
            raise TransportError(f"{self.label}: the app answered without starting a response")
        return Answer(status, response_headers, b"".join(chunks))

    def start(self, method: str, path: str, headers: Mapping[str, str],
              body: bytes) -> Future[Answer]:
        return asyncio.run_coroutine_threadsafe(self._call(method, path, headers, body),
                                                self._loop)

    def close(self) -> None:
        if self._lifespan is not None:
            lifespan, self._lifespan = self._lifespan, None
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(lifespan.stop(), self._loop).result(10)
        if self._loop.is_closed():
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        if not self._thread.is_alive():
            self._loop.close()


class _Lifespan:
    """An ASGI app's lifespan (startup and shutdown), for an app that has one: an app that
    answers the lifespan scope with an error does not have one."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self._app = app
        self._inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._supported = True

    async def _run(self) -> None:
        try:
            await _call_app_async(self._app, {"type": "lifespan", "asgi": {"version": "3.0"}},
                                  self._inbox.get, self._outbox.put)
        except Exception:  # no lifespan support (the ASGI spec's way to say so)
            self._supported = False
            await self._outbox.put({"type": "lifespan.unsupported"})

    async def start(self) -> str | None:
        """``None`` once started (or when the app has no lifespan), else why it failed."""
        self._task = asyncio.get_running_loop().create_task(self._run())
        await self._inbox.put({"type": "lifespan.startup"})
        message = await self._outbox.get()
        if message["type"] == "lifespan.startup.failed":
            return str(message.get("message") or "startup failed")
        return None

    async def stop(self) -> None:
        if not self._supported or self._task is None or self._task.done():
            return
        await self._inbox.put({"type": "lifespan.shutdown"})
        await asyncio.wait_for(self._outbox.get(), 10)


class HttpTransport:
    """A service reached over HTTP at ``base`` (``http://host:port/prefix``)."""

    def __init__(self, base: str, timeout: float) -> None:
        self.base = base.rstrip("/")
        self.prefix = urlsplit(self.base).path
        self.timeout = timeout
        self.label = self.base
        self._local = threading.local()
        self._workers = ThreadPoolExecutor(_WORKERS, thread_name_prefix="lendsim-http")
        self._sessions: list[requests.Session] = []

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            session.trust_env = False  # a loopback service: never through a proxy
            self._sessions.append(session)
        return session

    def _call(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Answer:
        try:
            reply = self._session().request(method, f"{self.base}{path}",
                                            headers=dict(headers), data=body,
                                            timeout=(min(self.timeout, 10.0), self.timeout + 5),
                                            allow_redirects=False)
        except requests.Timeout:
            raise TransportError(f"{self.base} did not answer within {self.timeout:g} s") \
                from None
        except requests.ConnectionError as error:
            if "NewConnectionError" in repr(error) or "Connection refused" in str(error):
                raise TransportError(f"{self.base} refused the connection",
                                     refused=True) from None
            raise TransportError(f"{self.base} dropped the connection without an answer") \
                from None
        except requests.RequestException as error:
            raise TransportError(f"{self.base}: {type(error).__name__}") from None
        return Answer(reply.status_code, {k.lower(): v for k, v in reply.headers.items()},
                      reply.content)

    def start(self, method: str, path: str, headers: Mapping[str, str],
              body: bytes) -> Future[Answer]:
        return self._workers.submit(self._call, method, path, headers, body)

    def close(self) -> None:
        self._workers.shutdown(wait=False, cancel_futures=True)
        for session in self._sessions:
            session.close()
