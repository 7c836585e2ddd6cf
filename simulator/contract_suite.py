"""The contract suite: does an HTTP face do what its contract says?

``lendsim contracts test`` runs `schemathesis <https://schemathesis.io>`_
against each party's contract — in process against a fresh sandbox world
(default) or against a live server laid out like ``lendsim serve`` (``--url``)
— and adds lendsim's own checks beyond the schema:

=============================  ===============================================================
``lendsim_idempotent_replay``  a replayed ``Idempotency-Key`` answers the identical response and
                               posts nothing new (the loan reads the same before and after)
``lendsim_key_reuse_refused``  the same key with a different repayment is refused (422)
``lendsim_value_time``         a posting keeps the value time it was sent with; a repayment the
                               platform captured lists the value time it answered
``lendsim_no_personal_data``   no error body carries an ID number, a mobile phone number or an SSN
``lendsim_positive_data``      a request the contract allows is not refused as malformed (400,
                               415, or a 422 titled "Invalid request"; a 422 with a title of its
                               own is a business rule, like a reused key)
``lendsim_clock``              the sandbox clock moves forward only, exactly as far as asked,
                               at once or when polled
=============================  ===============================================================

The schemathesis part covers the examples in the contracts, boundary values
(coverage), random positive and negative data (fuzzing) and stateful sequences
through the contracts' OpenAPI links, with every built-in check (``no 5xx``,
status codes, content types, response schemas, …; ``positive_data_acceptance``
gives way to ``lendsim_positive_data``). Generation is seeded
(``--seed``) and bounded (``--max-examples`` per operation and phase, no
shrinking), so a run is repeatable and its request count bounded. Every request
is signed with a partner key of the test keyring (:mod:`simulator.signing`), as
the party contracts' security schemes say — given to schemathesis as the run's
authentication, so the requests it means to send without credentials (a negative
case without a signature header; ``ignored_auth``'s unsigned and forged probes)
go unsigned, and must be refused with ``401``.

A failure names the party, the operation, the check, what was wrong, and a
request that reproduces it (a ``curl`` command without the signature headers,
which never replay: sign it afresh, see :mod:`simulator.signing`). Personal
data in the report is masked, long digit runs in request bodies included.
"""

from __future__ import annotations

import abc
import json
import logging
import re
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from simulator.clock import UTC
from simulator.contracts import load_contracts
from simulator.errors import LendsimError
from simulator.loader import load_scenario_text
from simulator.privacy import redact
from simulator.sandbox import Sandbox
from simulator.scenario import Scenario
from simulator.signing import SIGNED_HEADERS, Keyring

__all__ = [
    "DEFAULT_MAX_EXAMPLES",
    "PARTIES",
    "Finding",
    "PartyReport",
    "SuiteReport",
    "run_contract_suite",
    "suite_scenario",
]

#: the contracts a run covers by default, in order
PARTIES: tuple[str, ...] = ("bank", "platform", "bureau", "sms", "sandbox")
DEFAULT_MAX_EXAMPLES = 10
#: the partner key the suite signs with (not a link's caller: calls reach parties directly)
SUITE_KEY_ID = "partner"
#: how far the suite's in-process sandbox clock may move: it bounds the work of an advance
#: (a fuzzed crash of the bank lasting a year makes the platform retry a file a day, hourly)
_SUITE_HORIZON = timedelta(days=90)
_STATEFUL_STEPS = 8

#: The in-process world: the borrowers the contracts' examples name (``L-alice``).
SUITE_WORLD = """\
scenario: contract-suite
summary: The world the contract suite runs in; its loans are the ones the contracts' examples use.
start: 2026-01-01T09:00
until: 2026-12-31
borrowers:
  - id: alice
    loan: {principal: 12000.00, annual_rate: 0.18, months: 12, disbursed: 2026-01-01}
  - id: bob
    loan: {principal: 5000.00, annual_rate: 0.12, months: 6, disbursed: 2026-01-01}
"""

