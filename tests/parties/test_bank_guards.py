"""The bank's guards on a repayment (simulator.parties.bank.ledger): one posting per payment id
whatever the key, the loan's currency only, and a value time within the loan's window."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from simulator.parties.bank.ledger import VALUE_TIME_SKEW
from tests.support.worlds import LOAN, MakeWorld, book, installment, post


def postings(world: object) -> list[tuple[str, str | None]]:
    rows: list[tuple[str, str | None]] = world.bank.disk.execute(  # type: ignore[attr-defined]
        "SELECT payment_id, idempotency_key FROM postings ORDER BY posting_id").fetchall()
    return rows


def test_one_payment_is_posted_once_whatever_the_key(make_world: MakeWorld,
                                                     jurisdiction: str) -> None:
    """The same payment id under four keys is posted once; each other key is refused with a
    422 "Payment already posted" naming the first posting."""
    world = book(make_world(jurisdiction=jurisdiction))
    first = post(world, 100_00, world.clock.now, payment_id="PAY1", key="K1")
    assert first.status == 201
    for key in ("K2", "K3", "K4"):
        again = post(world, 100_00, world.clock.now, payment_id="PAY1", key=key)
        assert again.status == 422 and again.body["title"] == "Payment already posted"
        assert first.body["posting_id"] in again.body["detail"]
    assert postings(world) == [("PAY1", "K1")]
    assert installment(world, 1)["paid"] == 100_00
    replay = post(world, 100_00, world.clock.now, payment_id="PAY1", key="K1")
    assert (replay.status, replay.body) == (201, first.body)


def test_a_planted_idempotency_defect_still_posts_twice(make_world: MakeWorld) -> None:
    """bank.ignores_idempotency_key turns both guards off (the defect the library catches)."""
    world = book(make_world(defects=["bank.ignores_idempotency_key"]))
    post(world, 100, world.clock.now, payment_id="PAY1", key="K1")
    post(world, 100, world.clock.now, payment_id="PAY1", key="K2")
    assert len(postings(world)) == 2


@pytest.mark.parametrize("currency", ["USD", "XXX", "cny", None])
def test_a_repayment_in_another_currency_is_refused(make_world: MakeWorld,
                                                    currency: str | None) -> None:
    """A CNY loan refuses a repayment in USD, XXX or none with 422 "Currency mismatch"."""
    world = book(make_world())
    body = {"payment_id": "P1", "loan_id": LOAN, "amount": 100, "currency": currency,
            "value_time": world.clock.now.isoformat()}
    response = world.bank.handle("post_repayment", body, {"Idempotency-Key": "P1"})
    assert response.status == 422 and response.body["title"] == "Currency mismatch"
    assert "CNY" in response.body["detail"]
    assert postings(world) == []


@pytest.mark.parametrize("value_time", [
    pytest.param("1990-01-01T00:00:00+00:00", id="1990"),
    pytest.param("2030-01-01T00:00:00+00:00", id="2030"),
    pytest.param("2025-12-31T15:59:59+00:00", id="a second before disbursement"),
])
def test_a_value_time_outside_the_window_is_refused(make_world: MakeWorld,
                                                    value_time: str) -> None:
    """A value time before the loan's disbursement (local midnight) or after the bank's clock
    plus the skew is refused with 422 "Value time out of range" naming both instants."""
    world = book(make_world(disbursed="2026-01-01"))
    response = post(world, 100, datetime.fromisoformat(value_time))
    assert response.status == 422 and response.body["title"] == "Value time out of range"
    assert value_time in response.body["detail"]
    assert postings(world) == []


def test_the_window_edges_are_accepted(make_world: MakeWorld) -> None:
    """The disbursement's local midnight and the clock plus the skew are inside the window."""
    world = book(make_world(disbursed="2026-01-01"))
    midnight = datetime.fromisoformat("2026-01-01T00:00:00+08:00")
    assert post(world, 100, midnight, payment_id="P1", key="P1").status == 201
    edge = world.clock.now + VALUE_TIME_SKEW
    assert post(world, 100, edge, payment_id="P2", key="P2").status == 201
    late = world.clock.now + VALUE_TIME_SKEW + timedelta(seconds=1)
    assert post(world, 100, late, payment_id="P3", key="P3").status == 422
