"""A system under test's peers: the other roles and the payment network, served to it.

:class:`Peers` is an ASGI app with each party the system's role calls across a
link mounted at ``/<party>`` (``/bank``, ``/bureau``…) and the payment network
at ``/payments``, every one under its contract and checking the system's
signature (key id = the role). A call crosses the world's link from the role to
that party — ``platform->bank``, or ``recon`` for the reconciliation file — so
faults apply exactly as they do to a reference party. It runs on the world's
thread (:mod:`simulator.core.mailbox`), at the world's instant.

The system reaches the app in one of two ways:

* :class:`LoopbackServer` — an HTTP server on a loopback port, for every
  system; a refused call or a lost answer closes the connection without a
  response, which any client sees as a broken connection;
* :class:`RequestsRouter` — an in-process (``python:``) system's ``requests``
  calls to that port are routed by ``responses`` into the app, without
  sockets; a refused call raises ``requests.ConnectionError``, a lost answer
  ``requests.ReadTimeout`` (after the work was done); a ``requests`` call to
  any other host fails loudly, and is a finding. (Other clients, such as
  ``httpx`` or ``urllib``, reach the port itself.)

A call the system makes while lendsim is not waiting for it (a background thread
calling out between ticks) is refused with 503 and is a finding: a system does
its work when its clock is moved.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import TimeoutError as FutureTimeout
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

import requests
import responses
from starlette.applications import Starlette
from starlette.routing import Mount

from simulator.core.errors import LendsimError
from simulator.core.topology import LINKS
from simulator.engine.links import Body, Response
from simulator.serve.http import (
    OUTCOME_HEADER,
    PROBLEM_HANDLERS,
    Injected,
    answer_of,
    face_app,
    problem_body,
)
from simulator.serve.problems import Answer as HttpAnswer
from simulator.sut.transports import Answer, AsgiTransport
from simulator.wire.contracts import Contracts
from simulator.wire.signing import Keyring
from simulator.world.roles import Stage

__all__ = ["PAYMENTS", "LoopbackServer", "Peers", "RequestsRouter", "peer_links"]

#: the payment network's mount
PAYMENTS = "payments"
T = TypeVar("T")
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


def peer_links(role: str) -> dict[str, str]:
    """The parties ``role`` calls, each with the link the call crosses."""
    found: dict[str, str] = {}
    for name, ends in LINKS.items():
        if ends.caller == role and name != "recon":
            found[ends.target] = name
    return found


class _Network:
    """The payment network's face: money a system gives back to a borrower."""

    name = PAYMENTS

    def __init__(self, stage: Stage, role: str) -> None:
        self._stage = stage
        self._role = role

    def handle(self, operation: str, body: Body, headers: Mapping[str, str]) -> Response:
        self._stage.network.give_back(str(body["payment_id"]), int(body["amount"]),
                                      by=self._role)
        return Response(201, {"payment_id": body["payment_id"], "amount": body["amount"],
                              "status": "returned"})


class _WhileWaiting:
    """Runs a peer's work on the world's thread — only while the world waits for the
    system; otherwise the call is refused and recorded."""

    def __init__(self, peers: Peers) -> None:
        self._peers = peers

    async def run(self, action: Callable[..., T], *args: Any) -> T:
        mailbox = self._peers.stage.mailbox
        if not mailbox.waiting:
            self._peers.stray(f"the {self._peers.role} called a peer while lendsim was not "
                              "waiting for it (outside every call and tick): a system under "
                              "test does its work when its clock is moved")
            return cast(T, _refused("the world is not waiting for this system: calls are "
                                    "served only during lendsim's calls and ticks"))
        return await mailbox.run(action, *args)


def _refused(detail: str) -> HttpAnswer:
    return HttpAnswer.problem(503, "Service unavailable", detail)


class Peers:
    """The ASGI app a system in ``role`` reaches its peers through, in one world."""

    def __init__(self, role: str, stage: Stage, contracts: Contracts, keyring: Keyring,
                 on_finding: Callable[[str], None]) -> None:
        self.role = role
        self.stage = stage
        self._on_finding = on_finding
        self.links = peer_links(role)
        runner = _WhileWaiting(self)
        routes = []
        for party in self.links:
            app = face_app(party, contracts, target=self._party(party),
                           now=lambda: stage.clock.now, keyring=keyring, home=runner,
                           dispatch=self._dispatcher(party))
            routes.append(_mount(party, app))
        network = _Network(stage, role)
        routes.append(_mount(PAYMENTS, face_app(
            PAYMENTS, contracts, target=lambda: network, now=lambda: stage.clock.now,
            keyring=keyring, home=runner)))
        self.app = Starlette(routes=routes, exception_handlers=PROBLEM_HANDLERS)

    def _party(self, name: str) -> Callable[[], Any]:
        return lambda: self.stage.parties[name]

    def urls(self, base: str) -> dict[str, str]:
        """Each peer's base URL under ``base``, by role (and ``payments``)."""
        base = base.rstrip("/")
        return {name: f"{base}/{name}" for name in (*self.links, PAYMENTS)}

    def stray(self, finding: str) -> None:
        self._on_finding(finding)

    def _dispatcher(self, party: str) -> Callable[[str, Body, Mapping[str, str], str | None],
                                                  Response]:
        def dispatch(operation: str, body: Body, headers: Mapping[str, str],
                     key_id: str | None) -> Response:
            link = "recon" if (self.role, party, operation) == \
                ("platform", "bank", "submit_reconciliation") else self.links[party]
            try:
                reply = self.stage.links[link].call(operation, body, headers,
                                                    ref=f"{self.role} under test")
            except LendsimError as stop:  # a system failed deeper down: the run is over
                return Injected(503, problem_body(503, "Service unavailable", str(stop)))
            return answer_of(reply, link)
        return dispatch


