"""The oracle: due dates, due ends, allocation and delinquency, from the contract alone."""

from __future__ import annotations

import ast
import importlib.util
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import chinese_calendar
import holidays
import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.checks.oracle import Oracle, Payment
from simulator.core.amortization import late_penalty
from simulator.core.calendars import jurisdiction
from simulator.scenarios.model import PENALTY_FACTOR, Borrower, ContractTerms, LoanTerms, Pays

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
CST = timezone(timedelta(hours=8))

# A 1000.00 loan at 12% a year over 3 months, equal installments, in fen:
# level payment 1000.00 × 0.01 × 1.01³ / (1.01³ − 1) = 340.0221… → 34002;
# installment 1 = 33002 principal + 1000 interest, installment 2 = 33332 + 670.
LEVEL = 34_002
PRINCIPAL_1 = 33_002
PRINCIPAL_2 = 33_332


def penalty(principal: int, days: int) -> int:
    """Penalty interest as the contract states it: principal × 12% × 1.5 / 360 per day."""
    exact = Decimal(principal) * Decimal("0.12") * Decimal("1.5") * days / 360
    return int(exact.quantize(Decimal(1), rounding="ROUND_HALF_UP"))


MakeOracle = Callable[..., Oracle]


def first_in_full(at: datetime, tz: ZoneInfo = SHANGHAI) -> int:
    """What settles installment 1 (due 2026-02-01, no grace) at ``at``: its level amount,
    plus penalty interest for each local day after the due date."""
    days_late = (at.astimezone(tz).date() - date(2026, 2, 1)).days
    return LEVEL + (penalty(PRINCIPAL_1, days_late) if days_late > 0 else 0)


def pay(oracle: Oracle, payment_id: str, amount: int, at: datetime) -> None:
    """The payment network reports alice's payment of ``amount`` at ``at``."""
    oracle.capture(Payment(payment_id, "alice", "L-alice", amount, at))


@pytest.fixture
def make_oracle() -> MakeOracle:
    """A factory of oracles for one borrower, ``alice``, with the loan terms given."""

    def make(*, disbursed: date = date(2026, 1, 1), months: int = 3, principal: int = 100_000,
             annual_rate: str = "0.12", code: str = "CN", grace_days: int = 0,
             arrears_tolerance: int = 0, holiday_shift: str = "none") -> Oracle:
        loan = LoanTerms(principal, Decimal(annual_rate), months, "equal_installment", disbursed)
        alice = Borrower("alice", "Alice Example", "110101199003071234", "13812345678", loan,
                         Pays())
        terms = ContractTerms(grace_days=grace_days, arrears_tolerance=arrears_tolerance,
                              holiday_shift=holiday_shift)
        oracle = Oracle((alice,), terms, jurisdiction(code))
        oracle.open_account("alice", "L-alice")
        return oracle

    return make


def cn(day: int, month: int = 2, hour: int = 12, minute: int = 0, second: int = 0) -> datetime:
    """An instant in 2026, Beijing time."""
    return datetime(2026, month, day, hour, minute, second, tzinfo=SHANGHAI)


# -- due dates ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("disbursed", "number", "expected"),
    [
        pytest.param(date(2026, 1, 1), 1, date(2026, 2, 1), id="same-day-next-month"),
        pytest.param(date(2026, 1, 31), 1, date(2026, 2, 28), id="jan31-to-feb28"),
        pytest.param(date(2028, 1, 31), 1, date(2028, 2, 29), id="jan31-to-leap-feb29"),
        pytest.param(date(2026, 1, 31), 2, date(2026, 3, 31), id="clamp-does-not-carry"),
        pytest.param(date(2026, 1, 31), 3, date(2026, 4, 30), id="jan31-to-apr30"),
        pytest.param(date(2026, 11, 30), 3, date(2027, 2, 28), id="across-year-end"),
    ],
)
def test_due_date_same_day_of_month_clamped(make_oracle: MakeOracle, disbursed: date,
                                            number: int, expected: date) -> None:
    """Installment k is due on the disbursement day-of-month k months later, clamped."""
    oracle = make_oracle(disbursed=disbursed)
    assert oracle.installment("alice", number).due_date == expected


def _cn_next_working_day(day: date) -> date:
    """The reference: the first day from ``day`` that chinesecalendar calls a workday."""
    while not chinese_calendar.is_workday(day):
        day += timedelta(days=1)
    return day


