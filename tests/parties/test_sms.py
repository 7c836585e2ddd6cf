"""The SMS gateway: it records every message it is given, with instant and reason."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.support.worlds import LOAN, MakeWorld, advance, begin, entries, instant


def test_send_batch_records_each_message(make_world: MakeWorld) -> None:
    """Every message of a batch is stored and journaled with the instant, borrower, installment
    and reason."""
    world = make_world()
    advance(world, "2026-01-20T10:15")
    messages = [
        {"borrower": "alice", "phone": "13800000001", "loan_id": LOAN, "installment": 2,
         "reason": "overdue_warning", "text": "Installment 2 is overdue."},
        {"borrower": "bob", "phone": "13800000002", "reason": "repayment_refunded",
         "text": "Your repayment was returned."},
    ]
    answer = world.sms.handle("send_batch", {"sender": "bank", "messages": messages}, {})
    assert (answer.status, answer.body) == (200, {"accepted": 2})
    stored = world.sms.disk.execute(
        "SELECT at, sender, borrower, loan_id, installment, reason FROM messages"
        " ORDER BY seq").fetchall()
    sent_at = instant(world, "2026-01-20T10:15")
    assert [datetime.fromisoformat(row[0]) for row in stored] == [sent_at] * 2
    assert [row[1:] for row in stored] == [
        ("bank", "alice", LOAN, 2, "overdue_warning"),
        ("bank", "bob", None, None, "repayment_refunded"),
    ]
    journaled = entries(world, "sms.sent")
    assert [(e.at, e.data["borrower"], e.data["installment"], e.data["reason"])
            for e in journaled] == [(sent_at, "alice", 2, "overdue_warning"),
                                    (sent_at, "bob", None, "repayment_refunded")]


@pytest.mark.parametrize(
    "messages",
    [pytest.param([], id="empty-list"), pytest.param(None, id="missing"),
     pytest.param({"borrower": "alice"}, id="not-a-list")],
)
def test_send_batch_refuses_an_empty_batch(make_world: MakeWorld, messages: object) -> None:
    """A batch without messages is refused with a 422 problem and records nothing."""
    world = make_world()
    answer = world.sms.handle("send_batch", {"sender": "bank", "messages": messages}, {})
    assert answer.status == 422
    assert answer.body["status"] == 422
    assert world.sms.disk.execute("SELECT count(*) FROM messages").fetchone() == (0,)
    assert entries(world, "sms.sent") == []


def test_bank_warning_reaches_the_gateway_with_its_installment(make_world: MakeWorld) -> None:
    """The bank's overdue warning for an unpaid installment is recorded with borrower,
    installment and reason on the night the installment becomes overdue."""
    world = begin(make_world())
    advance(world, "2026-02-03T00:00")
    stored = world.sms.disk.execute(
        "SELECT at, sender, borrower, loan_id, installment, reason FROM messages").fetchall()
    assert [row[1:] for row in stored] == [("bank", "alice", LOAN, 1, "overdue_warning")]
    # the first night's batch classifies at 00:30 and acts once the reconciliation file is in
    # (01:00): the warning goes out then
    assert datetime.fromisoformat(stored[0][0]) == instant(world, "2026-02-02T01:00")
