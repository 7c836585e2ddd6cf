"""lendsim's own checks, run by schemathesis on every response of a suite run.

``lendsim_no_personal_data``, ``lendsim_positive_data``, ``lendsim_value_time`` and
``lendsim_idempotent_replay``; they do nothing outside a run of the suite.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from simulator.faces.contract_suite.targets import SuiteAuth, SuiteRun, SuiteState

__all__ = ["fail", "personal_data", "register_checks", "replay", "same_instant"]


_PERSONAL = (
    ("an ID number", re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")),
    ("a mobile phone number", re.compile(r"(?<![0-9])1[3-9]\d{9}(?![0-9])")),
    ("an SSN", re.compile(r"(?<![0-9])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![0-9])")),
)


def personal_data(text: str) -> str | None:
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


def register_checks() -> None:
    """Install the suite's authentication and checks in schemathesis (once per process).

    They do nothing outside a run of this suite.
    """
    if SuiteState.registered:
        return
    import schemathesis

    def lendsim_no_personal_data(ctx: Any, response: Any, case: Any) -> bool | None:
        """No error body carries an ID number, a mobile phone number or an SSN."""
        if SuiteState.active is None or response.status_code < 400 or not response.content:
            return None
        kind = personal_data(response.content.decode("utf-8", "replace"))
        if kind is not None:
            fail(case, "Personal data in an error",
                  f"the {response.status_code} error body shows {kind}")
        return None

    def lendsim_positive_data(ctx: Any, response: Any, case: Any) -> bool | None:
        """A request the contract allows is not refused as malformed (400, 415, or a 422
        titled "Invalid request"); a 422 with its own title is a business rule."""
        meta = getattr(case, "meta", None)
        if SuiteState.active is None or meta is None or not meta.generation.mode.is_positive:
            return None
        status = response.status_code
        body = _json(response)
        title = body.get("title") if isinstance(body, dict) else None
        if status in (400, 401, 413, 415) or (status == 422 and title in (None,
                                                                          "Invalid request")):
            detail = body.get("detail", "") if isinstance(body, dict) else ""
            fail(case, "Valid request refused",
                  f"a request the contract allows was refused with {status}: "
                  f"{title or ''} {detail}".strip())
        return None

    def lendsim_value_time(ctx: Any, response: Any, case: Any) -> bool | None:
        """A posting keeps the value time the repayment was sent with."""
        run = SuiteState.active
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
            same_instant(sent, answered.get("value_time"), "the posting answered")
            posting = run.call("bank", "get_posting", {"posting_id": answered.get("posting_id")})
            if posting.status == 200 and isinstance(posting.body, dict):
                same_instant(sent, posting.body.get("value_time"), "get_posting reads")
        except AssertionError as problem:
            fail(case, "Value time not honoured", str(problem))
        return None

    def lendsim_idempotent_replay(ctx: Any, response: Any, case: Any) -> bool | None:
        """A replayed Idempotency-Key answers the identical response and posts nothing."""
        run = SuiteState.active
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
        problems = replay(run, str(original.get("loan_id")), original, raw, key)
        if problems:
            fail(case, "Replay not idempotent", "\n".join(problems))
        return None

    # documented API, set as a function attribute that type checkers cannot see
    schemathesis.auth.set_from_requests(SuiteAuth())  # type: ignore[attr-defined]
    for check in (lendsim_no_personal_data, lendsim_positive_data, lendsim_value_time,
                  lendsim_idempotent_replay):
        schemathesis.check(check)
    SuiteState.registered = True


def fail(case: Any, title: str, message: str) -> None:
    """Fail a schemathesis check with a title of its own."""
    from schemathesis.core.failures import Failure

    raise Failure(operation=case.operation.label, title=title, message=message)


def same_instant(sent: str, answered: Any, what: str) -> None:
    try:
        same = isinstance(answered, str) and \
            datetime.fromisoformat(sent.upper()) == datetime.fromisoformat(answered.upper())
    except ValueError:
        same = False
    if not same:
        raise AssertionError(f"the repayment was sent with value time {sent}, but {what} "
                             f"{answered!r}")


def replay(run: SuiteRun, loan_id: str, original: Any, raw: bytes, key: str) -> list[str]:
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
