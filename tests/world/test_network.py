"""The payment network and the world's audit: the truth comes from money really moving and
from the parties' state, never from what a party says it did."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from simulator.engine.links import Body, Response
from simulator.parties.bureau import Bureau
from simulator.parties.platform import Platform
from simulator.world.runner import run_scenario
from tests.support.scenario_text import load, repay
from tests.support.worlds import LOAN, MakeWorld, advance, begin
from tests.support.worlds import repay as pay


def test_money_leaves_the_borrower_when_the_platform_accepts(make_world: MakeWorld) -> None:
    """The network records what the borrower sent, at the instant the platform accepted it,
    under the payment id the platform answered."""
    world = begin(make_world(steps=[repay("2026-02-01T21:00")]))
    advance(world, "2026-02-01T21:01")
    (payment,) = world.network.payments.values()
    assert (payment.borrower, payment.loan_id, payment.via) == ("alice", LOAN, "platform")
    assert payment.payment_id == "PAY00000001"
    assert payment.value_time.isoformat() == "2026-02-01T13:00:00+00:00"
    assert world.oracle.payments == {"PAY00000001": payment}


def test_a_platform_recording_less_cannot_shrink_what_was_paid(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A platform that keeps a fee (records and forwards less than the borrower sent) is
    caught: the truth is what the borrower sent, so the bank applied too little."""
    original = Platform.op_repay

    def keep_a_fee(self: Platform, body: Body, headers: Mapping[str, str]) -> Response:
        return original(self, {**body, "amount": body["amount"] - 100}, headers)

    monkeypatch.setattr(Platform, "op_repay", keep_a_fee)
    result = run_scenario(load(until="2026-02-20", steps=[repay("2026-02-01T10:00")]))
    assert "money_conserved" in result.violated
    (gap,) = result.violations["money_conserved"]
    assert "100 missing" in gap.message
    assert result.violations["exactly_once_posting"][0].cause == "wrong amount"


def test_a_credit_file_write_counts_even_when_the_bureau_says_nothing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A bureau that changes a record without journaling it is still seen: the world audits
    the database, not the bureau's account."""

    original = Bureau.journal

    def silent(self: Bureau, kind: str, /, **data: Any) -> int:
        if kind in ("record", "correction"):
            return 0
        return original(self, kind, **data)

    monkeypatch.setattr(Bureau, "journal", silent)
    scenario = load(until="2026-03-02", world={"defects": ["bank.reports_without_reconciliation"]},
                    steps=[*({"at": "2026-02-01T08:00", "fault": {"kind": "outage", "link": link,
                                                                  "for": "3d"}}
                             for link in ("platform->bank", "recon")),
                           repay("2026-02-01T21:00")])
    result = run_scenario(scenario)
    assert [v.installment for v in result.violations["no_false_overdue"]] == [1]


def test_a_surplus_the_counter_gives_back_at_once_belongs_to_its_payment(
        make_world: MakeWorld) -> None:
    """A counter payment beyond the whole loan: the bank hands the surplus back while taking
    the payment, before the world knows the payment's name from the answer; the return is
    made once the payment is recorded, so it is known, the oracle nets it and money is
    conserved (explore found it counted as money returned for no payment)."""
    world = begin(make_world(months=1, principal="1000.00",
                             steps=[pay("2026-01-20T10:00", via="bank", amount="2000.00")]))
    advance(world, "2026-01-20T10:01")
    (payment,) = world.network.payments.values()
    (back,) = world.network.returns
    assert (back.payment_id, back.by, back.known) == (payment.payment_id, "bank", True)
    assert 0 < back.amount < 100_000
    kinds = [e.kind for e in world.journal.entries(("money.taken", "money.returned"))]
    assert kinds == ["money.taken", "money.returned"]
    assert not world.judge(("money_conserved", "no_wrongful_refund"))["money_conserved"]
