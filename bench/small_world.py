"""Small-world benchmark: runs per second of one borrower over three months, with an outage.

The world: one CN borrower with a 3-month loan who repays on each due date, and a
platform→bank outage from midnight of the first due date until 02:00 the next day, so
the repayment made that day is refused, retried and made known by the reconciliation
file (the fault must fire: the run fails otherwise). Each run is a fresh world
(:func:`~simulator.world.runner.run_scenario`). Measured: N runs in a loop in this
process, then the same N runs shared out over a pool of one process per core (each
warmed up by a run first), N over the wall time. Prints one JSON line: runs/s in one process and
on all cores, cores, milliseconds per run, journal entries and scheduler events per
run, the split of one run's time — set-up (building the :class:`~simulator.world.world.World`
and starting it: loans booked, parties started, steps scheduled, before the first event),
the run (the events up to ``until``) and the verdict (invariants judged, databases
closed) — averaged over ``--split-runs`` runs, the journal digest and whether every run,
in every process, gave that digest. With ``--profile`` it also prints to standard error
where the time of the single-process loop goes (cProfile: the functions with the most
time of their own, and the heaviest by cumulative time). Exit 1 if a run fails its
scenario or the digests differ. Target on a 2-core machine: ≥ 100 runs/s per core.

    python bench/small_world.py               # 200 runs per measure
    python bench/small_world.py --runs 20     # a quick look
    python bench/small_world.py --profile
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from multiprocessing.synchronize import Barrier

from profiling import profiled

from simulator.scenarios.loader import load_scenario_text
from simulator.scenarios.model import Scenario
from simulator.world.runner import run_scenario
from simulator.world.world import World

WORLD = """\
scenario: bench-small-world
summary: >-
  One borrower repays a 3-month loan on each due date; the platform->bank link is down from
  midnight of the first due date until 02:00 the next day, across the repayment and the batch.
jurisdiction: CN
seed: {seed}
start: 2026-01-01T09:00
until: 2026-04-10
borrowers:
  - id: solo
    loan: {{principal: 3000.00, annual_rate: 0.12, months: 3, disbursed: 2026-01-01}}
    pays: on_due_date
steps:
  - at: 2026-02-01T00:00
    fault: {{kind: outage, link: platform->bank, until: 2026-02-02T02:00}}
"""


def build(seed: int) -> Scenario:
    """The small world, loaded through the scenario loader like any file."""
    return load_scenario_text(WORLD.format(seed=seed), "bench-small-world.yaml")


def loop(scenario: Scenario, runs: int) -> tuple[float, set[str], int, bool]:
    """``runs`` fresh worlds in a row: wall seconds, the digests seen, journal entries of
    the last run, and whether every run passed."""
    digests: set[str] = set()
    passed = True
    events = 0
    began = time.perf_counter()
    for _ in range(runs):
        result = run_scenario(scenario)
        digests.add(result.digest)
        passed = passed and result.passed
        events = result.events
    return time.perf_counter() - began, digests, events, passed


def split(scenario: Scenario, runs: int) -> tuple[dict[str, object], set[str]]:
    """One run's time in parts, averaged over ``runs``: as :func:`run_scenario` runs a
    world, through the World's own steps (build, begin, advance, finish, close)."""
    setup = running = verdict = 0.0
    digests: set[str] = set()
    executed = 0
    for _ in range(runs):
        began = time.perf_counter()
        world = World(scenario)
        world.begin()
        started = time.perf_counter()
        world.advance(scenario.until)
        ran = time.perf_counter()
        try:
            outcome = world.finish(scenario.expect.invariants)
            executed = world.scheduler.executed
        finally:
            world.close()
            world.journal.close()
        ended = time.perf_counter()
        setup += started - began
        running += ran - started
        verdict += ended - ran
        digests.add(outcome.digest)
    return {"setup_ms": round(1000 * setup / runs, 1), "run_ms": round(1000 * running / runs, 1),
            "verdict_ms": round(1000 * verdict / runs, 1),
            "scheduler_events_per_run": executed}, digests


#: a pool worker's world, loaded once by :func:`_warm`
_WORKER: dict[str, Scenario] = {}


def _warm(seed: int, ready: Barrier) -> None:
    """A pool worker's start: load the world, run it once (imports, caches), then wait
    until every worker and the parent are ready."""
    _WORKER["scenario"] = build(seed)
    run_scenario(_WORKER["scenario"])
    ready.wait()


def _worker(runs: int) -> tuple[int, list[str], bool]:
    _, digests, _, passed = loop(_WORKER["scenario"], runs)
    return runs, sorted(digests), passed


def pooled(seed: int, runs: int, cores: int) -> tuple[float, set[str], bool]:
    """``runs`` worlds shared out over ``cores`` warmed-up processes: wall seconds from
    handing out the work to the last result, the digests seen, whether all passed."""
    shares = [runs // cores + (1 if i < runs % cores else 0) for i in range(cores)]
    context = multiprocessing.get_context()
    ready = context.Barrier(cores + 1)
    with context.Pool(cores, initializer=_warm, initargs=(seed, ready)) as pool:
        ready.wait()  # every worker has started and warmed up
        began = time.perf_counter()
        results = pool.map(_worker, [share for share in shares if share], chunksize=1)
        wall = time.perf_counter() - began
    digests = {digest for _, seen, _ in results for digest in seen}
    return wall, digests, all(passed for _, _, passed in results)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200, help="runs per measure")
    parser.add_argument("--split-runs", type=int, default=20,
                        help="runs averaged for the set-up / run / verdict split")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="processes of the all-cores measure (default: one per core)")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    if args.runs < 1 or args.split_runs < 1 or args.jobs < 1:
        parser.error("--runs, --split-runs and --jobs must be at least 1")
    scenario = build(args.seed)
    first = run_scenario(scenario)  # imports and caches, not measured
    if not first.passed:
        sys.exit(f"the small world fails its scenario: {first.reasons()}")
    one, digests, events, passed = loop(scenario, args.runs)
    parts, split_digests = split(scenario, args.split_runs)
    every, pool_digests, pool_passed = pooled(args.seed, args.runs, args.jobs)
    seen = {first.digest} | digests | pool_digests | split_digests
    print(json.dumps({
        "runs": args.runs,
        "runs_per_s_one_process": round(args.runs / one, 1),
        "cores": args.jobs,
        "runs_per_s_all_cores": round(args.runs / every, 1),
        "ms_per_run": round(1000 * one / args.runs, 1),
        "events_per_run": events,
        **parts,
        "digest": first.digest,
        "deterministic": len(seen) == 1,
        "passed": passed and pool_passed,
        "load": round(os.getloadavg()[0], 1),
    }))
    if args.profile:
        print(profiled(lambda: loop(scenario, args.runs), args.top), file=sys.stderr)
    return 0 if passed and pool_passed and len(seen) == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
