"""The reference platform: capture, durable forwarding with retries, refunds, reconciliation."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from simulator.core.instants import to_us
from simulator.world.world import World
from tests.support.worlds import (
    LOAN,
    MakeWorld,
    advance,
    begin,
    book,
    entries,
    fault,
    installment,
    instant,
    repay,
    spy,
    warnings,
)


def forward_calls(world: World) -> list[tuple[datetime, str]]:
    """(instant, outcome) of every post_repayment call over platform->bank."""
    return [(e.at, e.data["outcome"]) for e in entries(world, "link.call")
            if e.party == "platform->bank" and e.data["op"] == "post_repayment"]


def payment(world: World, payment_id: str = "PAY00000001") -> dict[str, object]:
    cursor = world.platform.disk.execute(
        "SELECT * FROM payments WHERE payment_id = ?", (payment_id,))
    row = cursor.fetchone()
    assert row is not None, f"no payment {payment_id}"
    return dict(zip([c[0] for c in cursor.description], row, strict=True))


def outbox(world: World) -> list[tuple[str, int]]:
    return world.platform.disk.execute(
        "SELECT payment_id, attempts FROM outbox ORDER BY payment_id").fetchall()


def bank_postings(world: World) -> list[tuple[str, str | None, int, int]]:
    return world.bank.disk.execute(
        "SELECT payment_id, idempotency_key, value_us, received_us FROM postings"
        " ORDER BY posting_id").fetchall()


# -- capture ------------------------------------------------------------------------------


def test_capture_writes_payment_and_outbox_with_the_capture_instant(
    make_world: MakeWorld,
) -> None:
    """A captured repayment is committed with its outbox entry, stamped with the capture
    instant as its value time, and the payment network sees the money leave at that instant."""
    world = book(make_world(platform={"forward_after": "7m"}))
    advance(world, "2026-01-20T10:00")
    reply = world.links["borrower->platform"].call("repay", {"loan_id": LOAN, "amount": 500_00})
    response = reply.response
    assert response is not None and response.status == 201
    payment_id = response.body["payment_id"]
    now = world.clock.now
    assert datetime.fromisoformat(response.body["value_time"]) == now
    stored = payment(world, payment_id)
    assert (stored["amount"], stored["status"]) == (500_00, "pending")
    assert datetime.fromisoformat(str(stored["value_time"])) == now
    assert stored["captured_on"] == "2026-01-20"
    (next_at,) = world.platform.disk.execute(
        "SELECT next_at FROM outbox WHERE payment_id = ?", (payment_id,)).fetchone()
    assert datetime.fromisoformat(next_at) == now + timedelta(minutes=7)
    taken = world.network.payments[payment_id]
    assert (taken.amount, taken.value_time, taken.borrower) == (500_00, now, "alice")


def test_capture_is_one_transaction(make_world: MakeWorld) -> None:
    """When the outbox entry cannot be written, the payment is not committed either."""
    world = book(make_world())
    with world.platform.disk:  # the outbox already holds the id the next payment will get
        world.platform.disk.execute("INSERT INTO outbox VALUES ('PAY00000001', 0, 'x')")
    with pytest.raises(sqlite3.IntegrityError):
        world.platform.handle("repay", {"loan_id": LOAN, "amount": 500_00}, {})
    assert world.platform.disk.execute("SELECT count(*) FROM payments").fetchone() == (0,)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        pytest.param({"loan_id": LOAN, "amount": 0}, 422, id="zero-amount"),
        pytest.param({"loan_id": LOAN, "amount": "12.00"}, 422, id="amount-as-text"),
        pytest.param({"loan_id": "L-nobody", "amount": 100}, 404, id="unknown-loan"),
    ],
)
def test_capture_refuses_bad_repayments(make_world: MakeWorld, body: dict, status: int) -> None:
    """A repayment with a non-positive amount or for an unknown loan is refused, capturing
    nothing."""
    world = book(make_world())
    response = world.platform.handle("repay", body, {})
    assert response.status == status
    assert world.platform.disk.execute("SELECT count(*) FROM payments").fetchone() == (0,)
    assert world.network.payments == {}


# -- forwarding -------------------------------------------------------------------------------


def test_forward_uses_the_payment_id_as_idempotency_key_after_forward_after(
    make_world: MakeWorld, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """forward_after after the capture the platform posts the repayment to the bank with its
    payment id as the Idempotency-Key and the capture instant as value time."""
    world = begin(make_world(platform={"forward_after": "7m"},
                             steps=[repay("2026-02-01T21:00")]))
    seen = spy(monkeypatch, world.bank)
    advance(world, "2026-02-01T23:00")
    calls = [c for c in seen if c.operation == "post_repayment"]
    captured = instant(world, "2026-02-01T21:00")
    assert [c.at for c in calls] == [captured + timedelta(minutes=7)]
    assert calls[0].headers == {"Idempotency-Key": "PAY00000001"}
    assert calls[0].body["payment_id"] == "PAY00000001"
    assert datetime.fromisoformat(calls[0].body["value_time"]) == captured
    assert payment(world)["status"] == "acked"
    assert payment(world)["posting_id"] == "PST00000001"
    assert outbox(world) == []


@pytest.mark.parametrize(
    ("retry_first", "retry_max", "outage", "minutes"),
    [
        pytest.param("1m", "5m", "40m", [10, 11, 13, 17, 22, 27, 32, 37, 42], id="1m-capped-5m"),
        pytest.param("2m", "1h", "50m", [10, 12, 16, 24, 40, 72], id="2m-doubling"),
    ],
)
def test_forward_retries_with_capped_exponential_backoff(
    make_world: MakeWorld, retry_first: str, retry_max: str, outage: str, minutes: list[int],
) -> None:
    """During an outage the forward is retried after retry_first, doubling, capped at retry_max,
    and stops once the bank acknowledges it."""
    world = begin(make_world(
        platform={"forward_after": "10m", "retry_first": retry_first, "retry_max": retry_max},
        steps=[fault("2026-02-01T10:00", "outage", link="platform->bank", for_=outage),
               repay("2026-02-01T10:00")]))
    advance(world, "2026-02-01T18:00")
    captured = instant(world, "2026-02-01T10:00")
    calls = forward_calls(world)
    assert [at for at, _ in calls] == [captured + timedelta(minutes=m) for m in minutes]
    assert [outcome for _, outcome in calls] == ["refused"] * (len(minutes) - 1) + ["delivered"]
    assert payment(world)["status"] == "acked"
    assert outbox(world) == []
    assert len(bank_postings(world)) == 1


def forwards(world: World) -> list[tuple[str, str, str]]:
    """(local time, payment id, outcome) of every forward, in order."""
    return [(e.at.astimezone(world.clock.tz).strftime("%H:%M"), e.data["ref"], e.data["outcome"])
            for e in entries(world, "link.call")
            if e.party == "platform->bank" and e.data["op"] == "post_repayment"]


def test_the_relay_probes_a_failing_link_with_one_repayment_and_then_forwards_all(
    make_world: MakeWorld,
) -> None:
    """Three repayments wait out an outage behind the oldest: it alone is retried with
    backoff; once it goes through, the same tick forwards the other two, oldest first; each
    one held is journaled once, naming the one it waits behind and the next try."""
    world = begin(make_world(
        platform={"forward_after": "10m", "retry_first": "2m", "retry_max": "1h"},
        steps=[fault("2026-02-01T10:00", "outage", link="platform->bank", for_="50m"),
               *(repay("2026-02-01T10:00", installment=n) for n in (1, 2, 3))]))
    advance(world, "2026-02-01T18:00")
    tries = ("10:10", "10:12", "10:16", "10:24", "10:40")
    assert forwards(world) == [
        *((at, "PAY00000001", "refused") for at in tries),
        ("11:12", "PAY00000001", "delivered"), ("11:12", "PAY00000002", "delivered"),
        ("11:12", "PAY00000003", "delivered")]
    held = [(e.at, e.data) for e in entries(world, "platform.forward_held")]
    assert held == [(instant(world, "2026-02-01T10:10"),
                     {"payment_id": f"PAY0000000{n}", "behind": "PAY00000001",
                      "until": instant(world, "2026-02-01T10:12").astimezone(UTC).isoformat()})
                    for n in (2, 3)]
    assert [payment(world, f"PAY0000000{n}")["status"] for n in (1, 2, 3)] == ["acked"] * 3
    assert outbox(world) == []


def test_a_repayment_captured_while_the_link_is_paused_waits_for_the_pause(
    make_world: MakeWorld,
) -> None:
    """A repayment captured while the relay backs off the link is not tried on its own: it is
    held until the pause ends and goes with the probe."""
    world = begin(make_world(
        platform={"forward_after": "10m", "retry_first": "1h", "retry_max": "1h"},
        steps=[fault("2026-02-01T10:00", "outage", link="platform->bank", for_="30m"),
               repay("2026-02-01T10:00", installment=1),
               repay("2026-02-01T10:20", installment=2)]))
    advance(world, "2026-02-01T18:00")
    assert forwards(world) == [("10:10", "PAY00000001", "refused"),
                               ("11:10", "PAY00000001", "delivered"),
                               ("11:10", "PAY00000002", "delivered")]
    [held] = entries(world, "platform.forward_held")
    assert held.at == instant(world, "2026-02-01T10:20")
    assert held.data["payment_id"] == "PAY00000002"


def test_a_refusal_for_good_does_not_stop_the_relay(make_world: MakeWorld) -> None:
    """A repayment the bank refuses for good is refunded and the tick goes on: the link
    works, so the next repayment is forwarded at once (and refused the same way)."""
    world = begin(make_world(steps=[
        fault("2026-02-01T10:00", "error", link="platform->bank", status=422, for_="30m"),
        repay("2026-02-01T10:00", installment=1), repay("2026-02-01T10:00", installment=2)]))
    advance(world, "2026-02-01T18:00")
    assert forwards(world) == [("10:10", "PAY00000001", "error"),
                               ("10:10", "PAY00000002", "error")]
    assert [payment(world, p)["status"] for p in ("PAY00000001", "PAY00000002")] == \
        ["refunded", "refunded"]
    assert entries(world, "platform.forward_held") == []


def test_a_restarted_platform_probes_at_once(make_world: MakeWorld) -> None:
    """The link's pause lives in memory: restarted at 10:40, the relay tries the repayment
    that is due at once instead of waiting for the pause to end at 11:10; the oldest one
    due is then the probe again."""
    world = begin(make_world(
        platform={"forward_after": "10m", "retry_first": "1h", "retry_max": "1h"},
        steps=[fault("2026-02-01T10:00", "outage", link="platform->bank", for_="3h"),
               repay("2026-02-01T10:00", installment=1),
               repay("2026-02-01T10:00", installment=2),
               fault("2026-02-01T10:30", "crash", party="platform", for_="10m")]))
    advance(world, "2026-02-01T18:00")
    assert forwards(world) == [
        ("10:10", "PAY00000001", "refused"), ("10:40", "PAY00000002", "refused"),
        ("11:40", "PAY00000001", "refused"), ("12:40", "PAY00000001", "refused"),
        ("13:40", "PAY00000001", "delivered"), ("13:40", "PAY00000002", "delivered")]


@pytest.mark.parametrize(
    ("status", "refunded"),
    [
        pytest.param(422, True, id="422-refunded"),
        pytest.param(404, True, id="404-refunded"),
        pytest.param(409, False, id="409-retried"),
        pytest.param(503, False, id="503-retried"),
    ],
)
def test_rejected_forward_is_refunded(make_world: MakeWorld, status: int, refunded: bool) -> None:
    """A 4xx rejection other than 409 refunds the borrower and texts them; 409 and 5xx are
    retried until the bank posts the repayment."""
    world = begin(make_world(steps=[
        fault("2026-02-01T10:00", "error", link="platform->bank", status=status, for_="30m"),
        repay("2026-02-01T10:00")]))
    advance(world, "2026-02-01T18:00")
    texts = [e.data for e in entries(world, "sms.sent")
             if e.data["reason"] == "repayment_refunded"]
    stored = payment(world)
    if refunded:
        assert stored["status"] == "refunded"
        assert world.oracle.refunds == {"PAY00000001": stored["amount"]}
        assert [e.data["bank_status"] for e in entries(world, "platform.refunded")] == [status]
        assert [(t["borrower"], t["sender"]) for t in texts] == [("alice", "platform")]
        assert len(forward_calls(world)) == 1  # never forwarded again
        assert bank_postings(world) == []
    else:
        assert stored["status"] == "acked"
        assert world.oracle.refunds == {}
        assert texts == []
        assert len(bank_postings(world)) == 1
    assert outbox(world) == []


# -- reconciliation ------------------------------------------------------------------------


def test_reconciliation_lists_the_previous_days_captures_forwarded_or_not(
    make_world: MakeWorld, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """At 01:00 the file for the previous day lists every capture of that day, acknowledged
    or still pending, and none of the current day."""
    world = begin(make_world(steps=[
        repay("2026-02-01T10:00", installment=1),
        fault("2026-02-01T11:00", "outage", link="platform->bank", for_="2d"),
        repay("2026-02-01T12:00", installment=2),
        repay("2026-02-02T00:20", installment=3)]))
    seen = spy(monkeypatch, world.bank)
    advance(world, "2026-02-02T02:00")
    files = [c for c in seen if c.operation == "submit_reconciliation"]
    assert [payment(world, p)["status"] for p in ("PAY00000001", "PAY00000002")] == \
        ["acked", "pending"]
    [sent] = [f for f in files if f.body["business_date"] == "2026-02-01"]
    assert sent.at == instant(world, "2026-02-02T01:00")
    assert [e["payment_id"] for e in sent.body["entries"]] == ["PAY00000001", "PAY00000002"]
    assert sent.body["count"] == 2
    assert sent.body["total"] == sum(e["amount"] for e in sent.body["entries"])
    stored = world.bank.disk.execute(
        "SELECT matched, in_transit FROM reconciliation_files WHERE business_date = ?",
        ("2026-02-01",)).fetchone()
    assert stored == (1, 1)


def test_reconciliation_is_retried_while_the_recon_link_is_down(make_world: MakeWorld) -> None:
    """A file the recon link refuses is resent with backoff until the bank receives it once."""
    world = begin(make_world(
        platform={"retry_first": "1m", "retry_max": "1h"},
        steps=[fault("2026-02-02T00:00", "outage", link="recon", for_="3h")]))
    advance(world, "2026-02-02T06:00")
    calls = [(e.at, e.data["outcome"]) for e in entries(world, "link.call")
             if e.party == "recon" and e.data["ref"] == "2026-02-01"]
    assert [at for at, _ in calls] == [instant(world, f"2026-02-02T{t}") for t in (
        "01:00", "01:01", "01:03", "01:07", "01:15", "01:31", "02:03", "03:03")]
    assert [outcome for _, outcome in calls] == ["refused"] * 7 + ["delivered"]
    received = [e for e in entries(world, "bank.reconciliation_received")
                if e.data["business_date"] == "2026-02-01"]
    assert [e.at for e in received] == [instant(world, "2026-02-02T03:03")]


# -- planted defects -------------------------------------------------------------------------


def pair(defect: str) -> pytest.MarkDecorator:
    """Parametrize a defect test over the reference platform and the one with ``defect``."""
    return pytest.mark.parametrize(
        "defects", [pytest.param((), id="reference"), pytest.param((defect,), id=defect)])


@pair("platform.no_retry")
def test_defect_no_retry(make_world: MakeWorld, defects: tuple[str, ...]) -> None:
    """platform.no_retry abandons a forward after its first failure."""
    world = begin(make_world(defects=defects, steps=[
        fault("2026-02-01T10:00", "outage", link="platform->bank", for_="1h"),
        repay("2026-02-01T10:00")]))
    advance(world, "2026-02-01T18:00")
    abandoned = [e.data["payment_id"] for e in entries(world, "platform.forward_abandoned")]
    if defects:
        assert forward_calls(world) == [(instant(world, "2026-02-01T10:10"), "refused")]
        assert abandoned == ["PAY00000001"]
        assert payment(world)["status"] == "abandoned"
        assert bank_postings(world) == []
    else:
        # after 10:10, waits of 1, 2, 4, 8, 16 and 32 minutes: the outage is over at 11:13
        assert forward_calls(world) == [
            (instant(world, f"2026-02-01T{t}"), "refused")
            for t in ("10:10", "10:11", "10:13", "10:17", "10:25", "10:41")
        ] + [(instant(world, "2026-02-01T11:13"), "delivered")]
        assert abandoned == []
        assert payment(world)["status"] == "acked"
        assert len(bank_postings(world)) == 1


@pair("platform.new_key_per_retry")
def test_defect_new_key_per_retry(make_world: MakeWorld, defects: tuple[str, ...]) -> None:
    """platform.new_key_per_retry retries a forward whose answer was lost under a fresh key; the
    bank posts the payment id once and refuses the retry, so the platform refunds money the
    bank has posted."""
    world = begin(make_world(defects=defects, steps=[
        fault("2026-02-01T10:09", "timeout_after_commit", link="platform->bank", for_="2m"),
        repay("2026-02-01T10:00")]))
    advance(world, "2026-02-01T18:00")
    keys = [row[1] for row in bank_postings(world)]
    assert keys == ["PAY00000001"]
    assert len(entries(world, "bank.replayed")) == (0 if defects else 1)
    assert payment(world)["status"] == ("refunded" if defects else "acked")


@pair("platform.outbox_not_durable")
def test_defect_outbox_not_durable(make_world: MakeWorld, defects: tuple[str, ...]) -> None:
    """platform.outbox_not_durable loses a pending forward in a crash; the durable outbox
    forwards it after the restart."""
    world = begin(make_world(defects=defects, steps=[
        repay("2026-02-01T10:00"),
        fault("2026-02-01T10:01", "crash", party="platform", for_="1h")]))
    advance(world, "2026-02-02T10:00")
    if defects:
        assert forward_calls(world) == []
        assert payment(world)["status"] == "pending"
        assert world.platform.in_transit() == {}  # nothing remembers it any more
    else:
        assert forward_calls(world) == [(instant(world, "2026-02-01T11:01"), "delivered")]
        assert payment(world)["status"] == "acked"


@pair("platform.reconciliation_omits_pending")
def test_defect_reconciliation_omits_pending(
    make_world: MakeWorld, defects: tuple[str, ...],
) -> None:
    """platform.reconciliation_omits_pending leaves an unacknowledged repayment out of the file,
    so the bank warns a borrower who paid on time."""
    world = begin(make_world(defects=defects, steps=[
        fault("2026-02-01T20:00", "outage", link="platform->bank", for_="2d"),
        repay("2026-02-01T21:00")]))
    advance(world, "2026-02-02T12:00")
    [received] = [e.data for e in entries(world, "bank.reconciliation_received")
                  if e.data["business_date"] == "2026-02-01"]
    assert received["count"] == (0 if defects else 1)
    assert [e.data["installment"] for e in warnings(world)] == ([1] if defects else [])


@pair("platform.value_time_is_send_time")
def test_defect_value_time_is_send_time(make_world: MakeWorld, defects: tuple[str, ...]) -> None:
    """platform.value_time_is_send_time stamps a delayed forward with the send instant, so an
    on-time repayment reaches the bank as a late one."""
    world = begin(make_world(defects=defects, steps=[
        fault("2026-02-01T20:00", "outage", link="platform->bank", for_="6h"),
        repay("2026-02-01T21:00")]))
    advance(world, "2026-02-03T00:00")
    [(_, _, value_us, received_us)] = bank_postings(world)
    captured = to_us(instant(world, "2026-02-01T21:00"))
    assert value_us == (received_us if defects else captured)
    assert received_us > installment(world, 1)["due_end_us"]
    # stamped 02:13 on 02-02, one day late: 394,060 × 0.18 × 1.5 / 360 = 295.55 → 296
    assert installment(world, 1)["penalty_charged"] == (296 if defects else 0)
    assert datetime.fromisoformat(str(payment(world)["value_time"])).astimezone(UTC) == \
        instant(world, "2026-02-01T21:00")  # the platform's own record keeps the capture
