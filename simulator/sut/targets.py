"""Targets: where a user's own bank or platform is, and how lendsim brings it into a world.

``ROLE=TARGET`` (README, "Test your own bank or platform"), ROLE ``bank`` or
``platform``:

``python:pkg.module:app``
    A WSGI or ASGI app — or a factory that returns one, called once per world —
    imported (the current directory on ``sys.path``) and called in this process
    without sockets. Its ``requests`` calls to its peers are routed into the
    world by ``responses``; other clients reach a loopback port. freezegun
    moves its ``datetime.now()``, ``date.today()`` and ``time.time()`` to the
    virtual instant before every call and tick.
``http://host:port/prefix``
    A service the user runs. It learns its peers from each reset.
``command:…``
    A command lendsim starts for every world (fresh state), ``{port}`` replaced
    by a free port, ready once ``GET /lendsim/clock`` answers; stopped after the
    world (TERM, then KILL), its last stderr lines attached to any finding.

A system is told its peers and keys in ``LENDSIM_*`` variables (a ``python:``
app's process environment; a command's) — :func:`system_environment`.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from simulator.core.errors import LendsimError
from simulator.core.privacy import redact
from simulator.core.topology import ROLES
from simulator.sut.timeouts import DEFAULT_TIMEOUT
from simulator.wire.contracts import Contracts, load_contracts
from simulator.wire.signing import TEST_KEY_IDS, Keyring, well_known_secret
from simulator.world.roles import Stage, SystemFailure

if TYPE_CHECKING:  # imported when a system is built: a command that parses targets only
    # (every CLI start) never pays for the HTTP stacks
    from simulator.sut.peers import LoopbackServer, Peers, RequestsRouter
    from simulator.sut.system import SystemUnderTest
    from simulator.sut.transports import HttpTransport, Transport

__all__ = ["DEFAULT_TIMEOUT", "Launcher", "TargetSpec", "app_target", "parse_system",
           "parse_target", "system_environment"]

Kind = Literal["python", "http", "command"]
KINDS: tuple[Kind, ...] = ("python", "http", "command")
#: how long a started command has to answer GET /lendsim/clock
DEFAULT_READY = 30.0
#: how long a stopped command has after TERM before KILL
_GRACE = 5.0
#: lines of a command's stderr attached to a finding
_TAIL_LINES = 20


@dataclass(frozen=True)
class TargetSpec:
    """A system under test: its role, what kind of target, and the target itself."""

    role: str
    kind: Kind
    value: str

    @property
    def text(self) -> str:
        """As the user wrote it: ``platform=python:shop.app:app``."""
        prefix = "" if self.kind == "http" else f"{self.kind}:"
        return f"{self.role}={prefix}{self.value}"


def parse_target(role: str, target: str, *, where: str = "--target") -> TargetSpec:
    """``role`` and a target (``python:…``, ``http://…``, ``command:…``), checked."""
    if role not in ROLES:
        raise LendsimError(f"{where}: no role {role!r} for a system under test (roles: "
                           f"{', '.join(ROLES)})")
    if target.startswith(("http://", "https://")):
        parts = urlsplit(target)
        if not parts.hostname or parts.query or parts.fragment:
            raise LendsimError(f"{where}: {target!r} is not a base URL like "
                               "http://127.0.0.1:8000/prefix")
        return TargetSpec(role, "http", target.rstrip("/"))
    kind, _, value = target.partition(":")
    if kind == "python":
        module, _, attribute = value.partition(":")
        if not module or not attribute or not all(
                part.isidentifier() for part in (*module.split("."), *attribute.split("."))):
            raise LendsimError(f"{where}: {target!r}: expected python:package.module:app")
        return TargetSpec(role, "python", value)
    if kind == "command":
        try:
            words = shlex.split(value)
        except ValueError as error:
            raise LendsimError(f"{where}: {target!r}: the command cannot be split into words "
                               f"({error})") from None
        if not words:
            raise LendsimError(f"{where}: {target!r}: the command is empty")
        if "{port}" not in value:
            raise LendsimError(f"{where}: {target!r}: the command must take its port from "
                               "{port} (lendsim picks a free one for every world)")
        return TargetSpec(role, "command", value)
    raise LendsimError(f"{where}: {target!r} is not a target: expected python:module:app, "
                       "http://host:port/prefix or command:… (with {port})")


def app_target(role: str, app: Any) -> TargetSpec:
    """The target of an app object given directly (the Python API): a ``python:`` target
    named after it."""
    if not callable(app):
        raise LendsimError(f"the {role}'s app must be a WSGI or ASGI app, or a factory "
                           f"returning one (got {type(app).__name__})")
    module = getattr(app, "__module__", None) or type(app).__module__
    name = getattr(app, "__qualname__", None) or type(app).__qualname__
    if role not in ROLES:
        raise LendsimError(f"no role {role!r} for a system under test (roles: "
                           f"{', '.join(ROLES)})")
    return TargetSpec(role, "python", f"{module}:{name}")


def parse_system(text: str, *, where: str = "--sut") -> TargetSpec:
    """``ROLE=TARGET`` as ``--sut`` takes it."""
    role, equals, target = text.partition("=")
    if not equals or not target:
        raise LendsimError(f"{where}: {text!r}: expected ROLE=TARGET, e.g. "
                           "platform=python:shop.app:app")
    return parse_target(role.strip(), target.strip(), where=where)


def system_environment(role: str, peers: Mapping[str, str], *,
                       port: int | None = None) -> dict[str, str]:
    """The ``LENDSIM_*`` variables a system is given: its peers' base URLs, the key it signs
    with, and who may call it with which secret (README, "Test your own bank or
    platform")."""
    callers = [key for key in TEST_KEY_IDS if key not in (role, "partner")]
    env = {
        "LENDSIM_ROLE": role,
        "LENDSIM_KEY_ID": role,
        "LENDSIM_KEY_SECRET": well_known_secret(role),
        "LENDSIM_PEER_KEYS": json.dumps({key: well_known_secret(key) for key in callers}),
    }
    for name, url in peers.items():
        env[f"LENDSIM_{name.upper()}_URL"] = url
    if port is not None:
        env["LENDSIM_PORT"] = str(port)
    return env


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _load_app(spec: TargetSpec) -> Any:
    module_name, _, attribute = spec.value.partition(":")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except Exception as error:  # the user's import failed: say how
        raise LendsimError(f"{spec.text}: cannot import {module_name} "
                           f"({type(error).__name__}: {redact(str(error))})") from None
    found: Any = module
    for part in attribute.split("."):
        if not hasattr(found, part):
            raise LendsimError(f"{spec.text}: {module_name} has no attribute {attribute}")
        found = getattr(found, part)
    if not callable(found):
        raise LendsimError(f"{spec.text}: {attribute} is not an app or a factory (not callable)")
    return found


def _positional(target: Any) -> int:
    """How many positional parameters ``target`` takes without defaults."""
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):
        return -1
    return sum(1 for p in signature.parameters.values()
               if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
               and p.default is p.empty)