@pytest.mark.parametrize(
    ("disbursed", "expected"),
    [
        # National Day 2026 is 1–7 October; 8 October is a working day per the State Council
        # notice (and chinesecalendar), so the shift ends there.
        pytest.param(date(2026, 9, 1), date(2026, 10, 8), id="national-day-golden-week"),
        pytest.param(date(2026, 1, 14), date(2026, 2, 14), id="make-up-saturday-is-working"),
        pytest.param(date(2026, 9, 10), date(2026, 10, 10), id="make-up-saturday-after-holiday"),
        pytest.param(date(2026, 2, 7), date(2026, 3, 9), id="ordinary-saturday-to-monday"),
        pytest.param(date(2026, 1, 2), date(2026, 2, 2), id="working-monday-unchanged"),
    ],
)
def test_holiday_shift_cn_next_working_day(make_oracle: MakeOracle, disbursed: date,
                                           expected: date) -> None:
    """With next_working_day, a CN due date moves to the next working day per chinesecalendar."""
    unshifted = date(disbursed.year + disbursed.month // 12, disbursed.month % 12 + 1,
                     disbursed.day)
    assert expected == _cn_next_working_day(unshifted)  # the table agrees with the reference
    oracle = make_oracle(disbursed=disbursed, holiday_shift="next_working_day")
    inst = oracle.installment("alice", 1)
    assert inst.due_date == expected
    assert inst.period == f"{expected:%Y-%m}"


def test_holiday_shift_cn_from_national_day() -> None:
    """chinesecalendar puts National Day 2026 on 1–7 October and 10 October as a make-up workday."""
    assert [chinese_calendar.is_workday(date(2026, 10, d)) for d in range(1, 11)] == [
        False, False, False, False, False, False, False, True, True, True]
    assert date(2026, 10, 10).weekday() == 5  # a Saturday


def test_holiday_shift_none_keeps_the_holiday(make_oracle: MakeOracle) -> None:
    """Without a holiday shift a due date on a public holiday stays where the contract put it."""
    oracle = make_oracle(disbursed=date(2026, 9, 1))
    assert oracle.installment("alice", 1).due_date == date(2026, 10, 1)


def test_holiday_shift_us_follows_the_nyse_calendar(make_oracle: MakeOracle) -> None:
    """In the US a due date on an NYSE holiday (Independence Day, observed) moves to Monday."""
    observed = date(2026, 7, 3)
    assert observed in holidays.financial_holidays("NYSE", years=2026)
    oracle = make_oracle(code="US", disbursed=date(2026, 6, 3), holiday_shift="next_working_day")
    assert oracle.installment("alice", 1).due_date == date(2026, 7, 6)


# -- due end --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "disbursed", "number", "grace_days", "expected"),
    [
        pytest.param("CN", date(2026, 1, 1), 1, 0,
                     datetime(2026, 2, 2, tzinfo=CST), id="cn-no-grace"),
        pytest.param("CN", date(2026, 1, 1), 1, 3,
                     datetime(2026, 2, 5, tzinfo=CST), id="cn-three-grace-days"),
        pytest.param("US", date(2026, 8, 31), 2, 0,
                     datetime(2026, 11, 1, tzinfo=timezone(timedelta(hours=-4))),
                     id="us-oct31-still-daylight-time"),
        pytest.param("US", date(2026, 10, 1), 1, 0,
                     datetime(2026, 11, 2, tzinfo=timezone(timedelta(hours=-5))),
                     id="us-nov1-day-dst-ends"),
        pytest.param("US", date(2026, 10, 1), 1, 1,
                     datetime(2026, 11, 3, tzinfo=timezone(timedelta(hours=-5))),
                     id="us-grace-into-standard-time"),
    ],
)
def test_due_end_is_local_midnight_after_grace(make_oracle: MakeOracle, code: str,
                                               disbursed: date, number: int, grace_days: int,
                                               expected: datetime) -> None:
    """The due end is the local midnight after due date + grace days, at that day's offset."""
    oracle = make_oracle(code=code, disbursed=disbursed, grace_days=grace_days)
    inst = oracle.installment("alice", number)
    assert inst.due_end == expected
    assert inst.due_end.utcoffset() == expected.utcoffset()
    assert inst.grace_end == inst.due_date + timedelta(days=grace_days)


