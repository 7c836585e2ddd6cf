"""What the checks read of a run judges cause before effect: money given back in full by the
party that took it is "never meant to be posted" only if it went back before the payment
reached the bank (README, "What it checks": ``exactly_once_posting``)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from simulator.checks.invariants import CHECKS
from tests.support.facts import LEVEL, facts_builder

SHANGHAI = ZoneInfo("Asia/Shanghai")
#: every deadline of the loan has passed
END = datetime(2026, 5, 15, 12, tzinfo=SHANGHAI)
#: 100.00, paid after the loan was paid off: nothing of it is owed
SURPLUS = 10_000


def cn(day: int, month: int = 2, hour: int = 12) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=SHANGHAI)


def test_a_counter_payment_given_back_in_full_as_its_own_surplus_is_posted_once() -> None:
    """A payment at the bank's counter after the loan was paid off is posted (nothing applied)
    and given back in full by the same operation: it was meant to be posted, once, and every
    money check holds."""
    world = facts_builder()
    # more than the whole loan (3 × 340.02, the last a cent more at most), on time
    world.pay("P1", 3 * LEVEL + 100, cn(1, hour=21))
    world.post("P1", 3 * LEVEL + 100, cn(1, hour=22))
    world.pay("CTR1", SURPLUS, cn(10), via="bank")
    world.post("CTR1", SURPLUS, cn(10), applied=0)
    world.give_back("CTR1", SURPLUS, cn(10), by="bank")
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


def test_a_platform_refund_after_the_posting_is_a_money_harm() -> None:
    """A platform that refunds a repayment the bank already posted (and applied) leaves it
    posted once; the harm is money: applied and given back both, and owed money refunded."""
    world = facts_builder()
    world.pay("P1", LEVEL, cn(1, hour=21))
    world.post("P1", LEVEL, cn(1, hour=22))
    world.give_back("P1", LEVEL, cn(2), by="platform")
    facts = world.facts(END)
    assert facts.refunded_by_taker == set()
    assert CHECKS["exactly_once_posting"](facts) == []
    (conserved,) = CHECKS["money_conserved"](facts)
    assert "34002 too much" in conserved.message
    assert len(CHECKS["no_wrongful_refund"](facts)) == 1


def test_part_given_back_first_and_the_rest_after_the_posting_is_posted_once() -> None:
    """Money given back in two parts counts as given back in full only once the second has
    gone; when that is after the posting appeared, the payment was meant to be posted."""
    world = facts_builder()
    world.pay("P1", LEVEL, cn(1, hour=21))
    world.give_back("P1", 2_000, cn(2), by="platform")
    world.post("P1", LEVEL, cn(3))
    world.give_back("P1", LEVEL - 2_000, cn(4), by="platform")
    assert world.facts(END).refunded_by_taker == set()
