"""Deterministic request sequences for what a schema cannot say (idempotent replays,
key reuse, value times, the sandbox clock, personal data in errors).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from simulator.faces.contract_suite.checks import personal_data, replay, same_instant
from simulator.faces.contract_suite.targets import SuiteRun

__all__ = ["PROBE_VALUES", "probe"]


#: values the probes plant where personal data could be echoed
PROBE_VALUES = ("110101199003071234", "13812345678", "123-45-6789")


def probe(run: SuiteRun, seed: int) -> None:
    """Deterministic request sequences for what the schema cannot say (from a reset world)."""
    run.target.reset()
    _probe_personal_data(run)
    if run.party == "bank":
        _probe_bank(run, seed)
    elif run.party == "platform":
        _probe_platform(run, seed)
    elif run.party == "sandbox":
        _probe_sandbox(run)


def _probe_personal_data(run: SuiteRun) -> None:
    """Plant ID numbers, phone numbers and SSNs where an error could echo them."""
    party = run.party
    for operation, (method, _path, params) in sorted(run.contracts.operations(party).items()):
        attempts: list[tuple[dict[str, Any], str]] = []
        if params:
            for value in PROBE_VALUES:
                attempts.append(({name: value for name in params}, f"{value!r} in the path"))
        example = run.example(party, operation)
        if example is not None and method not in ("GET", "DELETE"):
            planted = {key: PROBE_VALUES[i % len(PROBE_VALUES)] if isinstance(value, str)
                       else value for i, (key, value) in enumerate(example.items())}
            planted["remark"] = PROBE_VALUES[1]
            attempts.append((planted, "ID and phone numbers in every text field"))
        for fields, what in attempts:
            reply = run.call(party, operation, fields, headers={"Idempotency-Key": "KEY-probe"})
            kind = personal_data(reply.text) if reply.status >= 400 else None
            if kind is not None:
                run.find(operation, "lendsim_no_personal_data", "Personal data in an error",
                         f"with {what}, the {reply.status} error body shows {kind}",
                         run.curl(party, operation, fields, {"Idempotency-Key": "KEY-probe"}))


def _probe_bank(run: SuiteRun, seed: int) -> None:
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
    for problem in replay(run, loan_id, first.body, raw, key):
        run.find("post_repayment", "lendsim_idempotent_replay", "Replay not idempotent",
                 problem, f"{reproduce}\n(send it twice)")
    try:
        same_instant(repayment["value_time"], first.body.get("value_time"),
                      "the posting answered")
        posting = run.call("bank", "get_posting", {"posting_id": first.body.get("posting_id")})
        same_instant(repayment["value_time"], (posting.body or {}).get("value_time"),
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


def _probe_platform(run: SuiteRun, seed: int) -> None:
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
        same_instant(str(paid.body.get("value_time")), match[0].get("value_time"),
                      "list_payments reads")
    except AssertionError as problem:
        run.find("repay", "lendsim_value_time", "Value time not honoured", str(problem),
                 reproduce)


def _probe_sandbox(run: SuiteRun) -> None:
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
