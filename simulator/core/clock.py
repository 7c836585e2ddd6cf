"""Virtual time: the world's clock and its scheduler.

The scheduler is a heap keyed on ``(instant, sequence)``: time jumps from one
event to the next, never ticks and never sleeps. Events at the same instant
run in the order they were scheduled. A timer may belong to an *owner* (a
party); when the owner crashes its epoch moves on and its pending timers are
dropped, exactly as an in-memory timer dies with its process.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

__all__ = ["Clock", "Owner", "Scheduler"]


class Owner(Protocol):
    """Anything whose timers die with it: it has an ``epoch`` that a crash advances."""

    epoch: int


class Clock:
    """The world's current instant (aware, UTC) and its local time zone."""

    __slots__ = ("now", "tz")

    def __init__(self, start: datetime, tz: ZoneInfo) -> None:
        if start.tzinfo is None:
            raise ValueError("the clock needs an aware start instant")
        self.now = start.astimezone(UTC)
        self.tz = tz

    def local(self, instant: datetime | None = None) -> datetime:
        """``instant`` (default now) in the jurisdiction's local time."""
        return (instant or self.now).astimezone(self.tz)


_Entry = tuple[datetime, int, Callable[..., Any], tuple[Any, ...], "Owner | None", int]


class Scheduler:
    """A heap of events; :meth:`run_until` moves the clock from event to event."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._heap: list[_Entry] = []
        self._sequence = 0
        self.executed = 0

    def at(
        self, instant: datetime, action: Callable[..., Any], *args: Any, owner: Owner | None = None
    ) -> None:
        """Run ``action(*args)`` at ``instant`` (never before now).

        Keys are kept in UTC: two instants in one ``ZoneInfo`` compare by wall
        clock, which misorders the repeated hour when daylight saving ends.
        """
        if instant.tzinfo is not UTC:
            if instant.tzinfo is None:
                raise TypeError("the scheduler needs aware instants (got a naive datetime)")
            instant = instant.astimezone(UTC)
        if instant < self.clock.now:
            instant = self.clock.now
        self._sequence += 1
        epoch = owner.epoch if owner is not None else 0
        heapq.heappush(self._heap, (instant, self._sequence, action, args, owner, epoch))

    def pending(self) -> int:
        return len(self._heap)

    def owned_before(self, owner: Owner, end: datetime) -> int:
        """How many live timers of ``owner`` are due before ``end`` (a scan: for crashes)."""
        return sum(1 for instant, _, _, _, who, epoch in self._heap
                   if who is owner and epoch == owner.epoch and instant < end)

    def next_instant(self) -> datetime | None:
        return self._heap[0][0] if self._heap else None

    def run_due(self, now: datetime) -> None:
        """Move the clock to ``now`` and run every event due at or before it, all at ``now``:
        a system whose clock jumps runs its late jobs late (the way a real scheduler does),
        and what they do carries the instant they really ran at."""
        now = now.astimezone(UTC)
        heap = self._heap
        clock = self.clock
        clock.now = max(clock.now, now)
        executed = 0
        while heap and heap[0][0] <= now:
            _, _, action, args, owner, epoch = heapq.heappop(heap)
            if owner is not None and owner.epoch != epoch:
                continue
            clock.now = now
            action(*args)
            executed += 1
        self.executed += executed

    def run_until(self, end: datetime) -> None:
        """Execute every event before ``end``, then leave the clock at ``end``."""
        end = end.astimezone(UTC)
        heap = self._heap
        clock = self.clock
        pop = heapq.heappop
        executed = 0
        while heap and heap[0][0] < end:
            instant, _, action, args, owner, epoch = pop(heap)
            if owner is not None and owner.epoch != epoch:
                continue  # the owner crashed after setting this timer
            clock.now = instant
            action(*args)
            executed += 1
        self.executed += executed
        if clock.now < end:
            clock.now = end