def _mount(name: str, app: Starlette) -> Mount:
    mount = Mount(f"/{name}", app=app)
    mount.path_regex = re.compile(mount.path_regex.pattern, re.DOTALL)
    return mount


def _ask(peers: AsgiTransport, method: str, path: str, headers: Mapping[str, str],
         body: bytes, timeout: float) -> Answer | None:
    """Ask the peers app; ``None`` when it gave no answer in time."""
    try:
        return peers.start(method, path, headers, body).result(timeout)
    except FutureTimeout:
        return None


class RequestsRouter:
    """Routes an in-process system's ``requests`` traffic for its peers' base URL into a
    peers app, with ``responses``; any other URL fails loudly."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._base = ""
        self._peers: Peers | None = None
        self._transport: AsgiTransport | None = None
        self._mock: responses.RequestsMock | None = None
        self._lock = threading.Lock()

    def attach(self, peers: Peers, base: str) -> None:
        """Route calls under ``base`` to ``peers`` (one world's) from now on; ``requests`` is
        patched until :meth:`detach`, so nothing outside a world (the user's other tests in
        the same process) ever meets the patch."""
        with self._lock:
            if self._transport is not None:
                self._transport.close()
            self._peers = peers
            self._base = base.rstrip("/")
            self._transport = AsgiTransport(peers.app, "peers")
            if self._mock is None:
                mock = responses.RequestsMock(assert_all_requests_are_fired=False)
                for method in _METHODS:
                    mock.add_callback(method, re.compile(r".*"), callback=self._route,
                                      content_type=None)
                mock.start()
                self._mock = mock

    def detach(self) -> None:
        with self._lock:
            if self._transport is not None:
                self._transport.close()
            self._peers = self._transport = None
            if self._mock is not None:
                self._mock.stop(allow_assert=False)
                self._mock = None

    def close(self) -> None:
        self.detach()

    def _route(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], bytes]:
        url = str(request.url)
        peers, transport, base = self._peers, self._transport, self._base
        if peers is None or transport is None or not url.startswith(f"{base}/"):
            parts = urlsplit(url)
            where = f"{parts.scheme}://{parts.netloc}"
            if peers is not None:
                peers.stray(f"the {peers.role} called {request.method} {where}, which is not "
                            f"one of its peers (they are under {base}): a system under test "
                            "reaches nothing but its peers")
            raise requests.ConnectionError(
                f"lendsim: {where} is not a peer in this world (no real network is reached "
                "from a world)", request=request)
        path = url[len(base):]
        raw = request.body or b""
        body = raw.encode("utf-8") if isinstance(raw, str) else raw
        if not isinstance(body, bytes):  # a streamed body: read it whole
            body = b"".join(part if isinstance(part, bytes) else part.encode("utf-8")
                            for part in cast(Any, body))
        headers = {k: (v if isinstance(v, str) else v.decode("latin-1"))
                   for k, v in request.headers.items() if k.lower() != "host"}
        answer = _ask(transport, str(request.method), path, headers, body, self._timeout)
        if answer is None:
            raise requests.ReadTimeout("lendsim: the peer did not answer in time",
                                       request=request)
        outcome = answer.headers.get(OUTCOME_HEADER.lower())
        if outcome == "refused":
            raise requests.ConnectionError(
                "lendsim: connection refused (a fault on the link refused the call)",
                request=request)
        if outcome == "lost":
            raise requests.ReadTimeout(
                "lendsim: read timed out (a fault on the link lost the answer; the call was "
                "handled)", request=request)
        return answer.status, dict(answer.headers), answer.body


class LoopbackServer:
    """An HTTP server on ``127.0.0.1`` serving a world's peers app to a system out of
    process; :meth:`attach` points it at the current world's peers."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._transport: AsgiTransport | None = None
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # an answer's last bytes go out at once

            def log_message(self, format: str, *args: Any) -> None:
                return  # the world's journal says what happened

            def _serve(self) -> None:
                server._serve(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self.base = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="lendsim-peers", daemon=True)
        self._thread.start()

    def attach(self, peers: Peers) -> None:
        if self._transport is not None:
            self._transport.close()
        self._transport = AsgiTransport(peers.app, "peers")

    def detach(self) -> None:
        if self._transport is not None:
            self._transport.close()
        self._transport = None

    def close(self) -> None:
        self.detach()
        self._server.shutdown()
        self._server.server_close()

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length > 0 else b""
        transport = self._transport
        answer = None if transport is None else _ask(
            transport, handler.command, handler.path,
            {k: v for k, v in handler.headers.items() if k.lower() != "host"}, body,
            self._timeout)
        if answer is None or answer.headers.get(OUTCOME_HEADER.lower()) in ("refused", "lost"):
            handler.close_connection = True  # no answer at all: a broken connection
            return
        handler.send_response(answer.status)
        for name, value in answer.headers.items():
            if name.lower() not in ("content-length", "connection", "transfer-encoding",
                                    "date", "server", OUTCOME_HEADER.lower()):
                handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(answer.body)))
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(answer.body)
