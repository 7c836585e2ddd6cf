"""The reference bank: booking, posting by value time, the day-end batch and its gate."""

from __future__ import annotations

import json
from datetime import UTC, date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest

from simulator.core.calendars import local_midnight
from simulator.core.instants import to_us
from simulator.engine.journal import Entry
from simulator.world.world import World
from tests.support.worlds import (
    LOAN,
    MakeWorld,
    advance,
    begin,
    book,
    dispute,
    entries,
    fault,
    installment,
    instant,
    local,
    post,
    repay,
    warnings,
)

#: alice's default loan: 12 000.00 at 18% over 3 months, equal installments (minor units),
#: by hand: the annuity 1,200,000 × 0.015 × 1.015³ / (1.015³ − 1) = 412,059.55 → 412,060 a
#: month; interests 18,000, 805,940 × 0.015 = 12,089.1 → 12,089, 405,969 × 0.015 → 6,090
SCHEDULE = [(394060, 18000), (399971, 12089), (405969, 6090)]
PRINCIPAL = 1_200_000


def penalty(principal: int, days: int, rate: str = "0.18") -> int:
    """Penalty interest as the loan contract states it: principal × rate × 1.5 / 360 per day."""
    value = principal * Decimal(rate) * Decimal("1.5") * days / 360
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def postings(world: World) -> list[tuple[str, str, str | None, int, int, str]]:
    return world.bank.disk.execute(
        "SELECT posting_id, payment_id, idempotency_key, applied, refunded, allocation"
        " FROM postings ORDER BY posting_id").fetchall()


def records(world: World) -> list[Entry]:
    """The overdue records the bureau applied from the bank's ordinary reports."""
    return [e for e in entries(world, "bureau.record") if e.data["status"] == "overdue"]


def classified(world: World, business_date: str) -> dict[str, object]:
    """The batch's classify stage of ``business_date`` (it runs exactly once)."""
    found = [e.data for e in entries(world, "bank.batch_classified")
             if e.data["business_date"] == business_date]
    assert len(found) == 1, found
    return found[0]


def acted(world: World, business_date: str) -> dict[str, object]:
    """The batch's act stage of ``business_date`` (it runs exactly once)."""
    found = [e.data for e in entries(world, "bank.batch_acted")
             if e.data["business_date"] == business_date]
    assert len(found) == 1, found
    return found[0]


# -- booking -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("disbursed", "months", "method", "due_dates", "parts"),
    [
        pytest.param("2026-01-15", 3, "equal_installment",
                     ["2026-02-15", "2026-03-15", "2026-04-15"], SCHEDULE,
                     id="same-day-of-month"),
        # the annuity 1,200,000 × 0.015 × 1.015⁴ / (1.015⁴ − 1) = 311,333.74 → 311,334;
        # interests 18,000, 906,666 × 0.015 = 13,599.99 → 13,600, 608,932 × 0.015 = 9,133.98 →
        # 9,134, and 306,732 × 0.015 = 4,600.98 → 4,601
        pytest.param("2026-01-31", 4, "equal_installment",
                     ["2026-02-28", "2026-03-31", "2026-04-30", "2026-05-31"],
                     [(293334, 18000), (297734, 13600), (302200, 9134), (306732, 4601)],
                     id="month-end-clamp"),
        # 600,000 a month; 1.5% of 1,200,000 then of 600,000
        pytest.param("2028-01-31", 2, "equal_principal", ["2028-02-29", "2028-03-31"],
                     [(600000, 18000), (600000, 9000)], id="leap-february-clamp"),
        pytest.param("2026-11-30", 3, "equal_principal",
                     ["2026-12-30", "2027-01-30", "2027-02-28"],
                     [(400000, 18000), (400000, 12000), (400000, 6000)], id="across-the-year"),
    ],
)
def test_booking_creates_the_schedule(
    make_world: MakeWorld, jurisdiction: str, disbursed: str, months: int, method: str,
    due_dates: list[str], parts: list[tuple[int, int]],
) -> None:
    """Booking a loan creates one installment a month, due on the same day clamped to month end,
    with the hand-worked principal and interest parts; the loan owes their sum."""
    world = book(make_world(jurisdiction=jurisdiction, disbursed=disbursed, months=months,
                            method=method, until="2029-01-01"))  # the loan is within the run
    rows = world.bank.disk.execute(
        "SELECT number, due_date, principal, interest FROM installments WHERE loan_id = ?"
        " ORDER BY number", (LOAN,)).fetchall()
    assert [r[0] for r in rows] == list(range(1, months + 1))
    assert [r[1] for r in rows] == due_dates
    assert [(r[2], r[3]) for r in rows] == parts
    assert sum(principal for principal, _ in parts) == PRINCIPAL
    loan = world.bank.handle("get_loan", {"loan_id": LOAN}, {})
    assert loan.status == 200
    assert loan.body["outstanding"] == PRINCIPAL + sum(interest for _, interest in parts)


