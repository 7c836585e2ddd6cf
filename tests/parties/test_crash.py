"""Real crashes: uncommitted work and timers vanish, parties restart from their databases."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest

from simulator.world.world import World
from tests.support.worlds import (
    LOAN,
    MakeWorld,
    advance,
    begin,
    book,
    entries,
    fault,
    instant,
    post,
    repay,
    warnings,
    world_factory,
)


@pytest.fixture
def make_world() -> Iterator[MakeWorld]:
    """A factory of small worlds (see tests/parties/worlds.py), closed at teardown."""
    yield from world_factory()


def link_calls(world: World, link: str, op: str) -> list[tuple[datetime, str]]:
    return [(e.at, e.data["outcome"]) for e in entries(world, "link.call")
            if e.party == link and e.data["op"] == op]


def classified(world: World, business_date: str) -> list[datetime]:
    return [e.at for e in entries(world, "bank.batch_classified")
            if e.data["business_date"] == business_date]


def acted(world: World, business_date: str) -> list[datetime]:
    return [e.at for e in entries(world, "bank.batch_acted")
            if e.data["business_date"] == business_date]


# -- what a crash loses --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("party", "table", "row"),
    [
        pytest.param("bank", "outbox (link, op, body, next_us)",
                     "('bank->sms', 'send_batch', '{}', 0)", id="bank"),
        pytest.param("platform", "notices (loan_id, installment, kind, at)",
                     "('L-alice', 1, 'overdue', 'now')", id="platform"),
        pytest.param("bureau", "queries (requester, purpose, subject_id, at, allowed)",
                     "('x', 'y', 'z', 'now', 0)", id="bureau"),
        pytest.param("sms", "messages (at, sender, borrower, phone, reason, text)",
                     "('now', 'bank', 'alice', '1', 'r', 't')", id="sms"),
    ],
)
def test_uncommitted_work_vanishes_in_a_crash(
    make_world: MakeWorld, party: str, table: str, row: str,
) -> None:
    """What a party committed survives its crash; what it had not committed is gone."""
    world = make_world()
    target = world.parties[party]
    name = table.split()[0]
    with target.db:
        target.db.execute(f"INSERT INTO {table} VALUES {row}")  # committed
    target.db.execute(f"INSERT INTO {table} VALUES {row}")  # left in an open transaction
    assert target.db.in_transaction
    target.crash()
    assert target.disk.execute(f"SELECT count(*) FROM {name}").fetchone() == (1,)
    target.restart()
    assert target.db.execute(f"SELECT count(*) FROM {name}").fetchone() == (1,)
    assert [e.kind for e in entries(world, f"{party}.crashed", f"{party}.restarted")] == \
        [f"{party}.crashed", f"{party}.restarted"]


@pytest.mark.parametrize("crashes", [pytest.param(False, id="alive"),
                                     pytest.param(True, id="crashed")])
def test_timers_die_with_their_party(make_world: MakeWorld, crashes: bool) -> None:
    """An in-memory timer set before a crash never fires, even after the restart."""
    world = make_world()
    fired: list[datetime] = []
    world.sms.timer(instant(world, "2026-01-01T12:00"), lambda: fired.append(world.clock.now))
    if crashes:
        world.sms.crash()
        world.sms.restart()
    advance(world, "2026-01-02T00:00")
    assert fired == ([] if crashes else [instant(world, "2026-01-01T12:00")])


# -- the platform -------------------------------------------------------------------------------


def test_platform_crash_keeps_the_durable_outbox(make_world: MakeWorld) -> None:
    """A forward pending when the platform crashes is not sent while it is down (its timer died)
    and goes out from the durable outbox at the restart."""
    world = begin(make_world(steps=[
        repay("2026-02-01T10:00"),
        fault("2026-02-01T10:01", "crash", party="platform", for_="1h")]))
    advance(world, "2026-02-01T11:00")
    assert link_calls(world, "platform->bank", "post_repayment") == []
    assert world.platform.in_transit() == {"PAY00000001": world.oracle.payments[
        "PAY00000001"].amount}
    advance(world, "2026-02-01T18:00")
    restarted = instant(world, "2026-02-01T11:01")
    assert link_calls(world, "platform->bank", "post_repayment") == [(restarted, "delivered")]
    assert world.bank.disk.execute("SELECT payment_id FROM postings").fetchall() == \
        [("PAY00000001",)]


def test_platform_crash_keeps_the_retry_count(make_world: MakeWorld) -> None:
    """A forward retried during an outage resumes after a crash with its backoff, not from
    scratch."""
    world = begin(make_world(
        platform={"retry_first": "1m", "retry_max": "1h"},
        steps=[fault("2026-02-01T10:00", "outage", link="platform->bank", for_="1d"),
               repay("2026-02-01T10:00"),
               fault("2026-02-01T10:20", "crash", party="platform", for_="5m")]))
    advance(world, "2026-02-01T10:20")
    before = len(link_calls(world, "platform->bank", "post_repayment"))  # 10:10 … 10:17
    advance(world, "2026-02-01T11:30")
    after = link_calls(world, "platform->bank", "post_repayment")
    (attempts,) = world.platform.disk.execute("SELECT attempts FROM outbox").fetchone()
    assert before == 4
    # the attempt due at 10:25 (10:17 + 8m) is made at the restart, then 16m later
    assert [at for at, _ in after[before:]] == [instant(world, "2026-02-01T10:25"),
                                                 instant(world, "2026-02-01T10:41"),
                                                 instant(world, "2026-02-01T11:13")]
    assert attempts == 7


# -- the bank ---------------------------------------------------------------------------------


def test_bank_crash_between_classify_and_act_resumes(make_world: MakeWorld) -> None:
    """A bank that crashes after classifying a business date acts on it after the restart,
    without classifying it again, and no longer holds postings with 409."""
    world = begin(make_world(steps=[
        fault("2026-02-02T00:31", "crash", party="bank", for_="1h")]))
    advance(world, "2026-02-02T01:30")
    assert classified(world, "2026-02-01") == [instant(world, "2026-02-02T00:30")]
    assert acted(world, "2026-02-01") == []
    assert warnings(world) == []
    advance(world, "2026-02-02T06:00")
    restarted = instant(world, "2026-02-02T01:31")
    assert classified(world, "2026-02-01") == [instant(world, "2026-02-02T00:30")]
    # the reconciliation file, refused at 01:00 while the bank was down, is retried after 1,
    # 2, 4, 8 and 16 minutes: it lands at 01:31, the restart, and the re-armed gate acts then
    assert acted(world, "2026-02-01") == [restarted]
    assert [e.data["installment"] for e in warnings(world)] == [1]
    assert post(world, 100, world.clock.now).status == 201


def test_bank_catches_up_missed_business_dates(make_world: MakeWorld) -> None:
    """After a three-day crash the bank runs the batches of every business date it missed."""
    world = begin(make_world(steps=[
        fault("2026-02-02T00:00", "crash", party="bank", for_="3d")]))
    advance(world, "2026-02-06T00:00")
    restarted = instant(world, "2026-02-05T00:00")
    for day in ("2026-02-01", "2026-02-02", "2026-02-03"):
        assert classified(world, day) == [restarted], day
        assert len(acted(world, day)) == 1, day
    assert classified(world, "2026-02-04") == [instant(world, "2026-02-05T00:30")]
    stages = world.bank.disk.execute(
        "SELECT business_date, stage FROM cob WHERE business_date >= '2026-02-01'"
        " ORDER BY business_date").fetchall()
    assert stages == [(day, "acted") for day in
                      ("2026-02-01", "2026-02-02", "2026-02-03", "2026-02-04")]
    # the reconciliation files, refused while the bank was down, are retried hourly at :03
    # (01:00, then after 1, 2, 4, 8, 16, 32 minutes, then every hour): the first after the
    # restart, at 00:03, releases the warning
    assert [e.at for e in warnings(world)] == [instant(world, "2026-02-05T00:03")]


def test_bank_recovers_its_posting_sequence(make_world: MakeWorld) -> None:
    """Posting ids keep counting from the database after a crash: no id is issued twice."""
    world = book(make_world())
    first = post(world, 100, world.clock.now, payment_id="P1", key="P1")
    world.bank.crash()
    world.bank.restart()
    second = post(world, 100, world.clock.now, payment_id="P2", key="P2")
    assert (first.status, second.status) == (201, 201)
    assert (first.body["posting_id"], second.body["posting_id"]) == ("PST00000001",
                                                                     "PST00000002")
    assert world.bank.disk.execute("SELECT count(*) FROM postings").fetchone() == (2,)


def test_replayed_key_after_a_bank_crash_returns_the_original_posting(
    make_world: MakeWorld,
) -> None:
    """Idempotency survives a crash: a key replayed after the restart answers with the
    original posting and posts nothing."""
    world = book(make_world())
    first = post(world, 100_00, world.clock.now, key="PAY00000001")
    world.bank.crash()
    world.bank.restart()
    replay = post(world, 100_00, world.clock.now, key="PAY00000001")
    assert (replay.status, replay.body) == (first.status, first.body)
    assert world.bank.disk.execute("SELECT count(*) FROM postings").fetchone() == (1,)


def test_counter_payment_ids_are_never_reused_after_a_crash(make_world: MakeWorld) -> None:
    """Every payment the bank captured at its counter keeps a distinct id across a crash,
    including one it went on to refuse."""
    world = book(make_world())
    world.bank.handle("pay_at_counter", {"loan_id": LOAN, "amount": 0}, {})  # refused: 422
    before = world.bank.handle("pay_at_counter", {"loan_id": LOAN, "amount": 500}, {})
    world.bank.crash()
    world.bank.restart()
    after = world.bank.handle("pay_at_counter", {"loan_id": LOAN, "amount": 500}, {})
    assert (before.status, after.status) == (201, 201)
    # the refused payment captured nothing, so it took no id
    assert (before.body["payment_id"], after.body["payment_id"]) == ("CTR00000001",
                                                                     "CTR00000002")
    ids = [row[0] for row in world.bank.disk.execute("SELECT payment_id FROM postings")]
    assert len(ids) == len(set(ids)) == 2


# -- the bureau -------------------------------------------------------------------------------


def test_correction_lands_after_a_bureau_crash(make_world: MakeWorld) -> None:
    """A correction the bank sends while the bureau is down waits in the bank's outbox and
    lands after the bureau restarts."""
    world = begin(make_world(steps=[
        fault("2026-02-01T08:00", "outage", link="platform->bank", for_="6d"),
        fault("2026-02-01T08:00", "outage", link="recon", for_="6d"),
        repay("2026-02-01T21:00"),
        fault("2026-02-07T07:00", "crash", party="bureau", for_="5h")]))
    advance(world, "2026-02-07T12:00")
    queued = entries(world, "bank.correction_queued")
    # the repayment, retried hourly at :13 through the outage, lands at 08:13
    assert [e.at for e in queued] == [instant(world, "2026-02-07T08:13")]
    reports = link_calls(world, "bank->bureau", "submit_reports")
    assert reports[-1][1] == "refused"
    assert entries(world, "bureau.correction") == []
    advance(world, "2026-02-08T00:00")
    [correction] = entries(world, "bureau.correction")
    # the bank's outbox retries after 1, 2, 4, 8, 16, 32 minutes, then hourly: 08:14, 08:16,
    # 08:20, 08:28, 08:44, 09:16, 10:16, 11:16 (all refused), 12:16 — after the restart
    assert correction.at == instant(world, "2026-02-07T12:16")
    assert (correction.data["installment"], correction.data["status"]) == (1, "current")
    subject = world.scenario.borrowers[0].id_number
    assert world.bureau.read_period_status(subject, LOAN, "2026-02") == "current"
    assert world.bank.disk.execute("SELECT count(*) FROM outbox").fetchone() == (0,)


# -- calls to a party that is down ------------------------------------------------------------


@pytest.mark.parametrize("party", ["bank", "platform", "bureau", "sms"])
def test_crashed_party_answers_nothing(make_world: MakeWorld, party: str) -> None:
    """A party that is down answers every operation with 503 until it restarts."""
    world = make_world()
    target = world.parties[party]
    target.crash()
    answer = target.handle(next(iter(target.operations)), {}, {})
    assert answer.status == 503
    assert answer.body["title"] == "Service unavailable"


def test_calls_to_a_crashed_party_are_refused_and_journaled(make_world: MakeWorld) -> None:
    """A call to a crashed party is refused and journaled; the bank's outbox delivers the
    warning after the SMS gateway restarts, and a repayment to a down platform captures
    nothing."""
    world = begin(make_world(steps=[
        fault("2026-02-01T12:00", "crash", party="sms", for_="2d"),
        fault("2026-02-01T12:00", "crash", party="platform", for_="1h"),
        repay("2026-02-01T12:30")]))
    advance(world, "2026-02-04T00:00")
    repays = [e.data for e in entries(world, "link.call") if e.party == "borrower->platform"]
    assert repays == [{"op": "repay", "outcome": "refused", "ref": "alice",
                       "why": "platform is down"}]
    assert world.oracle.payments == {}
    texts = [e for e in entries(world, "link.call")
             if e.party == "bank->sms" and e.data["op"] == "send_batch"]
    assert texts[0].data["outcome"] == "refused"
    assert texts[0].data["why"] == "sms is down"
    assert texts[-1].data["outcome"] == "delivered"
    # the warning queued at 01:00 on 02-02 (the reconciliation file's arrival) is retried
    # after 1, 2, 4, 8, 16, 32 minutes, then hourly at :03: the first try after the SMS
    # gateway's restart at 12:00 on 02-03 is at 12:03
    assert [e.at for e in warnings(world)] == [instant(world, "2026-02-03T12:03")]