# Personal data that must never show in an error body (the masked forms never match).
_PERSONAL = (
    ("an ID number", re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")),
    ("a mobile phone number", re.compile(r"(?<![0-9])1[3-9]\d{9}(?![0-9])")),
    ("an SSN", re.compile(r"(?<![0-9])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![0-9])")),
)
#: values the probes plant where personal data could be echoed
_PROBE_VALUES = ("110101199003071234", "13812345678", "123-45-6789")
#: a live server's clock is read again after this many seconds, or after a request to these
_CLOCK_TTL = 5.0
_CLOCK_MOVERS = ("/clock/advance", "/reset")
_SIGNATURE_HEADER = re.compile(r" -H '(?:X-Lendsim-[A-Za-z-]+|Authorization)(?:: [^']*|;)'")


def suite_scenario() -> Scenario:
    """The scenario of the suite's in-process sandbox."""
    return load_scenario_text(SUITE_WORLD, "<contract-suite>")


# -- reports ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Finding:
    """One failed check, with a request that reproduces it."""

    party: str
    operation: str  #: ``POST /repayments (post_repayment)``
    check: str
    title: str
    message: str
    reproduce: str = ""

    def text(self) -> str:
        lines = [f"FAIL {self.party} {self.operation}: {self.check} — {self.title}"]
        # schemathesis appends the whole schema and value: the first paragraphs say it
        message = re.split(r"\n\s*Schema( at [^\n]*)?:\n", self.message.strip())[0]
        lines += [f"    {line}" for line in message.splitlines() if line.strip()]
        if self.reproduce:
            lines.append("    reproduce (add the X-Lendsim-* signature headers first):")
            lines += [f"      {line}" for line in self.reproduce.strip().splitlines()]
        return redact("\n".join(lines))


@dataclass
class PartyReport:
    """How one contract fared."""

    party: str
    operations: int = 0
    #: ``POST /repayments (post_repayment)`` for each operation of the contract
    labels: list[str] = field(default_factory=list)
    requests: int = 0
    failures: list[Finding] = field(default_factory=list)
    checks: set[str] = field(default_factory=set)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.failures


@dataclass
class SuiteReport:
    """A whole run of the suite."""

    target: str
    seed: int
    max_examples: int
    parties: list[PartyReport] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(p.passed for p in self.parties)

    @property
    def failures(self) -> list[Finding]:
        return [f for p in self.parties for f in p.failures]

    def text(self) -> str:
        """The human report: one line per contract, then every failure."""
        lines = [f"lendsim contracts test — {self.target}, seed {self.seed}, "
                 f"at most {self.max_examples} examples per operation and phase"]
        for p in self.parties:
            verdict = "ok  " if p.passed else "FAIL"
            lines.append(f"{verdict} {p.party:<9} {p.operations:>2} operations "
                         f"{p.requests:>5} requests {len(p.failures):>3} failures "
                         f"{p.seconds:6.1f} s")
        for finding in self.failures:
            lines.append("")
            lines.append(finding.text())
        failed = len(self.failures)
        lines.append("")
        lines.append(f"{failed} failure(s) in {sum(not p.passed for p in self.parties)} of "
                     f"{len(self.parties)} contract(s)" if failed else
                     f"all {len(self.parties)} contract(s) conform")
        return "\n".join(lines)

    def junit(self) -> str:
        """JUnit XML: a test suite per contract, a test case per operation and check."""
        root = ET.Element("testsuites", name="lendsim contracts test",
                          tests=str(sum(len(_junit_cases(p)) for p in self.parties)),
                          failures=str(len(self.failures)))
        for p in self.parties:
            cases = _junit_cases(p)
            suite = ET.SubElement(root, "testsuite", name=f"contracts.{p.party}",
                                  tests=str(len(cases)), failures=str(len(p.failures)),
                                  time=f"{p.seconds:.3f}")
            for name, found in cases.items():
                case = ET.SubElement(suite, "testcase", classname=f"contracts.{p.party}",
                                     name=name)
                for finding in found:
                    failure = ET.SubElement(case, "failure",
                                            message=redact(f"{finding.check}: {finding.title}"))
                    failure.text = finding.text()
        return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _junit_cases(report: PartyReport) -> dict[str, list[Finding]]:
    """A case per operation of the contract (and one for failures of no operation)."""
    cases: dict[str, list[Finding]] = {label: [] for label in report.labels}
    for finding in report.failures:
        cases.setdefault(finding.operation, []).append(finding)
    return cases


# -- signing the suite's requests -----------------------------------------------------------------
class _Signer(requests.auth.AuthBase):
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


# -- where the suite sends its requests ------------------------------------------------------------
@dataclass
class _Reply:
    status: int
    body: Any
    text: str


class _Target(abc.ABC):
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


class _InProcess(_Target):
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


class _Live(_Target):
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


class _Run:
    """What the checks of one party's run need: where to send, how to sign, the contracts."""

    def __init__(self, party: str, target: _Target, signer: _Signer) -> None:
        self.party = party
        self.target = target
        self.signer = signer
        self.contracts = load_contracts()
        self.client = target.session()
        self.findings: list[Finding] = []
        #: Idempotency-Keys a 201 answered in this run: a later 201 under one is a replay
        self.posted_keys: set[str] = set()

    def call(self, party: str, operation: str, fields: Mapping[str, Any] | None = None,
             headers: Mapping[str, str] | None = None, raw: bytes | None = None) -> _Reply:
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
        return _Reply(response.status_code, body, response.text)

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


class _State:
    """The run under way (its checks and auth consult it) and whether they are installed."""

    active: _Run | None = None
    registered = False
    lock = threading.Lock()


class _SuiteAuth(requests.auth.AuthBase):
    """Signs a schemathesis request with the signer of the run under way (if any).

    Schemathesis fills a party contract's security scheme with placeholder values for the
    four signature headers, which this replaces with a real signature. A request without
    them goes unsigned: one to the sandbox (its contract asks for no signature), or a
    negative case that left a signature header out on purpose (it must get 401).
    """

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        run = _State.active
        if run is None:
            return request
        if not all(name in request.headers for name in SIGNED_HEADERS):
            run.signer.sending(request)  # the sandbox's (unsigned) or a negative case
            return request
        return run.signer(request)


def _personal_data(text: str) -> str | None:
    """What kind of personal data ``text`` shows, if any."""
    for kind, pattern in _PERSONAL:
        if pattern.search(text):
            return kind
    return None


def _operation_id(case: Any) -> str | None:
    raw = getattr(getattr(case.operation, "definition", None), "raw", None)
    found = raw.get("operationId") if isinstance(raw, Mapping) else None
    return str(found) if found is not None else None


def _json(response: Any) -> Any:
    try:
        return json.loads(response.content) if response.content else None
    except ValueError:
        return None


def _register() -> None:
    """Install the suite's authentication and checks in schemathesis (once per process).

    They do nothing outside a run of this suite.
    """
    if _State.registered:
        return
    import schemathesis

    def lendsim_no_personal_data(ctx: Any, response: Any, case: Any) -> bool | None:
        """No error body carries an ID number, a mobile phone number or an SSN."""
        if _State.active is None or response.status_code < 400 or not response.content:
            return None
        kind = _personal_data(response.content.decode("utf-8", "replace"))
        if kind is not None:
            _fail(case, "Personal data in an error",
                  f"the {response.status_code} error body shows {kind}")
        return None

    def lendsim_positive_data(ctx: Any, response: Any, case: Any) -> bool | None:
        """A request the contract allows is not refused as malformed (400, 415, or a 422
        titled "Invalid request"); a 422 with its own title is a business rule."""
        meta = getattr(case, "meta", None)
        if _State.active is None or meta is None or not meta.generation.mode.is_positive:
            return None
        status = response.status_code
        body = _json(response)
        title = body.get("title") if isinstance(body, dict) else None
        if status in (400, 401, 413, 415) or (status == 422 and title in (None,
                                                                          "Invalid request")):
            detail = body.get("detail", "") if isinstance(body, dict) else ""
            _fail(case, "Valid request refused",
                  f"a request the contract allows was refused with {status}: "
                  f"{title or ''} {detail}".strip())
        return None

    def lendsim_value_time(ctx: Any, response: Any, case: Any) -> bool | None:
        """A posting keeps the value time the repayment was sent with."""
        run = _State.active
        if run is None or response.status_code != 201 or \
                _operation_id(case) != "post_repayment" or run.party != "bank":
            return None
        sent = case.body.get("value_time") if isinstance(case.body, dict) else None
        answered = _json(response)
        key = response.request.headers.get("Idempotency-Key")
        if key in run.posted_keys:
            return None  # a replay: the original posting answers, with its own value time
        run.posted_keys.add(str(key))
        if not isinstance(answered, dict) or not isinstance(sent, str):
            return None
        try:
            _same_instant(sent, answered.get("value_time"), "the posting answered")
            posting = run.call("bank", "get_posting", {"posting_id": answered.get("posting_id")})
            if posting.status == 200 and isinstance(posting.body, dict):
                _same_instant(sent, posting.body.get("value_time"), "get_posting reads")
        except AssertionError as problem:
            _fail(case, "Value time not honoured", str(problem))
        return None

    def lendsim_idempotent_replay(ctx: Any, response: Any, case: Any) -> bool | None:
        """A replayed Idempotency-Key answers the identical response and posts nothing."""
        run = _State.active
        if run is None or response.status_code != 201 or \
                _operation_id(case) != "post_repayment" or run.party != "bank":
            return None
        original = _json(response)
        request = response.request
        key = request.headers.get("Idempotency-Key")
        if not isinstance(original, dict) or not key:
            return None
        raw = request.body if isinstance(request.body, bytes) else \
            str(request.body or "").encode("utf-8")
        problems = _replay(run, str(original.get("loan_id")), original, raw, key)
        if problems:
            _fail(case, "Replay not idempotent", "\n".join(problems))
        return None

    # documented API, set as a function attribute that type checkers cannot see
    schemathesis.auth.set_from_requests(_SuiteAuth())  # type: ignore[attr-defined]
    for check in (lendsim_no_personal_data, lendsim_positive_data, lendsim_value_time,
                  lendsim_idempotent_replay):
        schemathesis.check(check)
    _State.registered = True


def _fail(case: Any, title: str, message: str) -> None:
    """Fail a schemathesis check with a title of its own."""
    from schemathesis.core.failures import Failure

    raise Failure(operation=case.operation.label, title=title, message=message)


def _same_instant(sent: str, answered: Any, what: str) -> None:
    try:
        same = isinstance(answered, str) and \
            datetime.fromisoformat(sent.upper()) == datetime.fromisoformat(answered.upper())
    except ValueError:
        same = False
    if not same:
        raise AssertionError(f"the repayment was sent with value time {sent}, but {what} "
                             f"{answered!r}")


def _replay(run: _Run, loan_id: str, original: Any, raw: bytes, key: str) -> list[str]:
    """Send a repayment again under its key: the same answer, and the loan unchanged."""
    before = run.call("bank", "get_loan", {"loan_id": loan_id})
    again = run.call("bank", "post_repayment", headers={"Idempotency-Key": key}, raw=raw)
    after = run.call("bank", "get_loan", {"loan_id": loan_id})
    problems = []
    if again.status != 201:
        problems.append(f"replaying Idempotency-Key {key!r} answered {again.status} instead "
                        f"of the original 201: {again.text[:200]}")
    elif again.body != original:
        problems.append(f"replaying Idempotency-Key {key!r} answered a different 201 "
                        f"{_differences(original, again.body)}")
    if before.body != after.body:
        problems.append(f"replaying Idempotency-Key {key!r} changed loan {loan_id}: "
                        f"{_differences(before.body, after.body)}")
    return problems


def _differences(expected: Any, got: Any) -> str:
    if not isinstance(expected, dict) or not isinstance(got, dict):
        return f"{json.dumps(got)[:200]}"
    changed = [f"{key} {json.dumps(expected.get(key))} → {json.dumps(got.get(key))}"
               for key in sorted(set(expected) | set(got)) if expected.get(key) != got.get(key)
               and not isinstance(expected.get(key), list | dict)]
    nested = [key for key in sorted(set(expected) | set(got)) if expected.get(key) !=
              got.get(key) and isinstance(expected.get(key), list | dict)]
    changed += [f"{key} differs" for key in nested]
    return "(" + "; ".join(changed) + ")" if changed else "(an identical body)"


# -- lendsim's own probes --------------------------------------------------------------------------
def _probe(run: _Run, seed: int) -> None:
    """Deterministic request sequences for what the schema cannot say (from a reset world)."""
    run.target.reset()
    _probe_personal_data(run)
    if run.party == "bank":
        _probe_bank(run, seed)
    elif run.party == "platform":
        _probe_platform(run, seed)
    elif run.party == "sandbox":
        _probe_sandbox(run)


def _probe_personal_data(run: _Run) -> None:
    """Plant ID numbers, phone numbers and SSNs where an error could echo them."""
    party = run.party
    for operation, (method, _path, params) in sorted(run.contracts.operations(party).items()):
        attempts: list[tuple[dict[str, Any], str]] = []
        if params:
            for value in _PROBE_VALUES:
                attempts.append(({name: value for name in params}, f"{value!r} in the path"))
        example = run.example(party, operation)
        if example is not None and method not in ("GET", "DELETE"):
            planted = {key: _PROBE_VALUES[i % len(_PROBE_VALUES)] if isinstance(value, str)
                       else value for i, (key, value) in enumerate(example.items())}
            planted["remark"] = _PROBE_VALUES[1]
            attempts.append((planted, "ID and phone numbers in every text field"))
        for fields, what in attempts:
            reply = run.call(party, operation, fields, headers={"Idempotency-Key": "KEY-probe"})
            kind = _personal_data(reply.text) if reply.status >= 400 else None
            if kind is not None:
                run.find(operation, "lendsim_no_personal_data", "Personal data in an error",
                         f"with {what}, the {reply.status} error body shows {kind}",
                         run.curl(party, operation, fields, {"Idempotency-Key": "KEY-probe"}))


def _probe_bank(run: _Run, seed: int) -> None:
    """Book a loan, post a repayment, replay it, reuse its key, read the posting."""
    booking = run.example("bank", "book_loan")
    repayment = run.example("bank", "post_repayment")
    if booking is None or repayment is None:
        run.find("post_repayment", "lendsim_idempotent_replay", "No example to start from",
                 "the bank contract needs request examples for book_loan and post_repayment")
        return
    loan_id = f"L-suite-{seed}"
    booking.update(loan_id=loan_id, borrower=f"suite{seed}")
    booked = run.call("bank", "book_loan", booking)
    if booked.status not in (201, 409):
        run.find("book_loan", "lendsim_idempotent_replay", "Could not book a loan",
                 f"booking {loan_id} answered {booked.status}: {booked.text[:300]}",
                 run.curl("bank", "book_loan", booking))
        return
    value_time = (run.target.now() - timedelta(hours=1)).replace(microsecond=0)
    key = f"PAY-suite-{seed}"
    repayment.update(payment_id=key, loan_id=loan_id, amount=1000,
                     value_time=value_time.astimezone(UTC).isoformat())
    headers = {"Idempotency-Key": key}
    raw = json.dumps(repayment).encode("utf-8")
    first = run.call("bank", "post_repayment", headers=headers, raw=raw)
    reproduce = run.curl("bank", "post_repayment", repayment, headers)
    if first.status != 201 or not isinstance(first.body, dict):
        run.find("post_repayment", "lendsim_idempotent_replay", "Could not post a repayment",
                 f"posting {key} answered {first.status}: {first.text[:300]}", reproduce)
        return
    for problem in _replay(run, loan_id, first.body, raw, key):
        run.find("post_repayment", "lendsim_idempotent_replay", "Replay not idempotent",
                 problem, f"{reproduce}\n(send it twice)")
    try:
        _same_instant(repayment["value_time"], first.body.get("value_time"),
                      "the posting answered")
        posting = run.call("bank", "get_posting", {"posting_id": first.body.get("posting_id")})
        _same_instant(repayment["value_time"], (posting.body or {}).get("value_time"),
                      "get_posting reads")
    except AssertionError as problem:
        run.find("post_repayment", "lendsim_value_time", "Value time not honoured",
                 str(problem), reproduce)
    reused = dict(repayment, amount=2000)
    second = run.call("bank", "post_repayment", headers=headers,
                      raw=json.dumps(reused).encode("utf-8"))
    if second.status != 422:
        run.find("post_repayment", "lendsim_key_reuse_refused", "Key reuse accepted",
                 f"Idempotency-Key {key!r} sent again with a different amount answered "
                 f"{second.status}, not 422: one key must mean one repayment",
                 f"{reproduce}\n{run.curl('bank', 'post_repayment', reused, headers)}")


def _probe_platform(run: _Run, seed: int) -> None:
    """Open a loan in the app, repay it, and find the repayment with its value time."""
    opening = run.example("platform", "open_loan")
    if opening is None:
        return
    loan_id = f"L-suite-{seed}"
    opening.update(loan_id=loan_id, borrower=f"suite{seed}")
    opened = run.call("platform", "open_loan", opening)
    if opened.status not in (201, 409):
        run.find("open_loan", "lendsim_value_time", "Could not open a loan",
                 f"opening {loan_id} answered {opened.status}: {opened.text[:300]}",
                 run.curl("platform", "open_loan", opening))
        return
    body = {"loan_id": loan_id, "amount": 1000}
    paid = run.call("platform", "repay", body)
    reproduce = run.curl("platform", "repay", body)
    if paid.status != 201 or not isinstance(paid.body, dict):
        run.find("repay", "lendsim_value_time", "Could not repay",
                 f"repaying {loan_id} answered {paid.status}: {paid.text[:300]}", reproduce)
        return
    listed = run.call("platform", "list_payments", {"loan_id": loan_id})
    payments = (listed.body or {}).get("payments", []) if isinstance(listed.body, dict) else []
    match = [p for p in payments if isinstance(p, dict)
             and p.get("payment_id") == paid.body.get("payment_id")]
    try:
        if not match:
            raise AssertionError(f"list_payments does not list {paid.body.get('payment_id')}")
        _same_instant(str(paid.body.get("value_time")), match[0].get("value_time"),
                      "list_payments reads")
    except AssertionError as problem:
        run.find("repay", "lendsim_value_time", "Value time not honoured", str(problem),
                 reproduce)


def _probe_sandbox(run: _Run) -> None:
    """The clock moves forward only, exactly as far as asked, now or when polled."""
    start = run.call("sandbox", "get_clock")
    if start.status != 200 or not isinstance(start.body, dict) or \
            start.body.get("status") != "ready":
        run.find("get_clock", "lendsim_clock", "Clock not ready",
                 f"a reset sandbox's clock answered {start.status}: {start.text[:300]}",
                 run.curl("sandbox", "get_clock", {}))
        return
    now = datetime.fromisoformat(start.body["now"])
    steps: list[tuple[dict[str, Any], datetime | None]] = [
        ({"by": "1h"}, now + timedelta(hours=1)),
        ({"to": now.isoformat()}, None),  # now is an hour ago: refused
        ({"by": "30d"}, now + timedelta(days=30, hours=1)),
    ]
    for body, expected in steps:
        reply = run.call("sandbox", "advance_clock", body)
        reproduce = run.curl("sandbox", "advance_clock", body)
        if expected is None:
            if reply.status != 409:
                run.find("advance_clock", "lendsim_clock", "Clock went back",
                         f"advancing to an instant in the past answered {reply.status}, "
                         "not 409", reproduce)
            continue
        deadline = time.monotonic() + 30
        while reply.status in (200, 202) and isinstance(reply.body, dict) and \
                reply.body.get("status") == "advancing" and time.monotonic() < deadline:
            time.sleep(0.01)
            reply = run.call("sandbox", "get_clock")
        reached = reply.body.get("now") if isinstance(reply.body, dict) else None
        try:
            moved = reached is not None and datetime.fromisoformat(str(reached)) == expected
        except ValueError:
            moved = False
        if reply.status not in (200, 202) or not moved:
            run.find("advance_clock", "lendsim_clock", "Clock not where it was sent",
                     f"advancing {body} should reach {expected.isoformat()}, but the clock "
                     f"answered {reply.status}: {reply.text[:300]}", reproduce)
            return


# -- running ---------------------------------------------------------------------------------
def _config(seed: int, max_examples: int, base_url: str | None) -> Any:
    from schemathesis.config import SchemathesisConfig

    data: dict[str, Any] = {
        "seed": seed,
        "workers": 1,
        "generation": {"max-examples": max_examples, "database": "none", "mode": "all",
                       "no-shrink": True},
        "phases": {"stateful": {"max-steps": _STATEFUL_STEPS,
                                "inference": {"algorithms": []}}},
        # replaced by lendsim_positive_data, which tells a business rule from a rejection
        "checks": {"positive_data_acceptance": {"enabled": False}},
        "request-timeout": 30,
    }
    if base_url is not None:
        data["base-url"] = base_url
    return SchemathesisConfig.from_dict(data)


def _clean_curl(code: str, case: Any) -> str:
    """A schemathesis reproduction without the signature headers (they never replay), with
    the ``Idempotency-Key`` it filtered as if it were a secret."""
    code = _SIGNATURE_HEADER.sub("", code)
    headers = getattr(case, "headers", None) or {}
    key = next((v for k, v in headers.items() if k.lower() == "idempotency-key"), None)
    if isinstance(key, str) and "'" not in key:
        code = code.replace("-H 'Idempotency-Key: [Filtered]'", f"-H 'Idempotency-Key: {key}'")
    return code


def _schemathesis(run: _Run, report: PartyReport, seed: int, max_examples: int,
                  base_url: str | None) -> None:
    from schemathesis.engine import events, from_schema

    try:
        schema = run.target.load(run.party, _config(seed, max_examples, base_url))
    except Exception as error:  # the contract could not be fetched: bad --url
        raise LendsimError(f"cannot load the {run.party} contract from {run.target.label}: "
                           f"{redact(str(error)).splitlines()[0] if str(error) else error!r}"
                           ) from None
    labels = {f"{method} {path}": f"{method} {path} ({name})"
              for name, (method, path, _) in run.contracts.operations(run.party).items()}
    seen: set[tuple[str, str, str]] = set()
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            recorder = event.recorder
            for case_id, nodes in recorder.checks.items():
                node_case = recorder.cases.get(case_id)
                label = node_case.value.operation.label if node_case is not None else \
                    recorder.label
                for node in nodes:
                    report.checks.add(node.name)
                    info = node.failure_info
                    if info is None:
                        continue
                    key = (label, node.name, info.failure.title)
                    if key in seen:
                        continue
                    seen.add(key)
                    report.failures.append(Finding(
                        run.party, labels.get(label, label), node.name, info.failure.title,
                        info.failure.message,
                        _clean_curl(info.code_sample,
                                    node_case.value if node_case is not None else None)))
        elif isinstance(event, events.NonFatalError):
            report.failures.append(Finding(run.party, event.label or run.party, "error",
                                           "The run hit an error",
                                           event.info.format(base_url_is_set=True)))
        elif isinstance(event, events.FatalError):
            report.failures.append(Finding(run.party, run.party, "error",
                                           "The run stopped", str(event.exception)))


def _run_party(party: str, target: _Target, keyring: Keyring, key_id: str, seed: int,
               max_examples: int) -> PartyReport:
    began = time.perf_counter()
    target.reset()
    signer = _Signer(keyring, key_id, target.now, target.moved)
    run = _Run(party, target, signer)
    report = PartyReport(party, operations=len(run.contracts.operations(party)), labels=[
        f"{method} {path} ({name})"
        for name, (method, path, _) in run.contracts.operations(party).items()])
    base_url = target.url(target.prefix(party)) if isinstance(target, _Live) else None
    faces = logging.getLogger("lendsim.http")
    level = faces.level
    with _State.lock:
        _State.active = run
        faces.setLevel(logging.ERROR)  # what a face would warn of is a finding here
        try:
            _schemathesis(run, report, seed, max_examples, base_url)
            _probe(run, seed)
        finally:
            _State.active = None
            faces.setLevel(level)
    report.failures.extend(run.findings)
    report.checks.update(f.check for f in run.findings)
    report.requests = signer.count
    report.seconds = time.perf_counter() - began
    return report


def run_contract_suite(parties: Sequence[str] = PARTIES, *, url: str | None = None,
                       seed: int = 0, max_examples: int = DEFAULT_MAX_EXAMPLES,
                       keyring: Keyring | None = None, key_id: str = SUITE_KEY_ID,
                       defects: Sequence[str] = (), sandbox: Sandbox | None = None
                       ) -> SuiteReport:
    """Run the suite for ``parties``: in process (a fresh sandbox of :func:`suite_scenario`
    with ``defects``, or the ``sandbox`` given) or against the server at ``url``.

    Raises :class:`~simulator.errors.LendsimError` for bad input (an unknown party, a
    URL that serves no contract, a bad number).
    """
    unknown = [p for p in parties if p not in PARTIES]
    if unknown:
        raise LendsimError(f"no contract for {', '.join(unknown)} "
                           f"(there are: {', '.join(PARTIES)})")
    if max_examples < 1:
        raise LendsimError(f"--max-examples must be at least 1 (got {max_examples})")
    if seed < 0:
        raise LendsimError(f"--seed must be 0 or more (got {seed})")
    if url is not None and urlsplit(url).scheme not in ("http", "https"):
        raise LendsimError(f"--url must be an http:// or https:// address (got {url!r})")
    keyring = keyring or Keyring.for_testing()
    if key_id not in keyring.key_ids:
        raise LendsimError(f"the keyring has no key {key_id!r}")
    _register()
    with _target(sandbox, url, defects, keyring) as target:
        report = SuiteReport(target.label, seed, max_examples)
        for party in parties:
            report.parties.append(_run_party(party, target, keyring, key_id, seed,
                                             max_examples))
    return report


@contextmanager
def _target(sandbox: Sandbox | None, url: str | None, defects: Sequence[str],
            keyring: Keyring) -> Iterator[_Target]:
    """Where a run sends its requests; a sandbox the run makes itself is closed after it."""
    if url is not None:
        yield _Live(url)
    elif sandbox is not None:
        yield _InProcess(sandbox)
    else:
        made = Sandbox(suite_scenario(), defects=defects, keyring=keyring,
                       horizon=_SUITE_HORIZON)
        try:
            yield _InProcess(made)
        finally:
            made.close()