@pytest.mark.parametrize(
    ("jurisdiction", "disbursed", "due_date"),
    [
        pytest.param("CN", "2026-01-17", "2026-02-24", id="CN-spring-festival"),
        pytest.param("CN", "2026-01-14", "2026-02-14", id="CN-make-up-saturday-stays"),
        pytest.param("CN", "2026-01-07", "2026-02-09", id="CN-weekend"),
        pytest.param("US", "2026-01-16", "2026-02-17", id="US-presidents-day"),
        pytest.param("US", "2026-01-12", "2026-02-12", id="US-working-day-stays"),
    ],
)
def test_booking_shifts_due_dates_to_the_next_working_day(
    make_world: MakeWorld, jurisdiction: str, disbursed: str, due_date: str,
) -> None:
    """With holiday_shift next_working_day the first due date moves off holidays and weekends,
    honouring CN make-up working days, and agrees with the oracle."""
    world = book(make_world(jurisdiction=jurisdiction, disbursed=disbursed,
                            bank={"holiday_shift": "next_working_day"}))
    assert installment(world, 1)["due_date"] == due_date
    assert world.oracle.installment("alice", 1).due_date.isoformat() == due_date


def test_booking_the_same_loan_twice_is_a_conflict(make_world: MakeWorld) -> None:
    """Booking a loan id that already exists answers 409 and leaves the schedule alone."""
    world = book(make_world())
    loan = {"loan_id": LOAN, "borrower": "alice", "subject_id": "X", "name": "A", "phone": "1",
            "principal": 100, "annual_rate": "0.1", "months": 1, "method": "equal_installment",
            "disbursed": "2026-01-01"}
    response = world.bank.handle("book_loan", loan, {})
    assert response.status == 409
    assert response.body["title"] == "Loan exists"
    (count,) = world.bank.disk.execute(
        "SELECT count(*) FROM installments WHERE loan_id = ?", (LOAN,)).fetchone()
    assert count == 3


@pytest.mark.parametrize(
    ("paid", "late"),
    [pytest.param("2026-02-04T23:59", False, id="last-grace-day"),
     pytest.param("2026-02-05T00:00", True, id="after-grace")],
)
def test_grace_days_extend_the_due_end(make_world: MakeWorld, paid: str, late: bool) -> None:
    """With three grace days an installment due 02-01 is on time until the end of 02-04."""
    world = begin(make_world(bank={"grace_days": 3}, steps=[repay(paid)]))
    advance(world, "2026-02-07T00:00")
    inst = installment(world, 1)
    assert inst["due_end_us"] == to_us(instant(world, "2026-02-05T00:00"))
    assert inst["settled_us"] == to_us(instant(world, paid))
    # paid at the first instant of 02-05: one day late, 394,060 × 0.18 × 1.5 / 360 = 295.55
    assert (inst["max_dpd"], inst["penalty_charged"]) == ((1, 296) if late else (0, 0))


# -- posting ---------------------------------------------------------------------------


def outage_over_due_end(**overrides: object) -> dict[str, object]:
    """alice pays installment 1 on its due date while the repayment API is down overnight."""
    return {"steps": [fault("2026-02-01T20:00", "outage", link="platform->bank", for_="6h"),
                      repay("2026-02-01T21:00")], **overrides}


def test_posting_judges_lateness_by_value_time(make_world: MakeWorld, jurisdiction: str) -> None:
    """A repayment captured on time but delivered after the due end settles on time:
    the batch's days past due and penalty are undone, and nothing overdue goes out."""
    world = begin(make_world(**outage_over_due_end(jurisdiction=jurisdiction)))
    advance(world, "2026-02-04T00:00")
    assert classified(world, "2026-02-01")["overdue"] == 1  # the batch saw it unpaid
    (received_us, value_us) = world.bank.disk.execute(
        "SELECT received_us, value_us FROM postings").fetchone()
    inst = installment(world, 1)
    assert received_us > inst["due_end_us"]
    assert value_us == to_us(instant(world, "2026-02-01T21:00"))
    assert inst["settled_us"] == value_us
    assert inst["max_dpd"] == 0
    assert inst["penalty_charged"] == 0
    assert warnings(world) == []
    assert records(world) == []


