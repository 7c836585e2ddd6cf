"""The contract suite against a system under test (part of ``lendsim check``).

A :class:`SystemTarget` shows schemathesis and the probes a system under test as
an ASGI app: the role's contract document at ``/openapi.json`` (a system need not
serve one), every other request forwarded as it is — signature included — through
the system's transport. The system sits in a world of the suite's borrowers (its
loans booked through the world, as in any run), and while the suite runs on a
thread of its own, the world's thread serves the system's calls to its peers.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from concurrent.futures import Future
from datetime import datetime
from typing import Any

from simulator.faces.contract_suite.report import Finding, PartyReport
from simulator.faces.contract_suite.run import run_party, suite_scenario
from simulator.faces.contract_suite.targets import Target
from simulator.sut.system import LENDSIM_KEY_ID, NOW_HEADER, SystemUnderTest, instant_text
from simulator.sut.targets import Launcher
from simulator.wire.contracts import Contracts
from simulator.world.world import World

__all__ = ["SystemTarget", "run_suite_on_system"]


class _Shim:
    """An ASGI app in front of a system: its contract at ``/openapi.json``, the rest
    forwarded."""

    def __init__(self, system: SystemUnderTest, document: dict[str, Any]) -> None:
        self._system = system
        self._document = json.dumps(document).encode()

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any],
                       send: Callable[..., Any]) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                kind = message["type"].split(".")[-1]
                await send({"type": f"lifespan.{kind}.complete"})
                if kind == "shutdown":
                    return
        if scope["type"] != "http":
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        if scope["path"] == "/openapi.json":
            await _reply(send, 200, {"content-type": "application/json"}, self._document)
            return
        system = self._system
        prefix = system.transport.prefix
        path = scope.get("raw_path", scope["path"].encode()).decode("latin-1")
        path = path.removeprefix(prefix) or "/"
        query = scope.get("query_string", b"").decode("latin-1")
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]
                   if k.lower() not in (b"host", b"content-length")}
        if system.clock is not None:
            headers[NOW_HEADER] = instant_text(system.clock)
        future: Future[Any] = system.transport.start(
            scope["method"], f"{path}?{query}" if query else path, headers, b"".join(chunks))
        try:
            answer = await asyncio.wait_for(asyncio.wrap_future(future), system.timeout)
        except Exception as error:  # the system did not answer: say so as a gateway would
            await _reply(send, 504, {"content-type": "text/plain"},
                         f"lendsim: no answer from the system ({type(error).__name__})"
                         .encode())
            return
        await _reply(send, answer.status, dict(answer.headers), answer.body)


async def _reply(send: Callable[..., Any], status: int, headers: dict[str, str],
                 body: bytes) -> None:
    listed = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()
              if k.lower() not in ("content-length", "transfer-encoding", "connection")]
    listed.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": listed})
    await send({"type": "http.response.body", "body": body})


class SystemTarget(Target):
    """A system under test as the contract suite sees it."""

    def __init__(self, system: SystemUnderTest, contracts: Contracts, label: str) -> None:
        self.system = system
        self.label = label
        document = contracts.document(system.name)
        document["servers"] = [{"url": system.transport.prefix or "/"}]
        self.app = _Shim(system, document)

    def prefix(self, party: str) -> str:
        return self.system.transport.prefix

    def load(self, party: str, config: Any) -> Any:
        import schemathesis

        return schemathesis.openapi.from_asgi("/openapi.json", self.app, config=config)

    def now(self) -> datetime:
        return self.system.clock or self.system.stage.clock.now

    def reset(self) -> None:
        """The suite's loans stay booked: the system keeps its state for the whole suite."""

    def session(self) -> Any:
        from schemathesis.python import asgi

        return asgi.get_client(self.app)

    def url(self, path: str) -> str:
        return f"http://testserver{path}"


def run_suite_on_system(launcher: Launcher, *, seed: int, max_examples: int) -> PartyReport:
    """The contract suite of the system's role against the system, in a world of the
    suite's borrowers."""
    from simulator.faces.contract_suite.checks import register_checks

    role = launcher.spec.role
    world = World(suite_scenario(), systems={role: launcher.factory})
    system = world.parties[role]
    assert isinstance(system, SystemUnderTest)
    world.mailbox.own()
    register_checks()
    try:
        world.start()  # the suite's loans, booked and opened as in any run
        target = SystemTarget(system, launcher.contracts, launcher.spec.text)
        done: Future[PartyReport] = Future()

        def suite() -> None:
            try:
                done.set_result(run_party(role, target, launcher.keyring, LENDSIM_KEY_ID,
                                          seed, max_examples))
            except BaseException as error:  # handed to the world's thread
                done.set_exception(error)

        threading.Thread(target=suite, name="lendsim-contract-suite", daemon=True).start()
        report = world.mailbox.wait(done, None)
        if system.failure is not None:
            report.failures.append(Finding(role, role, "lendsim_system", "The system failed",
                                           str(system.failure)))
        return report
    finally:
        world.close()
        world.journal.close()