def test_us_due_dates_around_the_dst_change(make_oracle: MakeOracle) -> None:
    """The two New York due dates either side of the DST change are the ones the table assumes."""
    assert make_oracle(code="US", disbursed=date(2026, 8, 31)).installment(
        "alice", 2).due_date == date(2026, 10, 31)
    assert make_oracle(code="US", disbursed=date(2026, 10, 1)).installment(
        "alice", 1).due_date == date(2026, 11, 1)


# -- amounts and allocation -------------------------------------------------------------


def test_schedule_amounts(make_oracle: MakeOracle) -> None:
    """Each installment carries its scheduled amount and principal; principals sum to the loan."""
    oracle = make_oracle()
    installments = oracle.installments("alice")
    assert [i.amount for i in installments[:2]] == [LEVEL, LEVEL]
    assert [i.principal for i in installments[:2]] == [PRINCIPAL_1, PRINCIPAL_2]
    assert sum(i.principal for i in installments) == 100_000


def test_allocation_oldest_first_penalty_before_installment(make_oracle: MakeOracle) -> None:
    """A payment settles the oldest installment and its penalty, then the next penalty first."""
    oracle = make_oracle()
    at = cn(5, month=3, hour=10)  # installment 1 is 32 days late, installment 2 is 4
    penalty_1, penalty_2 = penalty(PRINCIPAL_1, 32), penalty(PRINCIPAL_2, 4)
    pay(oracle, "P1", LEVEL + penalty_1 + penalty_2 + 100, at)
    first, second, third = oracle.installments("alice")
    assert (first.paid, first.penalty_paid, first.settled_at) == (LEVEL, penalty_1, at)
    assert (second.penalty_paid, second.paid, second.settled_at) == (penalty_2, 100, None)
    assert (third.paid, third.penalty_paid) == (0, 0)
    assert first.settled_by == second.settled_by == ("P1",)


def test_allocation_short_of_the_penalty(make_oracle: MakeOracle) -> None:
    """Money short of the oldest penalty goes to that penalty only; nothing is settled."""
    oracle = make_oracle()
    pay(oracle, "P1", 50, cn(5, hour=10))
    first = oracle.installment("alice", 1)
    assert (first.penalty_paid, first.paid, first.settled_at) == (50, 0, None)


@pytest.mark.parametrize(
    ("at", "on_time"),
    [
        pytest.param(cn(1, hour=9), True, id="morning-of-due-date"),
        pytest.param(cn(1, hour=23, minute=59, second=59), True, id="last-second"),
        pytest.param(cn(2, hour=0), False, id="at-local-midnight"),
        pytest.param(datetime(2026, 2, 1, 16, 30, tzinfo=UTC), False,
                     id="before-utc-midnight-but-after-local"),
        pytest.param(cn(3, hour=10), False, id="two-days-later"),
    ],
)
def test_paid_on_time_or_late(make_oracle: MakeOracle, at: datetime, on_time: bool) -> None:
    """An installment paid in full before its local due end is on time; at or after it, late."""
    oracle = make_oracle()
    pay(oracle, "P1", first_in_full(at), at)
    inst = oracle.installment("alice", 1)
    assert inst.settled_at == at
    assert inst.paid_on_time is on_time


def test_grace_days_extend_on_time(make_oracle: MakeOracle) -> None:
    """With two grace days, paying two days after the due date is still on time."""
    oracle = make_oracle(grace_days=2)
    at = cn(3, hour=22)
    pay(oracle, "P1", LEVEL, at)
    assert oracle.installment("alice", 1).paid_on_time


@pytest.mark.parametrize(
    ("short_by", "settled"),
    [
        pytest.param(0, True, id="in-full"),
        pytest.param(99, True, id="below-tolerance"),
        pytest.param(100, True, id="exactly-tolerance"),
        pytest.param(101, False, id="above-tolerance"),
    ],
)
def test_arrears_tolerance(make_oracle: MakeOracle, short_by: int, settled: bool) -> None:
    """A residual up to the arrears tolerance (1.00) counts as paid; one fen more does not."""
    oracle = make_oracle(arrears_tolerance=100)
    at = cn(1, hour=10)
    pay(oracle, "P1", LEVEL - short_by, at)
    inst = oracle.installment("alice", 1)
    assert (inst.settled_at == at) is settled
    assert inst.paid_on_time is settled
    assert inst.paid == LEVEL - short_by