def test_replayed_idempotency_key_returns_the_first_posting(
    make_world: MakeWorld, jurisdiction: str,
) -> None:
    """A replayed Idempotency-Key answers with the identical response and posts nothing more."""
    world = book(make_world(jurisdiction=jurisdiction))
    first = post(world, 100_00, world.clock.now, key="PAY00000001")
    replay = post(world, 100_00, world.clock.now, key="PAY00000001")
    assert first.status == 201
    assert (replay.status, replay.body) == (first.status, first.body)
    assert len(postings(world)) == 1
    assert installment(world, 1)["paid"] == 100_00
    assert [e.data["key"] for e in entries(world, "bank.replayed")] == ["PAY00000001"]


@pytest.mark.parametrize(
    "headers",
    [pytest.param({}, id="absent"), pytest.param({"Idempotency-Key": ""}, id="empty")],
)
def test_posting_needs_an_idempotency_key(make_world: MakeWorld, headers: dict) -> None:
    """A repayment without an Idempotency-Key is refused with a 400 problem document."""
    world = book(make_world())
    body = {"payment_id": "P1", "loan_id": LOAN, "amount": 100, "currency": "CNY",
            "value_time": world.clock.now.isoformat()}
    response = world.bank.handle("post_repayment", body, headers)
    assert response.status == 400
    assert response.body["type"] == "about:blank"
    assert response.body["status"] == 400
    assert "Idempotency-Key" in response.body["title"]
    assert postings(world) == []


def test_posting_to_an_unknown_loan_is_not_found(make_world: MakeWorld) -> None:
    """A repayment for a loan the bank never booked answers 404 and posts nothing."""
    world = book(make_world())
    response = post(world, 100, world.clock.now, loan_id="L-nobody")
    assert response.status == 404
    assert response.body["title"] == "Unknown loan"
    assert postings(world) == []


@pytest.mark.parametrize(
    "amount",
    [pytest.param(0, id="zero"), pytest.param(-500, id="negative"),
     pytest.param(1.5, id="float"), pytest.param("100", id="text")],
)
def test_posting_needs_a_positive_whole_amount(make_world: MakeWorld, amount: object) -> None:
    """A repayment of zero, a negative or a non-integer amount answers 422 and posts nothing."""
    world = book(make_world())
    response = post(world, amount, world.clock.now)  # type: ignore[arg-type]
    assert response.status == 422
    assert response.body["status"] == 422
    assert postings(world) == []


@pytest.mark.parametrize(
    "amount", [pytest.param(0, id="zero"), pytest.param(-500, id="negative")],
)
def test_counter_payment_is_validated_before_money_moves(
    make_world: MakeWorld, amount: int,
) -> None:
    """A payment at the counter with a non-positive amount is refused with 422 before the
    bank captures anything from the borrower."""
    world = book(make_world())
    response = world.bank.handle("pay_at_counter", {"loan_id": LOAN, "amount": amount}, {})
    assert response.status == 422
    assert postings(world) == []
    assert world.oracle.payments == {}


@pytest.mark.parametrize(
    ("at", "status"),
    [
        pytest.param("2026-01-05T00:29", 201, id="before-classify"),
        pytest.param("2026-01-05T00:31", 409, id="between-classify-and-act"),
        pytest.param("2026-01-05T00:33", 201, id="after-the-gate"),
    ],
)
def test_posting_is_held_during_the_day_end_batch(
    make_world: MakeWorld, at: str, status: int,
) -> None:
    """Between the batch's classify (00:30) and act stages a real-time posting gets 409."""
    world = begin(make_world())
    advance(world, at)
    response = post(world, 100_00, world.clock.now)
    assert response.status == status
    assert len(postings(world)) == (1 if status == 201 else 0)
    if status == 409:
        assert response.body["retry_after"] == 120  # the batch acts 2 minutes after it classifies