def _is_asgi(app: Any) -> bool:
    call = app if inspect.isfunction(app) or inspect.ismethod(app) else \
        getattr(app, "__call__", None)  # noqa: B004 - an instance's __call__
    return inspect.iscoroutinefunction(call) or _positional(app) == 3


class _Clock:
    """freezegun moving an in-process system's clock: started for a world, moved before every
    call and tick, lendsim's own modules excluded."""

    def __init__(self) -> None:
        self._freezer: Any = None
        self._factory: Any = None

    def start(self, at: datetime) -> None:
        import freezegun

        self._freezer = freezegun.freeze_time(at.astimezone(UTC), ignore=["simulator"],
                                              real_asyncio=True)
        self._factory = self._freezer.start()

    def move(self, to: datetime, offset: Any) -> None:
        from freezegun import api

        if self._factory is None:
            return
        self._factory.move_to(to.astimezone(UTC))
        if api.tz_offsets:  # naive now() reads as local time in the jurisdiction
            api.tz_offsets[-1] = offset

    def stop(self) -> None:
        if self._freezer is not None:
            self._freezer.stop()
        self._freezer = self._factory = None


def _parent_death_signal() -> Callable[[], None] | None:
    """Linux's prctl(PR_SET_PDEATHSIG), resolved here, before any fork: in the child it is one
    C call, which takes no lock a thread of lendsim's could be holding."""
    if sys.platform != "linux":
        return None
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def die_with_parent() -> None:
        """In the started command, before it runs: SIGTERM when lendsim's process dies,
        however it dies (a worker stopped on Ctrl-C, even ``kill -9``) — never an orphan."""
        prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    return die_with_parent


