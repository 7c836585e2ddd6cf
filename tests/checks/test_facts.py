"""What the checks read of a run judges cause before effect: a payment its taker gave back in
full must stay unposted if it went back before the payment reached the bank, or while the bank
holds it applied; given back once it reached the bank and applied nowhere, it is the posting's
surplus (README, "What it checks": ``exactly_once_posting``). A full give-back never excuses a
second posting."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from simulator.checks.invariants import CHECKS
from tests.support.facts import LEVEL, FactsBuilder, facts_builder

SHANGHAI = ZoneInfo("Asia/Shanghai")
#: every deadline of the loan has passed
END = datetime(2026, 5, 15, 12, tzinfo=SHANGHAI)
#: 100.00, paid after the loan was paid off: nothing of it is owed
SURPLUS = 10_000


def cn(day: int, month: int = 2, hour: int = 12) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=SHANGHAI)


def _paid_off_then_paid_at_the_counter() -> FactsBuilder:
    """The loan paid off on time, then 100.00 paid at the bank's counter, posted with nothing
    applied and given back in full by the same operation."""
    world = facts_builder()
    # more than the whole loan (3 × 340.02, the last a cent more at most), on time
    world.pay("P1", 3 * LEVEL + 100, cn(1, hour=21))
    world.post("P1", 3 * LEVEL + 100, cn(1, hour=22))
    world.pay("CTR1", SURPLUS, cn(10), via="bank")
    world.post("CTR1", SURPLUS, cn(10), applied=0)
    world.give_back("CTR1", SURPLUS, cn(10), by="bank")
    return world


def test_a_counter_payment_given_back_in_full_as_its_own_surplus_is_posted_once() -> None:
    """A payment at the bank's counter after the loan was paid off is posted (nothing applied)
    and given back in full by the same operation: it was meant to be posted, once, and every
    money check holds."""
    world = _paid_off_then_paid_at_the_counter()
    facts = world.facts(END)
    assert facts.refunded_by_taker == set()
    assert CHECKS["exactly_once_posting"](facts) == []
    assert CHECKS["money_conserved"](facts) == []
    assert CHECKS["no_wrongful_refund"](facts) == []


@pytest.mark.parametrize(
    ("via", "posted_at", "causes"),
    [
        # the platform gave it back because the bank refused it: never to be posted
        pytest.param("platform", None, [], id="platform-refund-never-posted"),
        pytest.param("platform", cn(3), ["posted and refunded"],
                     id="platform-refund-then-posted"),
        # a counter that took the money and handed it back without posting
        pytest.param("bank", None, [], id="counter-handed-back-unposted"),
        pytest.param("bank", cn(3), ["posted and refunded"], id="counter-handed-back-then-posted"),
    ],
)
def test_money_given_back_before_it_reached_the_bank_is_never_posted(
        via: str, posted_at: datetime | None, causes: list[str]) -> None:
    """A payment its taker gave back in full before any posting of it appeared must not be
    posted afterwards."""
    world = facts_builder()
    world.pay("P1", LEVEL, cn(1, hour=21), via=via)
    world.give_back("P1", LEVEL, cn(2), by=via)
    if posted_at is not None:
        world.post("P1", LEVEL, posted_at)
    facts = world.facts(END)
    assert facts.refunded_by_taker == {"P1"}
    assert [v.cause for v in CHECKS["exactly_once_posting"](facts)] == causes


def test_a_platform_refund_of_a_payment_the_bank_applied_is_posted_and_refunded() -> None:
    """A platform that refunds in full a repayment the bank has posted and applied (it took a
    refused retry for a failed forward) has the money both applied and given back: a posting
    fault, and a money harm — 34002 too much, and owed money refunded."""
    world = facts_builder()
    world.pay("P1", LEVEL, cn(1, hour=21))
    world.post("P1", LEVEL, cn(1, hour=22))
    world.give_back("P1", LEVEL, cn(2), by="platform")
    facts = world.facts(END)
    assert facts.refunded_by_taker == {"P1"}
    assert [v.cause for v in CHECKS["exactly_once_posting"](facts)] == ["posted and refunded"]
    (conserved,) = CHECKS["money_conserved"](facts)
    assert "34002 too much" in conserved.message
    assert len(CHECKS["no_wrongful_refund"](facts)) == 1


@pytest.mark.parametrize(
    ("applied", "refunded_by_taker"),
    [
        pytest.param(0, set(), id="the-posting-applies-none-of-it"),
        pytest.param(LEVEL, {"P1"}, id="the-posting-applies-it"),
    ],
)
def test_a_whole_give_back_completed_after_the_posting_is_judged_by_what_it_applies(
        applied: int, refunded_by_taker: set[str]) -> None:
    """Money given back in two parts counts as given back in full once the second has gone;
    when that is after the posting appeared, it is the posting's surplus if the bank applies
    none of it, and a refund of money the bank also applied if it does."""
    world = facts_builder()
    world.pay("P1", LEVEL, cn(1, hour=21))
    world.give_back("P1", 2_000, cn(2), by="platform")
    world.post("P1", LEVEL, cn(3), applied=applied)
    world.give_back("P1", LEVEL - 2_000, cn(4), by="platform")
    assert world.facts(END).refunded_by_taker == refunded_by_taker


def test_a_counter_payment_given_back_whole_and_posted_twice_is_a_repeated_posting() -> None:
    """A full give-back does not excuse a second posting: the counter payment posted (nothing
    applied, all given back) and posted again is posted twice."""
    world = _paid_off_then_paid_at_the_counter()
    world.post("CTR1", SURPLUS, cn(11), applied=0)
    (violation,) = CHECKS["exactly_once_posting"](world.facts(END))
    assert violation.cause == "repeated posting"
    assert "posted 2 times (PST00000002, PST00000003)" in violation.message


def test_a_counter_payment_applied_and_also_given_back_whole_is_a_money_harm() -> None:
    """A counter payment of installment 1 (34002 owed, nothing more) that the bank applies in
    full and also gives back in full is posted and refunded both: the books hold 34002 too
    much and money the borrower owed went back."""
    world = facts_builder()
    world.pay("CTR1", LEVEL, cn(1, hour=10), via="bank")
    world.post("CTR1", LEVEL, cn(1, hour=10))
    world.give_back("CTR1", LEVEL, cn(1, hour=10), by="bank")
    facts = world.facts(END)
    assert [v.cause for v in CHECKS["exactly_once_posting"](facts)] == ["posted and refunded"]
    (conserved,) = CHECKS["money_conserved"](facts)
    assert "the bank applied 34002, 34002 went back" in conserved.message
    assert "34002 too much" in conserved.message
    (refund,) = CHECKS["no_wrongful_refund"](facts)
    assert "but only 0 of it was more than the loan owed" in refund.message


def test_a_surplus_given_back_by_the_bank_for_a_platform_payment_is_posted_once() -> None:
    """A platform payment after the loan was paid off, posted with nothing applied and given
    back whole by the bank (not the party that took it), was meant to be posted once."""
    world = facts_builder()
    world.pay("P1", 3 * LEVEL + 100, cn(1, hour=21))
    world.post("P1", 3 * LEVEL + 100, cn(1, hour=22))
    world.pay("P2", SURPLUS, cn(10))
    world.post("P2", SURPLUS, cn(10, hour=13), applied=0)
    world.give_back("P2", SURPLUS, cn(10, hour=13), by="bank")
    facts = world.facts(END)
    assert facts.refunded_by_taker == set()
    assert CHECKS["exactly_once_posting"](facts) == []
    assert CHECKS["money_conserved"](facts) == []
    assert CHECKS["no_wrongful_refund"](facts) == []