def test_allocation_goes_to_penalty_first_and_oldest_installment_first(
    make_world: MakeWorld,
) -> None:
    """A partial payment clears the oldest installment's penalty before the installment itself;
    the rest finishes that installment before the next one's penalty and amount."""
    world = begin(make_world())
    advance(world, "2026-03-05T12:00")
    now = world.clock.now
    penalty_1 = penalty(SCHEDULE[0][0], days=32)  # due 02-01, paid 03-05
    penalty_2 = penalty(SCHEDULE[1][0], days=4)  # due 03-01
    amount_1 = sum(SCHEDULE[0])
    first = post(world, penalty_1 + 1000, now, payment_id="P1", key="P1")
    rest = post(world, amount_1 - 1000 + penalty_2 + 500, now, payment_id="P2", key="P2")
    assert (first.status, rest.status) == (201, 201)
    allocations = [json.loads(row[5]) for row in postings(world)]
    assert allocations == [[[1, penalty_1, 1000]],
                           [[1, 0, amount_1 - 1000], [2, penalty_2, 500]]]
    assert installment(world, 1)["settled_us"] == to_us(now)
    assert installment(world, 2)["settled_us"] is None


def test_overpayment_beyond_payoff_is_refunded_in_the_posting(make_world: MakeWorld) -> None:
    """Paying more than the whole loan applies the payoff and refunds the excess."""
    world = book(make_world())
    payoff = world.bank.handle("get_loan", {"loan_id": LOAN}, {}).body["outstanding"]
    response = post(world, payoff + 12_34, world.clock.now)
    assert response.status == 201
    assert (response.body["applied"], response.body["refunded"]) == (payoff, 12_34)
    assert postings(world)[0][3:5] == (payoff, 12_34)
    assert world.bank.handle("get_loan", {"loan_id": LOAN}, {}).body["outstanding"] == 0


@pytest.mark.parametrize(
    ("short_by", "settles"),
    [
        pytest.param("0.50", True, id="below-tolerance"),
        pytest.param("1.00", True, id="at-tolerance"),
        pytest.param("1.01", False, id="beyond-tolerance"),
    ],
)
def test_arrears_tolerance_settles_small_residuals(
    make_world: MakeWorld, short_by: str, settles: bool,
) -> None:
    """An installment whose residual is at most the arrears tolerance counts as paid on time."""
    world = begin(make_world(bank={"arrears_tolerance": "1.00"},
                             steps=[repay("2026-02-01T12:00", short_by=short_by)]))
    advance(world, "2026-02-03T00:00")
    inst = installment(world, 1)
    assert (inst["settled_us"] is not None) is settles
    assert (warnings(world) == []) is settles
    assert (records(world) == []) is settles


# -- the reconciliation gate ------------------------------------------------------------


@pytest.mark.parametrize("wait", [pytest.param("3d", id="3d"), pytest.param("1d", id="1d")])
def test_gate_holds_overdue_actions_until_recon_max_wait(make_world: MakeWorld, wait: str) -> None:
    """Without the day's reconciliation file no overdue SMS or bureau record goes out until
    recon_max_wait after the batch classified the day."""
    world = begin(make_world(bank={"recon_max_wait": wait},
                             steps=[fault("2026-02-01T08:00", "outage", link="recon",
                                          for_="10d")]))
    advance(world, "2026-02-08T00:00")
    classified_at = instant(world, "2026-02-02T00:30")
    due = classified_at + {"3d": timedelta(days=3), "1d": timedelta(days=1)}[wait]
    assert classified(world, "2026-02-01")["overdue"] == 1
    sent = warnings(world)
    assert sent, "the wait ran out: the warning must go out"
    assert sent[0].at == due
    assert records(world)[0].at == due
    assert acted(world, "2026-02-01")["reconciled"] is False


def test_repayment_listed_in_the_file_counts_as_paid(make_world: MakeWorld) -> None:
    """A repayment the reconciliation file lists but the bank has not yet received covers its
    installment: the batch acts with no warning and no bureau record."""
    world = begin(make_world(steps=[
        fault("2026-02-01T20:00", "outage", link="platform->bank", for_="2d"),
        repay("2026-02-01T21:00")]))
    advance(world, "2026-02-02T01:30")
    received = [e.data for e in entries(world, "bank.reconciliation_received")
                if e.data["business_date"] == "2026-02-01"]
    assert received == [{"business_date": "2026-02-01", "count": 1, "in_transit": 1}]
    assert classified(world, "2026-02-01")["overdue"] == 1
    assert acted(world, "2026-02-01") == {"business_date": "2026-02-01", "reconciled": True,
                                          "warnings": 0, "reports": 0}
    advance(world, "2026-02-05T00:00")  # the transfer lands; still nothing overdue
    assert installment(world, 1)["settled_us"] == to_us(instant(world, "2026-02-01T21:00"))
    assert warnings(world) == []
    assert records(world) == []


