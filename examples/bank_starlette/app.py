"""The bank's HTTP service (Starlette under uvicorn): ``python app.py --port 8000``.

It is configured by its environment:

* ``LENDSIM_KEY_ID`` / ``LENDSIM_KEY_SECRET`` — the key it signs its calls with;
* ``LENDSIM_PEER_KEYS`` — JSON ``{key id: secret}`` of who may call it;
* ``LENDSIM_PLATFORM_URL``, ``LENDSIM_BUREAU_URL``, ``LENDSIM_SMS_URL``,
  ``LENDSIM_PAYMENTS_URL`` — its partners (a reset's ``peers`` wins);
* ``EXAMPLE_BUG=1`` — plant the integration bug of the README.

Every request must be signed (see ``signing.py``); errors are
``application/problem+json``. ``/lendsim/*`` is how a test harness drives it:
``reset`` (a fresh database, the clock set), ``clock`` (time moves forward and
every job due runs), ``crash`` (lose what was not committed). The bank never
reads the wall clock: its time is what it was last set to. Every answer carries
``Lendsim-Next-Wakeup``: when it next has work.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import shutil
import tempfile
import threading
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import uvicorn
from dayend import Bank
from ledger import Problem
from signing import SignatureRejected, Signer, Verifier
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

__all__ = ["build_app"]

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,79}")
_LIMIT = re.compile(r"1000|[1-9][0-9]{0,2}")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_RATE = re.compile(r"0(\.[0-9]{1,8})?|1(\.0{1,8})?")
_PERIOD = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")
_PHONE = re.compile(r"[0-9+() .-]{3,32}")
_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})")
_LOAN_FIELDS = ("loan_id", "borrower", "subject_id", "name", "phone", "principal",
                "annual_rate", "months", "method", "disbursed", "grace_days",
                "arrears_tolerance", "holiday_shift")
Handler = Callable[["Service", "Call"], tuple[int, Any]]


def _answer(status: int, body: Any = None, headers: dict[str, str] | None = None) -> Response:
    if body is None:
        return Response(status_code=status, headers=headers)
    media = "application/problem+json" if status >= 400 else "application/json"
    return Response(json.dumps(body), status, headers=headers, media_type=media)


def _problem(status: int, title: str, detail: str) -> Response:
    headers = {"WWW-Authenticate": "Lendsim-HMAC-SHA256"} if status == 401 else None
    return _answer(status, {"type": "about:blank", "title": title, "status": status,
                            "detail": detail}, headers)


class Call:
    """One request as a handler sees it: path parameters, query, JSON body, headers."""

    def __init__(self, request: Request, raw: bytes) -> None:
        self.params = dict(request.path_params)
        self.query = dict(request.query_params)
        self.headers = request.headers
        self._raw = raw

    def body(self) -> dict[str, Any]:
        media = self.headers.get("content-type", "").split(";")[0].strip().lower()
        if media != "application/json" and not (media.startswith("application/")
                                                and media.endswith("+json")):
            raise Problem(415, "Unsupported media type", "the body must be application/json")
        try:
            found = json.loads(self._raw)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise Problem(400, "Malformed JSON", "the body is not valid JSON") from None
        if not isinstance(found, dict):
            raise Problem(422, "Invalid request", "the body must be a JSON object")
        return found


def _only(body: dict[str, Any], *names: str) -> dict[str, Any]:
    """The body, refused with 422 when it carries a field the operation does not take."""
    unexpected = set(body) - set(names)
    if unexpected:
        raise Problem(422, "Invalid request", f"unexpected field(s): {len(unexpected)}")
    return body


def _parses(parse: Callable[[str], Any], text: str) -> bool:
    try:
        parse(text)
    except ValueError:
        return False
    return True


def _require(body: dict[str, Any], **kinds: str) -> None:
    """Each named field present and of its kind, else a 422 naming it."""
    for name, kind in kinds.items():
        value = body.get(name)
        if isinstance(value, float) and value.is_integer():  # JSON's 12.0 is the integer 12
            value = body[name] = int(value)
        ok = {
            "id": isinstance(value, str) and _ID.fullmatch(value) is not None,
            "text": isinstance(value, str) and 0 < len(value) <= 100,
            "subject": isinstance(value, str) and 0 < len(value) <= 32,
            "money": isinstance(value, int) and not isinstance(value, bool)
            and 0 < value <= 10**14,
            "count": isinstance(value, int) and not isinstance(value, bool)
            and 0 <= value <= 10**6,
            "number": isinstance(value, int) and not isinstance(value, bool)
            and 1 <= value <= 600,
            "date": isinstance(value, str) and _DATE.fullmatch(value) is not None
            and _parses(date.fromisoformat, value),
            "rate": isinstance(value, str) and _RATE.fullmatch(value) is not None,
            "list": isinstance(value, list),
            "instant": isinstance(value, str) and _INSTANT.fullmatch(value) is not None
            and _parses(datetime.fromisoformat, value),
            "period": isinstance(value, str) and _PERIOD.fullmatch(value) is not None,
            "phone": isinstance(value, str) and _PHONE.fullmatch(value) is not None,
            "days": isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 365,
            "amount": isinstance(value, int) and not isinstance(value, bool)
            and 0 <= value <= 10**14,
            "shift": value in ("none", "next_working_day"),
            "method": value in ("equal_installment", "equal_principal"),
        }[kind]
        if not ok:
            raise Problem(422, "Invalid request",
                          f"field {name!r} is {'missing' if value is None else 'malformed'}")


class Service:
    """The bank behind the routes (a new :class:`Bank` at every reset)."""

    def __init__(self) -> None:
        env = os.environ
        self.signer = Signer(env.get("LENDSIM_KEY_ID", "bank"), env.get("LENDSIM_KEY_SECRET", ""))
        self.verifier = Verifier(json.loads(env.get("LENDSIM_PEER_KEYS", "{}")))
        self.peers = {name: env[f"LENDSIM_{name.upper()}_URL"].rstrip("/")
                      for name in ("platform", "bureau", "sms", "payments")
                      if env.get(f"LENDSIM_{name.upper()}_URL")}
        self.folder = Path(tempfile.mkdtemp(prefix="example-bank-"))
        self.bank: Bank | None = None
        self.clock = datetime(2000, 1, 1, tzinfo=UTC)
        self.ticking = threading.Lock()

    def current(self) -> Bank:
        if self.bank is None:
            raise Problem(503, "Service unavailable", "not reset yet")
        return self.bank

    def clock_body(self) -> dict[str, Any]:
        wakeup = self.bank.next_wakeup() if self.bank is not None else None
        return {"now": self.clock.isoformat(),
                "next_wakeup": wakeup.isoformat() if wakeup is not None else None}

    def close(self) -> None:
        with self.ticking:
            if self.bank is not None:
                self.bank.close()
                self.bank = None
        shutil.rmtree(self.folder, ignore_errors=True)


def _instant(value: Any) -> datetime:
    try:
        found = datetime.fromisoformat(str(value))
    except ValueError:
        raise Problem(422, "Invalid request", "expected an RFC 3339 instant") from None
    if found.tzinfo is None:
        raise Problem(422, "Invalid request", "the instant needs an offset")
    return found.astimezone(UTC)


# -- control ------------------------------------------------------------------------------
def reset(service: Service, call: Call) -> tuple[int, Any]:
    body = call.body()
    if body.get("jurisdiction") not in ("CN", "US"):
        raise Problem(422, "Invalid request", "jurisdiction must be CN or US")
    try:
        tz = ZoneInfo(str(body.get("timezone")))
    except (ValueError, KeyError):
        raise Problem(422, "Invalid request", "timezone is no IANA time zone") from None
    clock = _instant(body.get("now"))
    peers = body.get("peers") or {}
    if not isinstance(peers, dict):
        raise Problem(422, "Invalid request", "peers must map roles to base URLs")
    for name, url in peers.items():
        service.peers[name] = str(url).rstrip("/")
    with service.ticking:
        if service.bank is not None:
            service.bank.close()
        service.clock = clock
        service.bank = Bank(service.folder, body["jurisdiction"], tz, clock,
                            signer=service.signer, peers=service.peers)
        return 200, service.clock_body()


def set_clock(service: Service, call: Call) -> tuple[int, Any]:
    target = _instant(call.body().get("now"))
    with service.ticking:
        bank = service.current()
        if target < service.clock:
            raise Problem(409, "Clock cannot go back",
                          f"{target.isoformat()} is before now, {service.clock.isoformat()}")
        service.clock = bank.clock = target
        bank.run_due()
        return 200, service.clock_body()


def crash(service: Service, call: Call) -> tuple[int, Any]:
    with service.ticking:
        service.current().store.crash()
        return 200, service.clock_body()


# -- the bank's contract ------------------------------------------------------------------
def _booking(loan: Any) -> dict[str, Any]:
    if not isinstance(loan, dict):
        raise Problem(422, "Invalid request", "a loan must be an object")
    _only(loan, *_LOAN_FIELDS)
    _require(loan, loan_id="id", borrower="id", subject_id="subject", name="text", phone="phone",
             principal="money", annual_rate="rate", months="number", disbursed="date",
             method="method")
    optional = {"grace_days": "days", "arrears_tolerance": "amount",
                "holiday_shift": "shift"}
    _require(loan, **{name: kind for name, kind in optional.items() if name in loan})
    return loan


def book_loan(service: Service, call: Call) -> tuple[int, Any]:
    return 201, service.current().book([_booking(call.body())])[0]


def book_loans(service: Service, call: Call) -> tuple[int, Any]:
    loans = _only(call.body(), "loans").get("loans")
    if not isinstance(loans, list) or not 1 <= len(loans) <= 500:
        raise Problem(422, "Invalid request", "loans must list 1 to 500 loans")
    return 201, {"loans": service.current().book([_booking(loan) for loan in loans])}


def get_loan(service: Service, call: Call) -> tuple[int, Any]:
    return 200, service.current().get_loan(call.params["loan_id"])


def post_repayment(service: Service, call: Call) -> tuple[int, Any]:
    key = call.headers.get("idempotency-key")
    if not key:
        raise Problem(400, "Missing Idempotency-Key", "the Idempotency-Key header is required")
    body = _only(call.body(), "payment_id", "loan_id", "amount", "currency", "value_time")
    _require(body, payment_id="id", loan_id="id", value_time="instant")
    try:
        _require(body, amount="money")
    except Problem:
        raise Problem(422, "Invalid amount",
                      "amount must be a positive number of minor units") from None
    return 201, service.current().post_repayment(body, key)


def pay_at_counter(service: Service, call: Call) -> tuple[int, Any]:
    body = _only(call.body(), "loan_id", "amount")
    _require(body, loan_id="id", amount="money")
    return 201, service.current().pay_at_counter(body["loan_id"], body["amount"])


def list_postings(service: Service, call: Call) -> tuple[int, Any]:
    after, limit = call.query.get("after", ""), call.query.get("limit", "500")
    if not _LIMIT.fullmatch(limit) or ("after" in call.query and not _ID.fullmatch(after)):
        raise Problem(422, "Invalid request", "limit is 1 to 1000, after a posting id")
    return 200, service.current().list_postings(after, int(limit))


def get_posting(service: Service, call: Call) -> tuple[int, Any]:
    return 200, service.current().posting(call.params["posting_id"])


def submit_reconciliation(service: Service, call: Call) -> tuple[int, Any]:
    body = _only(call.body(), "business_date", "count", "total", "entries", "refunds")
    _require(body, business_date="date", count="count", total="amount", entries="list")
    for entry in body["entries"]:
        if not isinstance(entry, dict):
            raise Problem(422, "Invalid request", "an entry must be an object")
        _only(entry, "payment_id", "loan_id", "amount", "value_time")
        _require(entry, payment_id="id", loan_id="id", amount="money", value_time="instant")
    refunds = body.get("refunds", [])
    if not isinstance(refunds, list):
        raise Problem(422, "Invalid request", "refunds must be a list")
    for refund in refunds:
        if not isinstance(refund, dict):
            raise Problem(422, "Invalid request", "a refund must be an object")
        _only(refund, "payment_id", "loan_id", "amount")
        _require(refund, payment_id="id", loan_id="id", amount="money")
    return 200, service.current().submit_reconciliation(body)


def get_reconciliation(service: Service, call: Call) -> tuple[int, Any]:
    return 200, service.current().reconciliation(call.params["business_date"])


def verify_dispute(service: Service, call: Call) -> tuple[int, Any]:
    body = _only(call.body(), "dispute_id", "subject_id", "account", "period")
    _require(body, dispute_id="id", subject_id="subject", account="id", period="period")
    return 200, service.current().verify_dispute(body)


def build_app(service: Service) -> Starlette:
    """The Starlette app: each route checks the signature, runs its handler on a worker
    thread (handlers block on SQLite and on partners) and announces the next wake-up."""

    def route(path: str, method: str, handler: Handler) -> Route:
        control = path.startswith("/lendsim/")

        async def endpoint(request: Request) -> Response:
            raw = await request.body()
            return await run_in_threadpool(serve, request, raw)

        def serve(request: Request, raw: bytes) -> Response:
            if not (control and method == "GET"):
                signed = request.scope.get("raw_path", request.url.path.encode()).decode()
                if request.url.query:
                    signed += f"?{request.url.query}"
                try:
                    service.verifier.verify(method, signed, raw, request.headers, service.clock,
                                            fresh=path != "/lendsim/reset")
                except SignatureRejected as rejected:
                    return _problem(401, "Unauthorized", str(rejected))
            try:
                status, body = handler(service, Call(request, raw))
            except Problem as error:
                status, body = error.status, {"type": "about:blank", "title": error.title,
                                              "status": error.status, "detail": error.detail}
            headers = None
            if not control and service.bank is not None:
                headers = {"Lendsim-Next-Wakeup": service.bank.next_wakeup().isoformat()}
            return _answer(status, body, headers)

        return Route(path, endpoint, methods=[method], name=handler.__name__)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        service.close()  # at shutdown (uvicorn then re-raises SIGTERM: no finally runs)

    return Starlette(lifespan=lifespan, routes=[
        route("/lendsim/reset", "POST", reset),
        route("/lendsim/clock", "GET", lambda service, call: (200, service.clock_body())),
        route("/lendsim/clock", "POST", set_clock),
        route("/lendsim/crash", "POST", crash),
        route("/loans", "POST", book_loan),
        route("/loans/batch", "POST", book_loans),
        route("/loans/{loan_id}", "GET", get_loan),
        route("/repayments", "POST", post_repayment),
        route("/postings", "GET", list_postings),
        route("/postings/{posting_id}", "GET", get_posting),
        route("/counter-payments", "POST", pay_at_counter),
        route("/reconciliation-files", "POST", submit_reconciliation),
        route("/reconciliation-files/{business_date}", "GET", get_reconciliation),
        route("/dispute-verifications", "POST", verify_dispute),
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description="An example bank service.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("LENDSIM_PORT", "8000")))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    service = Service()
    try:
        uvicorn.run(build_app(service), host=args.host, port=args.port, log_level="warning",
                    access_log=False)
    finally:
        service.close()


if __name__ == "__main__":
    main()
