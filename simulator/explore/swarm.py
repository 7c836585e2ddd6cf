"""Fault schedules by swarm testing: each world enables a random few fault kinds and places.

Swarm testing (Groce et al., "Swarm Testing", ISSTA 2012) gives each run its own random
subset of features instead of every feature at once: a world where only ``duplicate``
faults on ``recon`` and crashes of the bureau are possible explores that combination far
more deeply than a world where anything may happen. Each world here enables a random
subset of the fault kinds, of the links and of the parties, then places a few faults
from them, each window starting around a *hotspot* — a due end, a day-end batch, a
reconciliation delivery, a scripted repayment — where bugs live.

Every fault is one the reference parties can outlast (an explored world must be fair,
:mod:`~simulator.explore.generate`): together the faults last less than the bank's wait
for a reconciliation file minus the platform's longest retry pause and an hour, so an
on-time repayment can always be made known to the bank before it acts; and only the
links whose callers lose nothing by a refusal for good (a 4xx error) get one: the
borrower's app (the borrower has not paid) and the reconciliation file (the platform
sends it again). Any other caller rightly drops a message refused for good — the
platform refunds a repayment the bank refused, which gives back money the borrower
owed (``no_wrongful_refund``) — so a 4xx there is no mistake of the parties'.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import NamedTuple

from simulator.core.topology import LINKS, PARTIES
from simulator.scenarios.model import BankPolicy, Fault, FaultKind, PlatformPolicy, Step

__all__ = ["FAULT_KINDS", "Hotspot", "swarm_faults"]

#: the fault kinds a world may enable (README, "Scenario reference": Faults)
FAULT_KINDS: tuple[FaultKind, ...] = ("outage", "timeout_after_commit", "delay", "duplicate",
                                      "error", "crash")
#: links whose caller loses nothing by a refusal for good: a borrower whose app refused a
#: payment has not paid, and the platform sends its reconciliation file again
_REFUSABLE = frozenset({"borrower->platform", "recon"})
_RETRYABLE_STATUSES = (503, 500, 429, 409, 408)
_REFUSALS = (400, 404, 422)
_OFFSETS = tuple(timedelta(minutes=m) for m in (-360, -120, -30, -5, -1, 0, 0, 1, 10, 60))
_LENGTHS = tuple(timedelta(minutes=m) for m in (1, 5, 30, 60, 180, 360, 720, 1440, 2880))
_DELAYS = tuple(timedelta(minutes=m) for m in (1, 10, 60, 360))
_RATES = (Decimal(1), Decimal(1), Decimal("0.5"), Decimal("0.2"))


class Hotspot(NamedTuple):
    """An instant where faults are likely to matter, and what happens then."""

    at: datetime
    what: str


def swarm_faults(rng: random.Random, hotspots: list[Hotspot], *, start: datetime,
                 until: datetime, bank: BankPolicy, platform: PlatformPolicy) -> list[Step]:
    """Fault steps for one world: a random subset of kinds and places, windows around
    ``hotspots``, all within the run and within the fairness budget."""
    kinds = [kind for kind in FAULT_KINDS if rng.random() < 0.5] or [rng.choice(FAULT_KINDS)]
    links = [link for link in LINKS if rng.random() < 0.4] or [rng.choice(tuple(LINKS))]
    parties = [party for party in PARTIES if rng.random() < 0.4] or [rng.choice(PARTIES)]
    budget = bank.recon_max_wait - platform.retry_max - timedelta(hours=1)
    tz = start.tzinfo
    first, last = start.astimezone(UTC), until.astimezone(UTC)
    steps: list[Step] = []
    for _ in range(rng.choice((0, 1, 1, 2, 2, 3, 4))):
        kind = rng.choice(kinds)
        spot = rng.choice(hotspots).at.astimezone(UTC) if hotspots else first
        # elapsed time (in UTC), as a scenario file's durations are read
        begin = max(spot + rng.choice(_OFFSETS), first)
        lengths = [length for length in _LENGTHS if length <= budget]
        if not lengths or begin >= last:
            break
        length = rng.choice(lengths)
        by = rng.choice(_DELAYS) if kind == "delay" else None
        cost = length + (by or timedelta(0))
        if cost > budget:
            continue
        budget -= cost
        end = min(begin + length, last).astimezone(tz)
        begin = begin.astimezone(tz)
        if kind == "crash":
            steps.append(Step(begin, Fault("crash", begin, end, party=rng.choice(parties))))
            continue
        link = rng.choice(links)
        status = rate = None
        if kind == "error":
            statuses = _RETRYABLE_STATUSES + (_REFUSALS if link in _REFUSABLE else ())
            status, rate = rng.choice(statuses), rng.choice(_RATES)
        steps.append(Step(begin, Fault(kind, begin, end, link=link, by=by, status=status,
                                       rate=rate)))
    return steps