def test_refund_undoes_a_payment(make_oracle: MakeOracle) -> None:
    """A refunded payment is taken out of the allocation; the other payments are reallocated."""
    oracle = make_oracle()
    pay(oracle, "P1", LEVEL, cn(1, hour=9))
    pay(oracle, "P2", 2 * LEVEL, cn(25, hour=9))
    assert oracle.installment("alice", 2).settled_at == cn(25, hour=9)
    oracle.refund("P1", LEVEL)
    first, second, third = oracle.installments("alice")
    # P2 now settles installment 1 — late, with 24 days of penalty — and no longer installment 2
    late_fee = penalty(PRINCIPAL_1, 24)
    assert first.settled_at == cn(25, hour=9)
    assert not first.paid_on_time
    assert first.settled_by == ("P2",)
    assert first.penalty_paid == late_fee
    assert (second.settled_at, second.paid) == (None, LEVEL - late_fee)
    assert third.paid == 0
    assert oracle.refunds == {"P1": LEVEL}


def test_refund_of_the_only_payment(make_oracle: MakeOracle) -> None:
    """Refunding the only payment leaves the installment unpaid."""
    oracle = make_oracle()
    pay(oracle, "P1", LEVEL, cn(1, hour=9))
    oracle.refund("P1", LEVEL)
    inst = oracle.installment("alice", 1)
    assert (inst.paid, inst.settled_at, inst.settled_by) == (0, None, ())
    assert oracle.accepted_total() == LEVEL  # the payment itself still happened


# -- delinquency ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("paid_at", "delinquent"),
    [
        pytest.param(cn(1, hour=21), False, id="on-time"),
        pytest.param(cn(2, hour=10), True, id="one-day-late"),
        pytest.param(None, True, id="never-paid"),
    ],
)
def test_truly_delinquent_cn_from_one_day(make_oracle: MakeOracle, paid_at: datetime | None,
                                          delinquent: bool) -> None:
    """In CN an installment is delinquent from 1 day past due."""
    oracle = make_oracle()
    if paid_at is not None:
        pay(oracle, "P1", first_in_full(paid_at), paid_at)
    inst = oracle.installment("alice", 1)
    assert oracle.truly_delinquent(inst, cn(1, month=4)) is delinquent


def test_truly_delinquent_not_before_the_threshold(make_oracle: MakeOracle) -> None:
    """An unpaid installment is not yet delinquent as of an instant before its threshold."""
    oracle = make_oracle()
    inst = oracle.installment("alice", 1)
    assert oracle.threshold_instant(inst) == datetime(2026, 2, 2, tzinfo=CST)
    assert not oracle.truly_delinquent(inst, cn(1, hour=23))
    assert oracle.truly_delinquent(inst, cn(2, hour=0))


@pytest.mark.parametrize(
    ("days_late", "delinquent"),
    [
        pytest.param(29, False, id="29-days-late"),
        pytest.param(30, True, id="30-days-late"),
        pytest.param(31, True, id="31-days-late"),
    ],
)
def test_truly_delinquent_us_from_thirty_days(make_oracle: MakeOracle, days_late: int,
                                              delinquent: bool) -> None:
    """In the US only an installment paid 30 or more days past due is delinquent (Metro 2)."""
    oracle = make_oracle(code="US")
    inst = oracle.installment("alice", 1)
    assert inst.due_date == date(2026, 2, 1)
    paid_at = datetime.combine(inst.due_date + timedelta(days=days_late), time(10),
                               tzinfo=NEW_YORK)
    pay(oracle, "P1", first_in_full(paid_at, NEW_YORK), paid_at)
    assert inst.settled_at == paid_at
    assert oracle.days_past_due(inst, paid_at + timedelta(days=60)) == days_late
    as_of = datetime(2026, 6, 1, tzinfo=NEW_YORK)
    assert oracle.truly_delinquent(inst, as_of) is delinquent


# -- independence -------------------------------------------------------------------------


