"""The reference bank's re-allocation by value time: a surplus it leaves goes back as part of
the payment whose allocation left it."""

from __future__ import annotations

from datetime import timedelta

from tests.support.worlds import LOAN, MakeWorld, book, instant, post

#: alice's default loan (12 000.00 at 18% over 3 months): installments 412,060, 412,060 and
#: 412,059 (394,060 + 18,000; 399,971 + 12,089; 405,969 + 6,090), 1,236,179 in all
PAYOFF = 412_060 + 412_060 + 412_059


def test_surplus_of_a_reallocation_goes_back_with_the_payment_that_left_it(
    make_world: MakeWorld,
) -> None:
    """A payment pays the loan off; then one made five minutes earlier, of 400.00 less,
    arrives: re-allocated in value-time order, the earlier pays first, the later pays the
    400.00 left and its surplus goes back as part of it — not of the payment just posted."""
    world = book(make_world())
    world.clock.now = instant(world, "2026-02-01T20:10")
    counter_at = instant(world, "2026-02-01T20:05")
    assert post(world, PAYOFF, counter_at, payment_id="CTR1", key="CTR1").status == 201
    app = post(world, PAYOFF - 40_000, counter_at - timedelta(minutes=5), payment_id="PAY1",
               key="PAY1")
    assert app.status == 201
    assert (app.body["applied"], app.body["refunded"]) == (PAYOFF - 40_000, 0)
    assert [(back.payment_id, back.amount) for back in world.network.returns] == [
        ("CTR1", PAYOFF - 40_000)]
    rows = world.bank.disk.execute(
        "SELECT payment_id, applied, refunded FROM postings WHERE loan_id = ?"
        " ORDER BY posting_id", (LOAN,)).fetchall()
    assert rows == [("CTR1", 40_000, PAYOFF - 40_000), ("PAY1", PAYOFF - 40_000, 0)]
