"""How a journal entry reads on a timeline: its lane, its tone and a line of words.

Every entry gets a lane and words, whatever its kind: the kinds below read as
sentences, and any other kind — one added since — reads as its name and its
fields, on the lane of the party that recorded it (a link's entries on its
caller's lane; a kind of no known party on the ``world`` lane). Instants among
the fields are shown in the timeline's zone; amounts in minor units as major
units with two decimals.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, tzinfo
from typing import Any

from simulator.core.topology import LINKS
from simulator.engine.journal import Entry

__all__ = ["LANES", "TONES", "lane_of", "moment", "tone_of", "words_of"]

#: the lanes of a timeline, top to bottom
LANES: tuple[str, ...] = ("borrower", "platform", "bank", "bureau", "sms", "world")

#: tones, with what each means (the report's legend)
TONES: dict[str, str] = {
    "money": "money captured, posted or refunded",
    "ok": "a call answered",
    "failed": "a call refused, lost or in error",
    "batch": "a day-end batch or a reconciliation file",
    "text": "a text message",
    "record": "a bureau record",
    "fix": "a correction or cleared delinquency",
    "due": "an installment's due end",
    "fault": "a fault starting or ending",
    "check": "a check or the world itself",
    "other": "anything else",
}

_MONEY = {"platform.captured", "bank.posted", "platform.refunded", "bank.reallocated",
          "bank.penalty_reversed", "money.taken", "money.returned"}
#: kinds the world records about a party's lane: money moving for the borrower, a change the
#: world saw in the bureau's credit files
_KIND_LANES = {"money": "borrower", "credit_file": "bureau"}
_BATCH = {"bank.batch_classified", "bank.batch_waiting", "bank.batch_acted",
          "bank.reconciliation_received"}
_FIX = {"bureau.correction", "bank.overdue_cleared", "bank.correction_queued",
        "bureau.dispute_resolved"}
_FAILED_OUTCOMES = {"refused", "error", "timeout", "lost"}

#: how an operation crossing a link is named
_OPERATIONS = {
    "post_repayment": "forward",
    "submit_reconciliation": "reconciliation file",
    "repay": "repays in the app",
    "send_batch": "texts",
    "submit_reports": "reports to the bureau",
    "installment_overdue": "tells the platform: overdue",
    "installment_cleared": "tells the platform: cleared",
    "verify_dispute": "asks the bank to verify a dispute",
    "list_payments": "asks the platform for its payments",
}


def lane_of(entry: Entry) -> str:
    """The lane an entry belongs on."""
    party = entry.party
    if party in LANES and not (party == "world" and entry.kind.partition(".")[0] in _KIND_LANES):
        return party
    ends = LINKS.get(party)
    if ends is not None:
        side = ends.target if entry.kind.endswith(".late") else ends.caller
        return side if side in LANES else "world"
    prefix = entry.kind.partition(".")[0]
    prefix = _KIND_LANES.get(prefix, prefix)
    return prefix if prefix in LANES else "world"


def tone_of(entry: Entry) -> str:
    """The kind of thing an entry is, for its colour."""
    kind, data = entry.kind, entry.data
    if kind.startswith("link."):
        status = data.get("status")
        failed = data.get("outcome") in _FAILED_OUTCOMES or (
            isinstance(status, int) and status >= 400)
        return "failed" if failed else "ok"
    if kind in _MONEY:
        return "money"
    if kind in _BATCH:
        return "batch"
    if kind in _FIX:
        return "fix"
    if kind == "sms.sent":
        return "text"
    if kind.startswith("bureau.record"):
        return "record"
    if kind == "credit_file.changed":
        return "record" if data.get("status") == "overdue" else "fix"
    if kind.startswith("fault."):
        return "fault"
    if kind == "check.bureau":
        return "check" if data.get("holds", True) else "failed"
    if kind.startswith(("world.", "contract.")):
        return "check"
    return "other"


def moment(instant: datetime, zone: tzinfo) -> str:
    """``02-04 08:00``: an instant in ``zone``, short (the day header gives year and offset)."""
    return instant.astimezone(zone).strftime("%m-%d %H:%M")


def _money(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        sign = "-" if value < 0 else ""
        return f"{sign}{abs(value) // 100}.{abs(value) % 100:02d}"
    return str(value)


def _instant(value: object, zone: tzinfo) -> str:
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return value
        if parsed.tzinfo is not None:
            return moment(parsed, zone)
    return str(value)


def _fields(data: dict[str, Any], zone: tzinfo, skip: tuple[str, ...] = ()) -> str:
    """``key value`` pairs of the fields an entry's words do not already say."""
    shown = []
    for key, value in sorted(data.items()):
        if key in skip or value is None:
            continue
        if isinstance(value, str):
            said = _instant(value, zone)
        elif isinstance(value, list | dict):
            said = f"{len(value)} item(s)"
        else:
            said = str(value)
        shown.append(f"{key} {said}")
    return ", ".join(shown)


def _call(entry: Entry, zone: tzinfo) -> str:
    data = entry.data
    operation = str(data.get("op", "call"))
    ref = data.get("ref")
    what = _OPERATIONS.get(operation, operation)
    if ref and operation in ("post_repayment", "submit_reconciliation"):
        what += f" {ref}"
    outcome = data.get("outcome")
    status = data.get("status")
    why = data.get("why")
    late = " (late copy)" if entry.kind.endswith(".late") else ""
    if outcome == "delivered":
        said = f"{what}{late} → {status}" if status is not None else f"{what}{late} → delivered"
    elif outcome == "error":
        said = f"{what} → error {status}"
    else:
        said = f"{what}{late} → {outcome}"
    if why and why != "duplicated":
        said += f" ({why})"
    elif why == "duplicated":
        said += " (delivered twice)"
    if data.get("arrives"):
        said += f", arrives {_instant(data['arrives'], zone)}"
    return said


