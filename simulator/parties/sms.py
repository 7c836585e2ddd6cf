"""The text-message gateway: it records every message with its instant and reason."""

from __future__ import annotations

from collections.abc import Mapping

from simulator.core.instants import utc_iso
from simulator.engine.links import Body, Response
from simulator.parties.base import Operation, Party, Problem

__all__ = ["Sms"]

SCHEMA = """
CREATE TABLE messages (
    seq INTEGER PRIMARY KEY, at TEXT NOT NULL, sender TEXT NOT NULL, borrower TEXT NOT NULL,
    phone TEXT NOT NULL, loan_id TEXT, installment INTEGER, reason TEXT NOT NULL,
    text TEXT NOT NULL
);
"""


class Sms(Party):
    """The SMS gateway."""

    name = "sms"
    SCHEMA = SCHEMA

    def routes(self) -> dict[str, Operation]:
        return {"send_batch": self.op_send_batch}

    def op_send_batch(self, body: Body, headers: Mapping[str, str]) -> Response:
        messages = body["messages"]
        if not isinstance(messages, list) or not messages:
            raise Problem(422, "No messages", "messages must be a non-empty list")
        at = utc_iso(self.now)
        rows = [(at, body["sender"], m["borrower"], m["phone"], m.get("loan_id"),
                 m.get("installment"), m["reason"], m["text"]) for m in messages]
        with self.db:
            self.db.executemany(
                "INSERT INTO messages (at, sender, borrower, phone, loan_id, installment, reason,"
                " text) VALUES (?,?,?,?,?,?,?,?)", rows)
        for m in messages:
            self.journal("sent", sender=body["sender"], borrower=m["borrower"],
                         loan_id=m.get("loan_id"), installment=m.get("installment"),
                         reason=m["reason"])
        return Response(200, {"accepted": len(messages)})
