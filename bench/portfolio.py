"""Portfolio benchmark: a year of repayments for N borrowers, with platform→bank outages.

N borrowers (default 100,000) hold 12-month loans disbursed across a year and
repay on their due dates; 2% of the days on which installments fall due are
hit by a platform→bank outage of 1–72 hours. Prints one JSON line: borrowers,
installments, events, wall seconds, installments per second, peak RSS, the
journal digest, and — measured in the same process — a floor (one heap
push/pop plus one SQLite insert and one update per installment) and the ratio
wall/floor. Targets on a 2-core machine: 100k × 12 in ≤ 60 s and ≤ 2 GiB,
ratio ≤ 10. On a terminal a progress bar on stderr follows the virtual days simulated.
With ``--shards N`` the portfolio is split by borrower into N worlds run on every core
(``lendsim run --shards``): same verdict, a merged digest of its own; the workers' peak
RSS is not seen from here (they are the pool's processes), so it prints as null.

    python bench/portfolio.py                  # 100,000 borrowers
    python bench/portfolio.py --borrowers 2000 # a quick look
    python bench/portfolio.py --shards 2       # on two cores
"""

from __future__ import annotations

import argparse
import dataclasses
import heapq
import json
import random
import resource
import sqlite3
import sys
import time
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from decimal import Decimal

from rich.console import Console

from simulator.core.calendars import add_months, jurisdiction
from simulator.core.rng import derive_seed
from simulator.faces.progress import Meter
from simulator.scenarios.borrowers import generate_borrowers
from simulator.scenarios.model import INVARIANTS, Expect, Fault, LoanTerms, Pays, Scenario, Step
from simulator.world.runner import run_scenario
from simulator.world.shards import run_sharded

MONTHS = 12
YEAR_START = date(2026, 1, 1)


def build(borrowers: int, seed: int, outage_share: float) -> Scenario:
    """The portfolio scenario: loans disbursed evenly over 2026, outages on 2% of due days."""
    zone = jurisdiction("CN").tz
    template = LoanTerms(500_000, Decimal("0.12"), MONTHS, "equal_installment", YEAR_START)
    people = generate_borrowers(borrowers, seed=seed, jurisdiction="CN", loan=template,
                                pays=Pays("on_due_date"))
    spread = [
        dataclasses.replace(b, loan=dataclasses.replace(
            template, disbursed=YEAR_START + timedelta(days=i % 365)))
        for i, b in enumerate(people)
    ]
    due_days = sorted({add_months(b.loan.disbursed, k) for b in spread
                       for k in range(1, MONTHS + 1)})
    rng = random.Random(derive_seed(seed, "bench:outages"))
    hit = sorted(rng.sample(due_days, max(1, round(len(due_days) * outage_share))))
    steps = []
    for day in hit:
        start = datetime.combine(day, clock_time(rng.randrange(0, 24)), tzinfo=zone)
        length = timedelta(hours=rng.randint(1, 72))
        steps.append(Step(start, Fault("outage", start, start + length, link="platform->bank",
                                        may_not_fire=True)))
    last_due = max(due_days)
    return Scenario(
        id=f"portfolio-{borrowers}", summary="benchmark portfolio",
        start=datetime.combine(YEAR_START, clock_time(0), tzinfo=zone),
        until=datetime.combine(last_due + timedelta(days=10), clock_time(0), tzinfo=zone),
        borrowers=tuple(spread), seed=seed, steps=tuple(steps),
        expect=Expect(invariants=INVARIANTS))


def floor_seconds(installments: int) -> float:
    """One heap push/pop plus one SQLite insert and one update per installment."""
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, amount INTEGER NOT NULL)")
    heap: list[tuple[int, int]] = []
    began = time.perf_counter()
    with db:
        for i in range(installments):
            heapq.heappush(heap, (i, i))
            heapq.heappop(heap)
            db.execute("INSERT INTO t VALUES (?, ?)", (i, i))
            db.execute("UPDATE t SET amount = amount + 1 WHERE id = ?", (i,))
    return time.perf_counter() - began


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--borrowers", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--outage-share", type=float, default=0.02)
    parser.add_argument("--shards", type=int, default=1,
                        help="split the portfolio by borrower into N worlds run on every core "
                             "(lendsim run --shards; a merged digest of its own)")
    args = parser.parse_args(argv)
    built = time.perf_counter()
    scenario = build(args.borrowers, args.seed, args.outage_share)
    build_seconds = time.perf_counter() - built
    days = max(1, (scenario.until - scenario.start).days)
    if args.shards > 1:
        result = run_sharded(scenario, args.shards)
    else:
        with Meter(Console(stderr=True), days, "simulating", unit="days") as meter:
            result = run_scenario(scenario, progress=lambda share: meter.set(share * days))
    installments = args.borrowers * MONTHS
    floor = floor_seconds(installments)
    wall = result.seconds + build_seconds
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({
        "borrowers": args.borrowers,
        "shards": args.shards,
        "installments": installments,
        "events": result.events,
        "outages": len(scenario.steps),
        "wall_seconds": round(wall, 2),
        "build_seconds": round(build_seconds, 2),
        "installments_per_second": round(installments / wall),
        "peak_rss_mib": round(peak_kib / 1024) if args.shards == 1 else None,
        "digest": result.digest,
        "floor_seconds": round(floor, 2),
        "ratio": round(wall / floor, 1),
        "passed": result.passed,
        "violated": result.violated,
        "unfired": result.unfired,
    }))
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
