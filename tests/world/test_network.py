"""The payment network and the world's audit: the truth comes from money really moving and
from the parties' state, never from what a party says it did."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest

from simulator.checks.oracle import Oracle
from simulator.core.calendars import jurisdiction
from simulator.core.clock import Clock
from simulator.engine.journal import Journal
from simulator.engine.links import Body, Response
from simulator.parties.bureau import Bureau
from simulator.parties.platform import Platform
from simulator.scenarios.loader import load_scenario_text
from simulator.scenarios.model import Borrower, ContractTerms, LoanTerms, Pays
from simulator.world.network import PaymentNetwork
from simulator.world.runner import run_scenario
from tests.support import worlds
from tests.support.scenario_text import load, repay
from tests.support.worlds import LOAN, MakeWorld, advance, begin, entries
from tests.support.worlds import repay as repay_step


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


# -- a payment handed over at the bank's counter ---------------------------------------------

#: a one-installment loan of 1000.00 at 18%: 1015.00 due on 2026-02-01, paid off on 01-25;
#: then 100.00 at the bank's counter, which the loan no longer owes
PAID_OFF_THEN_COUNTER = {
    "principal": "1000.00", "months": 1, "until": "2026-02-10T00:00",
    "steps": [repay_step("2026-01-25T10:00"),
              repay_step("2026-01-26T10:00", amount="100.00", via="bank")],
}


def test_a_surplus_the_counter_gives_back_belongs_to_the_payment_it_took(
        make_world: MakeWorld) -> None:
    """The bank posts a counter payment the paid-off loan does not owe and gives it all back
    in the same operation: the network records the 100.00 leaving the borrower at the
    counter first, then coming back as that payment's, and the run is sound."""
    world = begin(make_world(**PAID_OFF_THEN_COUNTER))
    advance(world, "2026-01-26T10:01")
    payment = world.network.payments["CTR00000001"]
    assert (payment.amount, payment.via) == (10_000, "bank")
    assert payment.value_time.isoformat() == "2026-01-26T02:00:00+00:00"
    [returned] = world.network.returns
    assert (returned.payment_id, returned.amount, returned.by, returned.known) == \
        ("CTR00000001", 10_000, "bank", True)
    kinds = [e.kind for e in entries(world, "money.taken", "money.returned")
             if e.data["payment_id"] == "CTR00000001"]
    assert kinds == ["money.taken", "money.returned"]
    assert world.oracle.refunds == {"CTR00000001": 10_000}


def test_a_paid_off_loan_paid_again_at_the_counter_is_judged_sound() -> None:
    """The whole run of that world breaks no invariant."""
    result = run_scenario(load_scenario_text(
        worlds.scenario_text(**PAID_OFF_THEN_COUNTER), file="counter.yaml"))
    assert result.violated == [], result.reasons()


def _network() -> PaymentNetwork:
    loan = LoanTerms(100_000, Decimal("0.12"), 3, "equal_installment", date(2026, 1, 1))
    alice = Borrower("alice", "Alice", "110101199003071234", "13812345678", loan, Pays())
    rules = jurisdiction("CN")
    clock = Clock(datetime(2026, 2, 1, 9, tzinfo=rules.tz), rules.tz)
    oracle = Oracle((alice,), ContractTerms(), rules)
    oracle.open_account("alice", "L-alice")
    return PaymentNetwork(clock, Journal(clock), oracle)


@pytest.mark.parametrize(
    ("answered", "returned_as", "known"),
    [
        pytest.param("CTR1", "CTR1", True, id="the-answer-names-it"),
        pytest.param("CTR2", "CTR1", False, id="the-answer-names-another-payment"),
        pytest.param(None, "CTR1", False, id="the-counter-took-nothing"),
    ],
)
def test_money_given_back_inside_a_hand_over_waits_for_the_payment_to_be_named(
        answered: str | None, returned_as: str, known: bool) -> None:
    """Inside a hand-over, money the taker gives back under an id nobody paid yet is recorded
    when the operation ends: as the payment's when the answer names that id, else as money
    returned for no payment."""
    network = _network()
    with network.handing_over("alice", "L-alice", 50_000, via="bank") as hand:
        network.give_back("CTR1", 15_998, by="bank")
        assert network.returns == []  # held: no payment of that id yet
        if answered is not None:
            hand.taken(answered)
    assert list(network.payments) == ([] if answered is None else [answered])
    [back] = network.returns
    assert (back.payment_id, back.amount, back.known) == (returned_as, 15_998, known)


def test_money_given_back_for_an_earlier_payment_is_not_held() -> None:
    """A give-back of a payment already made is a movement of its own, recorded at once."""
    network = _network()
    network.taken("alice", "L-alice", 40_000, via="platform", payment_id="PAY1")
    with network.handing_over("alice", "L-alice", 50_000, via="bank") as hand:
        network.give_back("PAY1", 5_998, by="bank")
        assert [(b.payment_id, b.known) for b in network.returns] == [("PAY1", True)]
        hand.taken("CTR1")
    assert network.payments["CTR1"].amount == 50_000


def test_a_surplus_the_counter_gives_back_at_once_belongs_to_its_payment(
        make_world: MakeWorld) -> None:
    """A counter payment beyond the whole loan: the bank hands the surplus back while taking
    the payment, before the world knows the payment's name from the answer; the return is
    made once the payment is recorded, so it is known, the oracle nets it and money is
    conserved (explore found it counted as money returned for no payment)."""
    world = begin(make_world(months=1, principal="1000.00",
                             steps=[repay_step("2026-01-20T10:00", via="bank", amount="2000.00")]))
    advance(world, "2026-01-20T10:01")
    (payment,) = world.network.payments.values()
    (back,) = world.network.returns
    assert (back.payment_id, back.by, back.known) == (payment.payment_id, "bank", True)
    assert 0 < back.amount < 100_000
    kinds = [e.kind for e in world.journal.entries(("money.taken", "money.returned"))]
    assert kinds == ["money.taken", "money.returned"]
    assert not world.judge(("money_conserved", "no_wrongful_refund"))["money_conserved"]