def test_listed_repayment_that_never_arrives_stops_covering(make_world: MakeWorld) -> None:
    """A repayment listed in the file but refunded by the platform afterwards (the bank refused
    it) does not shield the truly unpaid installment forever: it is warned and reported."""
    world = begin(make_world(steps=[
        fault("2026-02-01T20:00", "outage", link="platform->bank", for_="6h"),
        fault("2026-02-02T02:00", "error", link="platform->bank", status=422, for_="1d"),
        repay("2026-02-01T21:00")]))
    advance(world, "2026-02-15T00:00")
    assert [e.data["bank_status"] for e in entries(world, "platform.refunded")] == [422]
    assert installment(world, 1)["settled_us"] is None
    assert [e.data["installment"] for e in warnings(world)] == [1]
    assert [e.data["installment"] for e in records(world)] == [1]


def late_arrival_after_false_report(**overrides: object) -> dict[str, object]:
    """The docking link (API and file) is down six days from the due date, beyond the wait."""
    return {"steps": [fault("2026-02-01T08:00", "outage", link="platform->bank", for_="6d"),
                      fault("2026-02-01T08:00", "outage", link="recon", for_="6d"),
                      repay("2026-02-01T21:00")], **overrides}


def test_late_arrival_of_an_on_time_repayment_reverses_and_corrects(
    make_world: MakeWorld,
) -> None:
    """When an on-time repayment arrives after the bank reported it overdue, the bank reverses
    the penalty and the bureau receives a correction back to current."""
    world = begin(make_world(**late_arrival_after_false_report()))
    advance(world, "2026-02-12T00:00")
    false_record = records(world)
    assert [e.data["installment"] for e in false_record] == [1]
    reversed_ = entries(world, "bank.penalty_reversed")
    # the repayment, retried hourly at :13, lands at 02-07 08:13; the last batch (00:30 on
    # 02-07) had charged 6 days: 394,060 × 0.18 × 1.5 / 360 × 6 = 1,773.27
    assert [(e.at, e.data["installment"], e.data["amount"]) for e in reversed_] == [
        (instant(world, "2026-02-07T08:13"), 1, 1773)]
    corrections = entries(world, "bureau.correction")
    assert [(e.data["installment"], e.data["status"]) for e in corrections] == [(1, "current")]
    assert false_record[0].at < reversed_[0].at <= corrections[0].at
    assert corrections[0].at - reversed_[0].at < world.jurisdiction.correction_limit
    subject = world.scenario.borrowers[0].id_number
    assert world.bureau.read_period_status(subject, LOAN, "2026-02") == "current"
    assert installment(world, 1)["penalty_charged"] == 0


def test_dispute_verification_counts_a_repayment_the_platform_holds(
    make_world: MakeWorld,
) -> None:
    """Asked to verify a disputed period while the repayment is still in transit, the bank asks
    the platform, answers current, and neither re-reports nor re-corrects when it lands."""
    world = begin(make_world(steps=[
        fault("2026-02-01T08:00", "outage", link="platform->bank", for_="20d"),
        fault("2026-02-01T08:00", "outage", link="recon", for_="20d"),
        repay("2026-02-01T21:00"),
        dispute("2026-02-06T12:00", "2026-02")]))
    advance(world, "2026-02-25T00:00")
    assert [e.data["installment"] for e in records(world)] == [1]  # the false record
    asked = [e for e in entries(world, "link.call")
             if e.party == "bank->platform" and e.data["op"] == "list_payments"]
    assert [e.at for e in asked] == [instant(world, "2026-02-07T12:00")]
    verified = entries(world, "bank.dispute_verified")
    assert [e.data["statuses"] for e in verified] == [["current"]]
    corrections = entries(world, "bureau.correction")
    assert [c.data.get("dispute_id") for c in corrections] == ["DSP000001"]
    posted = entries(world, "bank.posted")
    assert len(posted) == 1 and posted[0].at > corrections[0].at
    assert len(records(world)) == 1
    assert installment(world, 1)["settled_us"] == to_us(instant(world, "2026-02-01T21:00"))