_DIE_WITH_PARENT = _parent_death_signal()


class _Process:
    """A system lendsim started: its stderr kept in a file, stopped for sure."""

    def __init__(self, spec: TargetSpec, port: int, env: Mapping[str, str]) -> None:
        self.spec = spec
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop()
        words = shlex.split(spec.value.replace("{port}", str(port)))
        try:
            self.process = subprocess.Popen(
                words, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=self._stderr, env={**os.environ, **env}, start_new_session=True,
                preexec_fn=_DIE_WITH_PARENT)  # noqa: PLW1509 - one C call, see above
        except OSError as error:
            self._stderr.close()
            raise SystemFailure(f"{spec.text}: cannot start {words[0]} ({error.strerror})",
                                role=spec.role) from None

    def tail(self) -> tuple[str, ...]:
        """Its last stderr lines, personal data masked."""
        try:
            self._stderr.seek(0, os.SEEK_END)
            size = self._stderr.tell()
            self._stderr.seek(max(0, size - 16384))
            text = self._stderr.read().decode("utf-8", "replace")
        except (OSError, ValueError):
            return ()
        lines = [redact(line.rstrip()) for line in text.splitlines() if line.strip()]
        return tuple(f"stderr: {line}" for line in lines[-_TAIL_LINES:])

    def exited(self) -> int | None:
        return self.process.poll()

    def stop(self) -> None:
        process = self.process
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(_GRACE)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)  # anything it left behind
        self._stderr.close()


