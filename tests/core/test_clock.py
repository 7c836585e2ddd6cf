"""Virtual time: the clock and the scheduler's heap of events."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given

from simulator.core.clock import Clock, Scheduler
from tests.support.strategies import scheduled_events

SHANGHAI = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


@dataclass
class FakeOwner:
    """A party stand-in: only its epoch matters to the scheduler."""

    epoch: int = 0


@pytest.fixture
def make_scheduler() -> Callable[..., Scheduler]:
    """A factory of fresh schedulers on a clock at ``start``."""

    def make(start: datetime = START, tz: ZoneInfo = SHANGHAI) -> Scheduler:
        return Scheduler(Clock(start, tz))

    return make


def recorder(scheduler: Scheduler, log: list[tuple[str, datetime]]) -> Callable[[str], None]:
    """An action that records its label and the clock's instant when it runs."""

    def action(label: str) -> None:
        log.append((label, scheduler.clock.now))

    return action


# -- Clock ------------------------------------------------------------------------


def test_clock_rejects_naive_start() -> None:
    """A clock cannot start from a naive datetime."""
    with pytest.raises(ValueError, match="aware"):
        Clock(datetime(2026, 1, 1, 9, 0), SHANGHAI)


def test_clock_keeps_now_in_utc() -> None:
    """An aware start in any zone becomes the same instant expressed in UTC."""
    start = datetime(2026, 1, 1, 17, 0, tzinfo=SHANGHAI)
    clock = Clock(start, SHANGHAI)
    assert clock.now == start
    assert clock.now.utcoffset() == timedelta(0)
    assert clock.now.hour == 9


def test_clock_local_defaults_to_now() -> None:
    """``local()`` is the current instant on the jurisdiction's wall clock."""
    clock = Clock(START, SHANGHAI)
    local = clock.local()
    assert local == START
    assert (local.hour, local.utcoffset()) == (17, timedelta(hours=8))