# -- reporting per jurisdiction ---------------------------------------------------------


def test_cn_reports_delinquency_the_same_night_from_dpd_1(make_world: MakeWorld) -> None:
    """In CN an unpaid installment reaches the bureau in the first night's batch, at DPD 1."""
    world = begin(make_world(jurisdiction="CN"))
    advance(world, "2026-02-03T00:00")
    found = records(world)
    assert [(e.data["installment"], e.data["days_past_due"]) for e in found] == [(1, 1)]
    assert local(world, found[0].at).date() == date(2026, 2, 2)


@pytest.mark.parametrize(
    ("days_late", "reported"),
    [pytest.param(29, False, id="29-days-late"), pytest.param(31, True, id="31-days-late")],
)
def test_us_reports_monthly_from_dpd_30(
    make_world: MakeWorld, days_late: int, reported: bool,
) -> None:
    """In the US a delinquency is reported only at the month-end batch and only once it reached
    30 days past due."""
    paid = (date(2026, 2, 10) + timedelta(days=days_late)).isoformat()
    world = begin(make_world(jurisdiction="US", disbursed="2026-01-10",
                             steps=[repay(f"{paid}T12:00")]))
    advance(world, "2026-04-03T00:00")
    assert installment(world, 1)["settled_us"] == to_us(instant(world, f"{paid}T12:00"))
    found = [e for e in records(world) if e.data["installment"] == 1]
    if reported:
        assert [e.data["days_past_due"] for e in found] == [days_late]
        assert local(world, found[0].at).date() == date(2026, 4, 1)  # month-end batch of 03-31
    else:
        assert found == []
    subject = world.scenario.borrowers[0].id_number
    assert world.bureau.read_period_status(subject, LOAN, "2026-02") == (
        "overdue" if reported else "current")


def test_late_repayment_in_transit_across_the_batch_keeps_its_own_days_past_due(
    make_world: MakeWorld,
) -> None:
    """A repayment 29 days late that reaches the bank only after the batch counted day 30 (the
    bank was down) settles the installment at 29 days past due: the US month-end report,
    from 30 days, leaves it out (explore found the bank reporting 30)."""
    world = begin(make_world(jurisdiction="US", disbursed="2026-01-10", steps=[
        fault("2026-03-11T11:00", "crash", party="bank", for_="1d"),
        repay("2026-03-11T12:00")]))
    advance(world, "2026-04-03T00:00")
    settled = installment(world, 1)
    assert settled["settled_us"] == to_us(instant(world, "2026-03-11T12:00"))
    # due 2026-02-10, late from 02-11: 03-11 is day 29 (February 2026 has 28 days)
    assert settled["max_dpd"] == 29
    assert [e for e in records(world) if e.data["installment"] == 1] == []
    subject = world.scenario.borrowers[0].id_number
    assert world.bureau.read_period_status(subject, LOAN, "2026-02") == "current"


def test_a_day_does_not_act_before_an_earlier_days_file_is_in(make_world: MakeWorld) -> None:
    """The bank is down from 01:00 after the due date for 23 hours: when it is back, the next
    day's (empty) file arrives before the due date's, which lists the on-time repayment in
    transit. The next day's batch waits for the earlier file, so nobody is texted or reported
    overdue (explore found the bank acting on the later file first)."""
    world = begin(make_world(platform={"forward_after": "2h"}, steps=[
        repay("2026-02-01T23:00"),
        fault("2026-02-02T01:00", "crash", party="bank", for_="1384m")]))
    advance(world, "2026-02-05T00:00")
    assert warnings(world) == []
    assert [e for e in records(world) if e.data["installment"] == 1] == []
    acted = [e.data["business_date"] for e in entries(world, "bank.batch_acted")]
    assert acted == sorted(acted), "business dates act in order"
    assert {"2026-02-01", "2026-02-02"} <= set(acted)


def test_a_late_repayment_in_transit_at_month_end_keeps_its_days_past_due(
    make_world: MakeWorld,
) -> None:
    """US: installment 1 is due 2026-03-02 and paid at 23:59 on 03-31, 29 days late; the
    repayment is still in transit when the month-end batch acts, but the file lists it, so the
    bank counts 29 days (below the 30 the US reports from), not the batch's 30."""
    world = begin(make_world(jurisdiction="US", disbursed="2026-02-02",
                             platform={"forward_after": "2h"},
                             steps=[repay("2026-03-31T23:59")]))
    advance(world, "2026-04-03T00:00")
    assert [e for e in records(world) if e.data["status"] == "overdue"] == []
    assert installment(world, 1)["max_dpd"] == 29
    subject = world.scenario.borrowers[0].id_number
    assert world.bureau.read_period_status(subject, LOAN, "2026-03") == "current"


