"""The platform's HTTP face (Flask): the borrower app, the bank's callbacks, and control.

``create_app()`` builds the service from its environment:

* ``LENDSIM_KEY_ID`` / ``LENDSIM_KEY_SECRET`` — the key it signs its calls with;
* ``LENDSIM_PEER_KEYS`` — JSON ``{key id: secret}`` of who may call it;
* ``LENDSIM_BANK_URL``, ``LENDSIM_SMS_URL``, ``LENDSIM_PAYMENTS_URL`` — its partners
  (the reset body's ``peers`` wins when it names them).

Every request must be signed (see :mod:`.signing`); errors are
``application/problem+json``. ``/lendsim/*`` is how a test harness drives it:
``reset`` (fresh database, clock set), ``clock`` (move time forward, run due jobs),
``crash`` (lose what was not committed). Every answer carries
``Lendsim-Next-Wakeup``: when it next has work.
"""

from __future__ import annotations

import json
import os
import re
import threading
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask, Response, request
from werkzeug.exceptions import MethodNotAllowed

from .service import Peers, Platform, Problem, now
from .signing import SignatureRejected, Signer, Verifier

__all__ = ["create_app"]

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,79}")
_PHONE = re.compile(r"[0-9+() .-]{3,32}")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_LIMIT = re.compile(r"1000|[1-9][0-9]{0,2}")


def _problem(status: int, title: str, detail: str = "") -> Response:
    body = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    answer = Response(json.dumps(body), status, mimetype="application/problem+json")
    if status == 401:
        answer.headers["WWW-Authenticate"] = "Lendsim-HMAC-SHA256"
    return answer


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status, mimetype="application/json")


def _field(body: dict[str, Any], name: str, kind: str) -> Any:
    """A required field of the body, checked; :class:`Problem` 422 naming it otherwise."""
    value = body.get(name)
    if isinstance(value, float) and value.is_integer():  # JSON's 12.0 is the integer 12
        value = body[name] = int(value)
    ok = {
        "id": isinstance(value, str) and _ID.fullmatch(value) is not None,
        "phone": isinstance(value, str) and _PHONE.fullmatch(value) is not None,
        "money": isinstance(value, int) and not isinstance(value, bool)
        and 0 < value <= 10**14,
        "number": isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 600,
        "date": isinstance(value, str) and _DATE.fullmatch(value) is not None,
    }[kind]
    if not ok:
        what = "missing" if value is None else "malformed"
        raise Problem(422, "Invalid request", f"field {name!r} is {what} (expected {kind})")
    return value


def _only(body: dict[str, Any], *names: str) -> dict[str, Any]:
    """The body, refused with 422 when it carries a field the operation does not take."""
    unexpected = sorted(set(body) - set(names))
    if unexpected:
        raise Problem(422, "Invalid request", f"unexpected field(s): {len(unexpected)}")
    return body


def _id(value: str) -> str:
    """A path's id, checked."""
    if not _ID.fullmatch(value):
        raise Problem(422, "Invalid request", "the path does not name a valid id")
    return value


def _instant(value: Any) -> datetime:
    try:
        found = datetime.fromisoformat(str(value))
    except ValueError:
        raise Problem(422, "Invalid request", "expected an RFC 3339 instant") from None
    if found.tzinfo is None:
        raise Problem(422, "Invalid request", "the instant needs an offset")
    return found.astimezone(UTC)


class _Service:
    """The platform behind the routes: replaced at every reset."""

    def __init__(self) -> None:
        env = os.environ
        self.signer = Signer(env.get("LENDSIM_KEY_ID", "platform"),
                             env.get("LENDSIM_KEY_SECRET", ""))
        self.verifier = Verifier(json.loads(env.get("LENDSIM_PEER_KEYS", "{}")))
        self.peers = Peers(bank=env.get("LENDSIM_BANK_URL", "").rstrip("/"),
                           sms=env.get("LENDSIM_SMS_URL", "").rstrip("/"),
                           payments=env.get("LENDSIM_PAYMENTS_URL", "").rstrip("/"))
        self.platform: Platform | None = None
        self.clock = now()
        self.ticking = threading.Lock()

    def current(self) -> Platform:
        if self.platform is None:
            raise Problem(503, "Service unavailable", "not reset yet")
        return self.platform

    def reset(self, body: dict[str, Any]) -> None:
        peers = body.get("peers") or {}
        for name in ("bank", "sms", "payments"):
            if isinstance(peers.get(name), str):
                setattr(self.peers, name, peers[name].rstrip("/"))
        jurisdiction = body.get("jurisdiction")
        if jurisdiction not in ("CN", "US"):
            raise Problem(422, "Invalid request", "jurisdiction must be CN or US")
        try:
            tz = ZoneInfo(str(body.get("timezone")))
        except (ValueError, KeyError):
            raise Problem(422, "Invalid request", "timezone is no IANA time zone") from None
        clock = _instant(body.get("now"))
        if self.platform is not None:
            self.platform.close()
        self.clock = clock
        self.platform = Platform(self.signer, self.peers, jurisdiction, tz, clock)

    def clock_body(self) -> dict[str, Any]:
        wakeup = self.platform.next_wakeup() if self.platform is not None else None
        return {"now": self.clock.isoformat(),
                "next_wakeup": wakeup.isoformat() if wakeup is not None else None}