def _batch(entry: Entry, zone: tzinfo) -> str:
    data = entry.data
    day = data.get("business_date", "")
    stage = entry.kind.rpartition(".")[2]
    if stage == "batch_classified":
        return f"day-end batch {day}: {data.get('overdue', 0)} installment(s) overdue"
    if stage == "batch_waiting":
        return f"day-end batch {day} waits for the reconciliation file"
    if stage == "batch_acted":
        gate = "with" if data.get("reconciled") else "without"
        return (f"day-end batch {day} acts {gate} the reconciliation file: "
                f"{data.get('warnings', 0)} text(s), {data.get('reports', 0)} report(s)")
    return (f"reconciliation file {day} in: {data.get('count', 0)} repayment(s), "
            f"{data.get('in_transit', 0)} in transit")


def _record(entry: Entry, zone: tzinfo) -> str:
    data = entry.data
    what = "bureau correction" if entry.kind.endswith("correction") else \
        "credit file now" if entry.kind == "credit_file.changed" else "bureau record"
    late = data.get("days_past_due")
    past_due = f", {late} day(s) past due" if late else ""
    return (f"{what}: installment {data.get('installment')} ({data.get('period')}) "
            f"{data.get('status')}{past_due}")


def _fault(entry: Entry, zone: tzinfo) -> str:
    data = entry.data
    where = data.get("link") or data.get("party") or "?"
    if entry.kind == "fault.started":
        until = f" until {_instant(data['until'], zone)}" if data.get("until") else ""
        return f"{data.get('kind')} on {where} begins{until}"
    return f"{data.get('kind')} on {where} ends"


_SAID: dict[str, Callable[[Entry, tzinfo], str]] = {
    "money.taken": lambda e, z: (
        f"pays {_money(e.data.get('amount'))} via the {e.data.get('via')}: "
        f"{e.data.get('payment_id')}"),
    "money.returned": lambda e, z: (
        f"gets back {_money(e.data.get('amount'))} of {e.data.get('payment_id')} from the "
        f"{e.data.get('by')}"),
    "platform.captured": lambda e, z: (
        f"captured {e.data.get('payment_id')}: {_money(e.data.get('amount'))}"),
    "bank.posted": lambda e, z: (
        f"posted {e.data.get('payment_id')}: {_money(e.data.get('applied'))} applied, "
        f"value time {_instant(e.data.get('value_time'), z)}"),
    "bank.replayed": lambda e, z: f"replayed {e.data.get('payment_id')}: original answer",
    "platform.refunded": lambda e, z: (
        f"refunded {e.data.get('payment_id')}: {_money(e.data.get('amount'))}"),
    "bank.penalty_reversed": lambda e, z: (
        f"penalty of installment {e.data.get('installment')} reversed: "
        f"{_money(e.data.get('amount'))}"),
    "bank.overdue_cleared": lambda e, z: (
        f"installment {e.data.get('installment')} no longer overdue"),
    "bank.correction_queued": lambda e, z: (
        f"bureau correction queued for installment {e.data.get('installment')}"),
    "sms.sent": lambda e, z: (
        f"text from {e.data.get('sender')}: {e.data.get('reason')}, installment "
        f"{e.data.get('installment')}"),
    "platform.forward_abandoned": lambda e, z: (
        f"gives up forwarding {e.data.get('payment_id')}"),
    "platform.forward_held": lambda e, z: (
        f"holds {e.data.get('payment_id')}: forwarding {e.data.get('behind')} failed, "
        f"next try {_instant(e.data.get('until'), z)}"),
    "borrower.dispute": lambda e, z: f"disputes period {e.data.get('period')}",
    "borrower.refused": lambda e, z: f"turned away: {e.data.get('why')}",
    "borrower.nothing_due": lambda e, z: (
        f"nothing due on installment {e.data.get('installment')}"),
    "check.bureau": lambda e, z: (
        f"check: bureau {e.data.get('period')} expected {e.data.get('expected')}, "
        f"holds {e.data.get('actual')}"),
    "world.started": lambda e, z: (
        f"world starts: seed {e.data.get('seed')}, {e.data.get('borrowers')} borrower(s)"),
    "world.ended": lambda e, z: f"world ends after {e.data.get('events')} events",
    "world.restarted": lambda e, z: (
        f"run over: the {e.data.get('party')}, still down, comes back to be read"),
    "bureau.reports_received": lambda e, z: (
        f"bureau takes {e.data.get('records')} record(s) from {e.data.get('furnisher')}, "
        f"applies {e.data.get('applied')}"),
    "bureau.dispute_opened": lambda e, z: (
        f"dispute {e.data.get('dispute_id')} opened for {e.data.get('period')}, due by "
        f"{_instant(e.data.get('due_by'), z)}"),
    "bureau.dispute_resolved": lambda e, z: (
        f"dispute {e.data.get('dispute_id')} resolved: {e.data.get('outcome')}"),
}


def words_of(entry: Entry, zone: tzinfo) -> str:
    """One line saying what an entry records."""
    kind = entry.kind
    if kind.startswith("link."):
        return _call(entry, zone)
    if kind in _BATCH:
        return _batch(entry, zone)
    if kind in ("bureau.record", "bureau.correction", "credit_file.changed"):
        return _record(entry, zone)
    if kind.startswith("fault."):
        return _fault(entry, zone)
    said = _SAID.get(kind)
    if said is not None:
        return said(entry, zone)
    fields = _fields(entry.data, zone)
    return f"{kind}: {fields}" if fields else kind