def _imported_modules(path: Path, package: str) -> set[str]:
    """Absolute names of every module the source file imports (relative imports resolved)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def test_oracle_imports_no_party_code() -> None:
    """oracle.py, and every simulator module it imports, imports nothing from simulator.parties."""
    spec = importlib.util.find_spec("simulator.checks.oracle")
    assert spec is not None and spec.origin is not None
    seen: set[str] = set()
    queue = ["simulator.checks.oracle"]
    while queue:
        module = queue.pop()
        if module in seen:
            continue
        seen.add(module)
        found = importlib.util.find_spec(module)
        if found is None or found.origin is None or not found.origin.endswith(".py"):
            continue
        imported = _imported_modules(Path(found.origin), module.rsplit(".", 1)[0])
        parties = sorted(name for name in imported
                         if name == "simulator.parties" or name.startswith("simulator.parties."))
        assert parties == [], f"{module} imports {parties}"
        queue.extend(name for name in imported
                     if name.startswith("simulator.") and _is_module(name))
    assert "simulator.checks.oracle" in seen
    assert "simulator.core.calendars" in seen  # the walk really follows the oracle's imports


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def test_import_walk_sees_party_imports(tmp_path: Path) -> None:
    """The import scan used above does find absolute and relative imports of party code."""
    source = tmp_path / "module.py"
    source.write_text("from simulator.parties.bank import Bank\nfrom .parties import sms\n"
                      "import simulator.parties.bureau\n", encoding="utf-8")
    found = _imported_modules(source, "simulator")
    assert {"simulator.parties.bank", "simulator.parties", "simulator.parties.sms",
            "simulator.parties.bureau"} <= found


# -- independent penalty, surplus, buckets ------------------------------------------------


@given(principal=st.integers(min_value=1, max_value=10**12),
       rate=st.decimals(min_value=Decimal("0"), max_value=Decimal("1"), places=8),
       days=st.integers(min_value=1, max_value=3650))
def test_the_oracles_penalty_agrees_with_the_banks_rule(principal: int, rate: Decimal,
                                                        days: int) -> None:
    """Two independent readings of the penalty clause — the oracle's exact daily accrual and
    the contract rule the bank and borrowers use — give the same fen for any loan."""
    loan = LoanTerms(principal, rate, 3, "equal_installment", date(2026, 1, 1))
    bob = Borrower("bob", "Bob", "110101199003071234", "13812345678", loan, Pays())
    oracle = Oracle((bob,), ContractTerms(), jurisdiction("CN"))
    inst = oracle.installment("bob", 1)
    inst.principal = principal
    at = datetime.combine(inst.grace_end + timedelta(days=days), time(12), tzinfo=SHANGHAI)
    assert oracle.penalty(inst, at) == late_penalty(principal, rate, days, PENALTY_FACTOR)


def test_surplus_is_only_what_no_installment_owed(make_oracle: MakeOracle) -> None:
    """A payment beyond the whole loan leaves a surplus of exactly the excess; one that pays
    ahead prepays the next installments and leaves none."""
    oracle = make_oracle()
    pay(oracle, "P1", LEVEL + 500, cn(1, hour=9))
    assert oracle.surplus("P1") == 0  # prepays installment 2
    total = sum(i.amount for i in oracle.installments("alice"))
    pay(oracle, "P2", total, cn(1, month=3, hour=9))
    assert oracle.surplus("P2") == LEVEL + 500


def test_overdue_at_is_past_the_due_end_and_unpaid(make_oracle: MakeOracle) -> None:
    """An installment is overdue from its due end until it is settled."""
    oracle = make_oracle()
    inst = oracle.installment("alice", 1)
    assert not oracle.overdue_at(inst, cn(1, hour=23))
    assert oracle.overdue_at(inst, cn(2, hour=0))
    pay(oracle, "P1", first_in_full(cn(4)), cn(4))
    assert oracle.overdue_at(inst, cn(3))
    assert not oracle.overdue_at(inst, cn(5))


@pytest.mark.parametrize(
    ("code", "days", "bucket"),
    [
        pytest.param("CN", 0, 0, id="cn-current"),
        pytest.param("CN", 1, 1, id="cn-code-1-from-1-day"),
        pytest.param("CN", 30, 1, id="cn-code-1-to-30"),
        pytest.param("CN", 31, 2, id="cn-code-2-from-31"),
        pytest.param("CN", 181, 7, id="cn-code-7-from-181"),
        pytest.param("CN", 999, 7, id="cn-code-7-stays"),
        pytest.param("US", 29, 0, id="us-29-is-current-11"),
        pytest.param("US", 30, 1, id="us-71-from-30"),
        pytest.param("US", 60, 2, id="us-78-from-60"),
        pytest.param("US", 180, 6, id="us-84-from-180"),
    ],
)
def test_days_past_due_buckets(code: str, days: int, bucket: int) -> None:
    """Buckets follow CN's payment-history codes (1: 1–30 … 7: 181+) and Metro 2's account
    statuses (11 current to 29 days, 71: 30–59, 78: 60–89 … 84: 180+)."""
    assert jurisdiction(code).dpd_bucket(days) == bucket