def create_app() -> Flask:
    """The platform service (a fresh one: call once per process or test world)."""
    app = Flask(__name__)
    service = _Service()

    def body() -> dict[str, Any]:
        media = (request.content_type or "").split(";")[0].strip().lower()
        if media != "application/json" and not (media.startswith("application/")
                                                and media.endswith("+json")):
            raise Problem(415, "Unsupported media type", "the body must be application/json")
        try:
            found = json.loads(request.get_data())
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise Problem(400, "Malformed JSON", "the body is not valid JSON") from None
        if not isinstance(found, dict):
            raise Problem(422, "Invalid request", "the body must be a JSON object")
        return found

    @app.before_request
    def authenticate() -> Response | None:
        path = request.path
        if request.query_string:
            path += "?" + request.query_string.decode("latin-1")
        control = request.path.startswith("/lendsim/")
        if control and request.method == "GET":
            return None  # the clock may be read unsigned
        signed_at = service.clock if control else now()
        try:
            service.verifier.verify(request.method, path, request.get_data(),
                                    request.headers, signed_at,
                                    fresh=request.path != "/lendsim/reset")
        except SignatureRejected as rejected:
            return _problem(401, "Unauthorized", str(rejected))
        return None

    @app.after_request
    def announce(answer: Response) -> Response:
        if service.platform is not None and not request.path.startswith("/lendsim/"):
            wakeup = service.platform.next_wakeup()
            answer.headers["Lendsim-Next-Wakeup"] = \
                wakeup.isoformat() if wakeup is not None else "null"
        return answer

    @app.errorhandler(Problem)
    def problem(error: Problem) -> Response:
        return _problem(error.status, error.title, error.detail)

    @app.errorhandler(404)
    def not_found(error: Exception) -> Response:
        return _problem(404, "Not found", "no such resource")

    @app.errorhandler(405)
    def not_allowed(error: MethodNotAllowed) -> Response:
        answer = _problem(405, "Method not allowed", f"{request.method} is not allowed here")
        answer.headers["Allow"] = ", ".join(error.valid_methods or ())
        return answer

    # -- control -----------------------------------------------------------------------
    @app.post("/lendsim/reset")
    def reset() -> Response:
        with service.ticking:
            service.reset(body())
            return _json(service.clock_body())

    @app.get("/lendsim/clock")
    def get_clock() -> Response:
        return _json(service.clock_body())

    @app.post("/lendsim/clock")
    def set_clock() -> Response:
        target = _instant(body().get("now"))
        with service.ticking:
            platform = service.current()
            if target < service.clock:
                raise Problem(409, "Clock cannot go back",
                              f"{target.isoformat()} is before now, "
                              f"{service.clock.isoformat()}")
            service.clock = target
            platform.run_due(target)
            return _json(service.clock_body())

    @app.post("/lendsim/crash")
    def crash() -> Response:
        with service.ticking:
            service.current().store.crash()
            return _json(service.clock_body())

    # -- borrowers -----------------------------------------------------------------------
    @app.post("/loans")
    def open_loan() -> Response:
        given = _only(body(), "loan_id", "borrower", "phone", "principal", "months",
                      "disbursed")
        for name, kind in (("loan_id", "id"), ("borrower", "id"), ("phone", "phone"),
                           ("principal", "money"), ("months", "number"),
                           ("disbursed", "date")):
            _field(given, name, kind)
        return _json(service.current().open_loan(given), 201)

    @app.get("/borrowers/<borrower>/loans")
    def list_loans(borrower: str) -> Response:
        return _json(service.current().list_loans(_id(borrower)))

    @app.post("/repayments")
    def repay() -> Response:
        given = _only(body(), "loan_id", "amount")
        _field(given, "loan_id", "id")
        try:
            _field(given, "amount", "money")
        except Problem:
            raise Problem(422, "Invalid amount",
                          "amount must be a positive number of minor units") from None
        return _json(service.current().repay(given), 201)

    @app.get("/loans/<loan_id>/payments")
    def list_payments(loan_id: str) -> Response:
        return _json(service.current().list_payments(_id(loan_id)))

    @app.get("/payments/pending")
    def list_pending() -> Response:
        after = request.args.get("after", "")
        limit = request.args.get("limit", "500")
        if not _LIMIT.fullmatch(limit) or ("after" in request.args and not _ID.fullmatch(after)):
            raise Problem(422, "Invalid request", "limit is 1 to 1000, after a payment id")
        return _json(service.current().list_pending(after, int(limit)))

    # -- the bank's callbacks ----------------------------------------------------------
    @app.post("/callbacks/installment-overdue")
    @app.post("/callbacks/installment-cleared", endpoint="installment_cleared")
    def installment_notice() -> Response:
        given = _only(body(), "loan_id", "installment", "kind")
        _field(given, "loan_id", "id")
        _field(given, "installment", "number")
        if given.get("kind") not in ("overdue", "cleared"):
            raise Problem(422, "Invalid request", "kind must be overdue or cleared")
        service.current().notice(given)
        return Response(status=204)

    return app