def test_a_day_acting_late_leaves_the_month_ends_installments_to_its_act(
    make_world: MakeWorld,
) -> None:
    """US: installment 1, due 2026-02-10, is never paid. The file of 03-30 is held up by a
    recon outage until after the month-end batch classified 03-31; 03-30 then acts first, and
    the month end's act must still see the installment (49 days past due) and report it
    (explore found the late act consuming it: the delinquency was never reported)."""
    world = begin(make_world(jurisdiction="US", disbursed="2026-01-10", months=1,
                             bank={"batch_at": "00:05"}, platform={"retry_first": "5m"},
                             steps=[fault("2026-03-31T01:00", "outage", link="recon",
                                          for_="1336m")]))
    advance(world, "2026-04-02T00:00")
    acted = [e.data["business_date"] for e in entries(world, "bank.batch_acted")]
    assert acted[-2:] == ["2026-03-30", "2026-03-31"]
    (record,) = [e for e in records(world) if e.data["installment"] == 1]
    assert record.data["days_past_due"] >= 30
    subject = world.scenario.borrowers[0].id_number
    assert world.bureau.read_period_status(subject, LOAN, "2026-02") == "overdue"


# -- planted defects: each changes exactly what it names ----------------------------------


def pair(defect: str) -> pytest.MarkDecorator:
    """Parametrize a defect test over the reference bank and the bank with ``defect``."""
    return pytest.mark.parametrize(
        "defects", [pytest.param((), id="reference"), pytest.param((defect,), id=defect)])


@pair("bank.posts_by_receipt_time")
def test_defect_posts_by_receipt_time(make_world: MakeWorld, defects: tuple[str, ...]) -> None:
    """bank.posts_by_receipt_time judges an on-time repayment delivered late as paid late."""
    world = begin(make_world(**outage_over_due_end(defects=defects)))
    advance(world, "2026-02-04T00:00")
    inst = installment(world, 1)
    (value_us, effective_us, received_us) = world.bank.disk.execute(
        "SELECT value_us, effective_us, received_us FROM postings").fetchone()
    assert value_us == to_us(instant(world, "2026-02-01T21:00"))  # the value time is kept
    assert received_us > inst["due_end_us"]
    late = bool(defects)
    assert effective_us == (received_us if late else value_us)
    # paid late, the amount due on time no longer covers the penalty: not settled at all
    assert inst["settled_us"] == (None if late else value_us)
    # received at 02:13 on 02-02 (hourly retries at :13 after the 6-hour outage), one day late:
    # the penalty takes 2.96 of the amount due, the installment stays open, and the batch at
    # 00:30 on 02-03 counts 2 days: 394,060 × 0.18 × 1.5 / 360 × 2 = 591.09. On time, the
    # first batch's day is undone.
    assert (inst["max_dpd"], inst["penalty_charged"]) == ((2, 591) if late else (0, 0))
    assert ([e.data["installment"] for e in warnings(world)] == [1]) is late


@pair("bank.reports_without_reconciliation")
def test_defect_reports_without_reconciliation(
    make_world: MakeWorld, defects: tuple[str, ...],
) -> None:
    """bank.reports_without_reconciliation acts on the batch without waiting for the file."""
    world = begin(make_world(defects=defects, steps=[
        fault("2026-02-01T08:00", "outage", link="recon", for_="10d")]))
    advance(world, "2026-02-06T00:00")
    expected = "2026-02-02T00:32" if defects else "2026-02-05T00:30"
    assert warnings(world)[0].at == instant(world, expected)
    assert records(world)[0].at == instant(world, expected)
    assert [e.data["business_date"] for e in entries(world, "bank.batch_waiting")
            if e.data["business_date"] == "2026-02-01"] == ([] if defects else ["2026-02-01"])