def test_clock_local_converts_a_given_instant() -> None:
    """``local(instant)`` converts that instant rather than now."""
    clock = Clock(START, ZoneInfo("America/New_York"))
    instant = datetime(2026, 7, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    assert clock.local(instant).hour == 8  # EDT, UTC-4
    assert clock.local(instant) == instant


# -- Scheduler ----------------------------------------------------------------------


def test_events_run_in_instant_order(make_scheduler: Callable[..., Scheduler]) -> None:
    """Events run in order of their instants, not of their scheduling."""
    scheduler = make_scheduler()
    log: list[tuple[str, datetime]] = []
    act = recorder(scheduler, log)
    scheduler.at(START + timedelta(hours=3), act, "third")
    scheduler.at(START + timedelta(hours=1), act, "first")
    scheduler.at(START + timedelta(hours=2), act, "second")
    scheduler.run_until(START + timedelta(days=1))
    assert [label for label, _ in log] == ["first", "second", "third"]


def test_same_instant_events_run_in_scheduling_order(
    make_scheduler: Callable[..., Scheduler],
) -> None:
    """Events at the same instant run in the order they were scheduled."""
    scheduler = make_scheduler()
    log: list[tuple[str, datetime]] = []
    act = recorder(scheduler, log)
    at = START + timedelta(minutes=5)
    for label in ["c", "a", "b", "z", "y"]:
        scheduler.at(at, act, label)
    scheduler.run_until(START + timedelta(hours=1))
    assert [label for label, _ in log] == ["c", "a", "b", "z", "y"]


def test_time_jumps_to_event_instants(make_scheduler: Callable[..., Scheduler]) -> None:
    """While an event runs, the clock reads exactly that event's instant."""
    scheduler = make_scheduler()
    log: list[tuple[str, datetime]] = []
    act = recorder(scheduler, log)
    instants = [START + timedelta(seconds=s) for s in (1, 3_600, 86_399)]
    for index, instant in enumerate(instants):
        scheduler.at(instant, act, str(index))
    scheduler.run_until(START + timedelta(days=1))
    assert [at for _, at in log] == instants


def test_clock_ends_at_end(make_scheduler: Callable[..., Scheduler]) -> None:
    """After ``run_until(end)`` the clock reads ``end``, with or without events."""
    scheduler = make_scheduler()
    end = START + timedelta(days=2, minutes=7)
    scheduler.at(START + timedelta(hours=1), lambda: None)
    scheduler.run_until(end)
    assert scheduler.clock.now == end
    later = end + timedelta(days=30)
    scheduler.run_until(later)
    assert scheduler.clock.now == later


def test_events_at_or_after_end_wait(make_scheduler: Callable[..., Scheduler]) -> None:
    """Events at or after ``end`` do not run; they stay pending for the next run."""
    scheduler = make_scheduler()
    log: list[tuple[str, datetime]] = []
    act = recorder(scheduler, log)
    end = START + timedelta(hours=1)
    scheduler.at(end - timedelta(microseconds=1), act, "before")
    scheduler.at(end, act, "at")
    scheduler.at(end + timedelta(seconds=1), act, "after")
    scheduler.run_until(end)
    assert [label for label, _ in log] == ["before"]
    assert scheduler.pending() == 2
    assert scheduler.next_instant() == end
    scheduler.run_until(end + timedelta(hours=1))
    assert [label for label, _ in log] == ["before", "at", "after"]
    assert scheduler.pending() == 0
    assert scheduler.next_instant() is None


def test_scheduling_in_the_past_runs_at_now(make_scheduler: Callable[..., Scheduler]) -> None:
    """An event scheduled before now runs at now, after events already due at now."""
    scheduler = make_scheduler()
    scheduler.run_until(START + timedelta(hours=5))
    now = scheduler.clock.now
    log: list[tuple[str, datetime]] = []
    act = recorder(scheduler, log)
    scheduler.at(now, act, "due-now")
    scheduler.at(now - timedelta(days=3), act, "from-the-past")
    assert scheduler.next_instant() == now
    scheduler.run_until(now + timedelta(seconds=1))
    assert log == [("due-now", now), ("from-the-past", now)]


def test_events_scheduled_by_events_run_in_the_same_pass(
    make_scheduler: Callable[..., Scheduler],
) -> None:
    """An event may schedule another before ``end``; it runs in the same pass, in order."""
    scheduler = make_scheduler()
    log: list[tuple[str, datetime]] = []
    act = recorder(scheduler, log)
    t1 = START + timedelta(hours=1)

    def spawn() -> None:
        act("parent")
        scheduler.at(t1, act, "same-instant-child")
        scheduler.at(t1 + timedelta(minutes=1), act, "later-child")

    scheduler.at(t1, spawn)
    scheduler.at(t1, act, "sibling")
    scheduler.run_until(t1 + timedelta(hours=1))
    assert [label for label, _ in log] == ["parent", "sibling", "same-instant-child", "later-child"]


def test_clock_never_runs_backwards(make_scheduler: Callable[..., Scheduler]) -> None:
    """``run_until`` an instant before now leaves the clock where it was."""
    scheduler = make_scheduler()
    scheduler.run_until(START + timedelta(days=1))
    scheduler.run_until(START)
    assert scheduler.clock.now == START + timedelta(days=1)


def test_repeated_hour_runs_in_real_time_order(make_scheduler: Callable[..., Scheduler]) -> None:
    """Local instants in the hour New York repeats run in real-time order, not wall-clock order."""
    new_york = ZoneInfo("America/New_York")
    scheduler = make_scheduler(start=datetime(2026, 11, 1, 0, 0, tzinfo=new_york), tz=new_york)
    log: list[tuple[str, datetime]] = []
    act = recorder(scheduler, log)
    second_pass = datetime(2026, 11, 1, 1, 10, fold=1, tzinfo=new_york)  # 01:10 EST, 06:10 UTC
    first_pass = datetime(2026, 11, 1, 1, 30, tzinfo=new_york)  # 01:30 EDT, 05:30 UTC
    scheduler.at(second_pass, act, "01:10-EST")
    scheduler.at(first_pass, act, "01:30-EDT")
    scheduler.run_until(datetime(2026, 11, 1, 1, 20, tzinfo=new_york))  # 01:20 EDT
    assert log == []
    scheduler.run_until(datetime(2026, 11, 1, 1, 20, fold=1, tzinfo=new_york))  # 01:20 EST
    assert log == [("01:30-EDT", datetime(2026, 11, 1, 5, 30, tzinfo=UTC)),
                   ("01:10-EST", datetime(2026, 11, 1, 6, 10, tzinfo=UTC))]
    assert scheduler.clock.now == datetime(2026, 11, 1, 6, 20, tzinfo=UTC)


def test_naive_instant_is_rejected(make_scheduler: Callable[..., Scheduler]) -> None:
    """Scheduling a naive datetime raises rather than guessing the host's time zone."""
    scheduler = make_scheduler()
    with pytest.raises((TypeError, ValueError)):
        scheduler.at(datetime(2026, 1, 1, 12, 0), lambda: None)


def test_crashed_owners_timers_are_dropped(make_scheduler: Callable[..., Scheduler]) -> None:
    """A timer whose owner's epoch moved on (a crash) never fires, and is not counted."""
    scheduler = make_scheduler()
    crashed, healthy = FakeOwner(), FakeOwner()
    log: list[tuple[str, datetime]] = []
    act = recorder(scheduler, log)
    scheduler.at(START + timedelta(hours=1), act, "crashed-before", owner=crashed)
    scheduler.at(START + timedelta(hours=1), act, "healthy", owner=healthy)
    scheduler.at(START + timedelta(hours=1), act, "ownerless")
    crashed.epoch += 1
    scheduler.at(START + timedelta(hours=2), act, "crashed-after", owner=crashed)
    scheduler.run_until(START + timedelta(days=1))
    assert [label for label, _ in log] == ["healthy", "ownerless", "crashed-after"]
    assert scheduler.executed == 3
    assert scheduler.pending() == 0


def test_timer_survives_when_owner_epoch_unchanged(
    make_scheduler: Callable[..., Scheduler],
) -> None:
    """A timer fires when its owner's epoch is the one it was set under, even if not zero."""
    scheduler = make_scheduler()
    owner = FakeOwner(epoch=4)
    fired: list[int] = []
    scheduler.at(START + timedelta(minutes=1), fired.append, 1, owner=owner)
    scheduler.run_until(START + timedelta(hours=1))
    assert fired == [1]


def test_executed_counts_across_runs(make_scheduler: Callable[..., Scheduler]) -> None:
    """``executed`` accumulates the events run by every ``run_until``."""
    scheduler = make_scheduler()
    for hours in (1, 2, 3):
        scheduler.at(START + timedelta(hours=hours), lambda: None)
    scheduler.run_until(START + timedelta(hours=2))
    assert scheduler.executed == 1
    scheduler.run_until(START + timedelta(hours=4))
    assert scheduler.executed == 3


@given(events=scheduled_events)
def test_execution_order_is_instant_then_insertion(
    events: list[tuple[timedelta, str]],
) -> None:
    """For any events, execution order is sorted by (instant, insertion index)."""
    scheduler = Scheduler(Clock(START, SHANGHAI))
    log: list[tuple[str, datetime]] = []
    act = recorder(scheduler, log)
    for offset, label in events:
        scheduler.at(START + offset, act, label)
    scheduler.run_until(START + timedelta(days=400))
    expected = sorted(enumerate(events), key=lambda pair: (pair[1][0], pair[0]))
    assert [label for label, _ in log] == [label for _, (_, label) in expected]
    assert [at for _, at in log] == [START + offset for _, (offset, _) in expected]