class Launcher:
    """Brings the system of ``spec`` into each world (:meth:`factory`), and releases what it
    holds across worlds (:meth:`close`)."""

    def __init__(self, spec: TargetSpec, *, timeout: float = DEFAULT_TIMEOUT,
                 ready: float = DEFAULT_READY, contracts: Contracts | None = None,
                 app: Any = None) -> None:
        if timeout <= 0 or ready <= 0:
            raise LendsimError("--timeout and the ready wait must be above 0 seconds")
        self.spec = spec
        self.timeout = timeout
        self.ready = ready
        self.contracts = contracts or load_contracts()
        self.keyring = Keyring.for_testing()
        self._app: Any = None
        self._router: RequestsRouter | None = None
        if spec.kind == "python":
            self._app = app if app is not None else _load_app(spec)

    def close(self) -> None:
        if self._router is not None:
            self._router.close()
            self._router = None

    def __enter__(self) -> Launcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one world -------------------------------------------------------------------------
    def factory(self, stage: Stage) -> SystemUnderTest:
        """The system, brought into the world of ``stage``."""
        from simulator.sut.peers import LoopbackServer, Peers

        role = self.spec.role
        holder: list[SystemUnderTest] = []

        def finding(message: str) -> None:
            if holder:
                holder[0].stray(message)

        peers = Peers(role, stage, self.contracts, Keyring({role: well_known_secret(role)}),
                      finding)
        server = LoopbackServer(self.timeout)
        server.attach(peers)
        urls = peers.urls(server.base)
        releases: list[Callable[[], None]] = [server.close]
        try:
            system = self._build(stage, peers, server, urls, releases)
        except BaseException:
            for release in reversed(releases):
                release()
            raise
        holder.append(system)
        return system

    def _build(self, stage: Stage, peers: Peers, server: LoopbackServer, urls: dict[str, str],
               releases: list[Callable[[], None]]) -> SystemUnderTest:
        from simulator.sut.peers import RequestsRouter
        from simulator.sut.system import SystemUnderTest
        from simulator.sut.transports import (
            AsgiTransport,
            HttpTransport,
            TransportError,
            WsgiTransport,
        )

        spec = self.spec
        transport: Transport
        details: Callable[[], tuple[str, ...]] | None = None
        before_call: Callable[[datetime], None] | None = None
        if spec.kind == "python":
            os.environ.update(system_environment(spec.role, urls))
            app = self._app
            if _positional(app) == 0:  # a factory: a fresh app per world
                try:
                    app = app()
                except Exception as error:  # the user's factory failed
                    raise SystemFailure(f"{spec.text}: the factory failed "
                                        f"({type(error).__name__}: {redact(str(error))})",
                                        role=spec.role) from None
            if not callable(app):
                raise SystemFailure(f"{spec.text}: the factory returned "
                                    f"{type(app).__name__}, not a WSGI or ASGI app",
                                    role=spec.role)
            try:
                transport = AsgiTransport(app, spec.role, lifespan=True) if _is_asgi(app) \
                    else WsgiTransport(app, spec.role)
            except TransportError as error:
                raise SystemFailure(error.reason, role=spec.role) from None
            if self._router is None:
                self._router = RequestsRouter(self.timeout)
            router = self._router
            router.attach(peers, server.base)
            releases.append(router.detach)
            clock = _Clock()
            clock.start(stage.clock.now)
            releases.append(clock.stop)
            tz = stage.jurisdiction.tz

            def before_call(now: datetime) -> None:
                clock.move(now, now.astimezone(tz).utcoffset())
        elif spec.kind == "http":
            transport = HttpTransport(spec.value, self.timeout)
        else:
            port = _free_port()
            process = _Process(spec, port, system_environment(spec.role, urls, port=port))
            releases.append(process.stop)
            details = process.tail
            base = f"http://127.0.0.1:{port}"
            transport = HttpTransport(base, self.timeout)
            self._wait_ready(process, transport)
        releases.append(transport.close)

        def release_all() -> None:
            for release in reversed(releases):
                with contextlib.suppress(Exception):
                    release()

        return SystemUnderTest(
            spec.role, transport, stage, contracts=self.contracts, keyring=self.keyring,
            peers=urls, timeout=self.timeout, before_call=before_call, details=details,
            on_close=release_all)

    def _wait_ready(self, process: _Process, transport: HttpTransport) -> None:
        """Until the started command answers ``GET /lendsim/clock`` (real time, bounded)."""
        deadline = time.monotonic() + self.ready
        spec = self.spec
        while True:
            status = process.exited()
            if status is not None:
                raise SystemFailure(f"{spec.text}: the command exited (status {status}) "
                                    "before it answered GET /lendsim/clock",
                                    role=spec.role, details=process.tail())
            with contextlib.suppress(Exception):
                transport.start("GET", "/lendsim/clock", {}, b"").result(
                    max(0.1, deadline - time.monotonic()))
                return  # it answers (whether as its contract says, the calls will tell)
            if time.monotonic() >= deadline:
                raise SystemFailure(f"{spec.text}: nothing answered GET /lendsim/clock on "
                                    f"port {transport.base.rsplit(':', 1)[1]} within "
                                    f"{self.ready:g} s", role=spec.role,
                                    details=process.tail())
            time.sleep(0.05)


@contextlib.contextmanager
def launched(spec: TargetSpec, **options: Any) -> Iterator[Launcher]:
    """A :class:`Launcher` for the duration of a block."""
    launcher = Launcher(spec, **options)
    try:
        yield launcher
    finally:
        launcher.close()