@pair("bank.no_correction_on_late_arrival")
def test_defect_no_correction_on_late_arrival(
    make_world: MakeWorld, defects: tuple[str, ...],
) -> None:
    """bank.no_correction_on_late_arrival still reverses the penalty but never corrects the
    bureau, so the false record stays."""
    world = begin(make_world(**late_arrival_after_false_report(defects=defects)))
    advance(world, "2026-03-01T00:00")
    # reported once when the wait ran out (00:30 on 02-05), never again while marked overdue
    assert [(e.at, e.data["installment"]) for e in records(world)] == [
        (instant(world, "2026-02-05T00:30"), 1)]
    assert [e.data["installment"] for e in entries(world, "bank.penalty_reversed")] == [1]
    corrections = entries(world, "bureau.correction")
    subject = world.scenario.borrowers[0].id_number
    status = world.bureau.read_period_status(subject, LOAN, "2026-02")
    if defects:
        assert (corrections, status) == ([], "overdue")
    else:
        assert (len(corrections), status) == (1, "current")


@pair("bank.utc_cutoff")
def test_defect_utc_cutoff(make_world: MakeWorld, defects: tuple[str, ...]) -> None:
    """bank.utc_cutoff ends the due date at midnight UTC (08:00 in Shanghai), so a payment at
    07:00 the next local morning escapes its penalty."""
    world = book(make_world(jurisdiction="CN", defects=defects))
    zone = UTC if defects else world.jurisdiction.tz
    assert installment(world, 1)["due_end_us"] == to_us(local_midnight(date(2026, 2, 2), zone))
    advance(world, "2026-02-02T07:00")
    response = post(world, sum(SCHEDULE[0]) + 10_000, world.clock.now)
    assert response.status == 201
    (number, to_penalty, _) = json.loads(postings(world)[0][5])[0]
    assert number == 1
    assert to_penalty == (0 if defects else penalty(SCHEDULE[0][0], days=1))


@pair("bank.ignores_holiday_shift")
def test_defect_ignores_holiday_shift(make_world: MakeWorld, defects: tuple[str, ...]) -> None:
    """bank.ignores_holiday_shift keeps a due date that falls on a holiday where the contract
    moves it to the next working day."""
    world = book(make_world(defects=defects, disbursed="2026-01-17",
                            bank={"holiday_shift": "next_working_day"}))
    expected = "2026-02-17" if defects else "2026-02-24"
    assert installment(world, 1)["due_date"] == expected
    assert installment(world, 1)["due_end_us"] == to_us(
        local_midnight(date.fromisoformat(expected) + timedelta(days=1), world.jurisdiction.tz))
    assert installment(world, 2)["due_date"] == "2026-03-17"  # a working day either way


@pair("bank.no_tolerance")
def test_defect_no_tolerance(make_world: MakeWorld, defects: tuple[str, ...]) -> None:
    """bank.no_tolerance treats a residual within the arrears tolerance as overdue."""
    world = begin(make_world(defects=defects, bank={"arrears_tolerance": "1.00"},
                             steps=[repay("2026-02-01T12:00", short_by="0.50")]))
    advance(world, "2026-02-03T00:00")
    assert installment(world, 1)["paid"] == sum(SCHEDULE[0]) - 50
    assert (installment(world, 1)["settled_us"] is None) is bool(defects)
    assert [e.data["installment"] for e in warnings(world)] == ([1] if defects else [])
    assert [e.data["installment"] for e in records(world)] == ([1] if defects else [])


@pair("bank.ignores_idempotency_key")
def test_defect_ignores_idempotency_key(make_world: MakeWorld, defects: tuple[str, ...]) -> None:
    """bank.ignores_idempotency_key posts a replayed repayment a second time."""
    world = book(make_world(defects=defects))
    first = post(world, 100_00, world.clock.now)
    replay = post(world, 100_00, world.clock.now)
    assert [row[2] for row in postings(world)] == (["P1", "P1"] if defects else ["P1"])
    assert installment(world, 1)["paid"] == (200_00 if defects else 100_00)
    assert (replay.body["posting_id"] == first.body["posting_id"]) is not bool(defects)


@pair("bank.suppresses_delinquency")
def test_defect_suppresses_delinquency(make_world: MakeWorld, defects: tuple[str, ...]) -> None:
    """bank.suppresses_delinquency never reports a true delinquency, though it still warns."""
    world = begin(make_world(defects=defects))
    advance(world, "2026-02-05T00:00")
    assert [e.data["installment"] for e in warnings(world)] == [1]
    assert [e.data["installment"] for e in records(world)] == ([] if defects else [1])
