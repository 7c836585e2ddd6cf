"""Explore benchmark: small random worlds per second, in one process and on every core.

Runs a campaign of N generated worlds (default 400, no defect, nothing shrunk) in this
process, then the same campaign on a local pool of one process per core, and prints one
JSON line: runs, runs/s in one process and on all cores, the number of cores, journal
entries per run, milliseconds per run. With ``--profile`` it also prints, to standard
error, where the time of a single-process campaign goes (cProfile: the functions with
the most time of their own, and the heaviest callers by cumulative time).

With ``--defects`` it measures instead, for each catalogued defect planted, after how
many runs the first violation comes (at most 1,000), how short a scenario its shrunk
file is (the target: within 1,000 runs, at most 40 lines), and whether `lendsim run` on
that file (loaded, no defect given: the file plants it) fails on the same invariant:
one JSON line per defect.

    python bench/explore.py                 # 400 worlds
    python bench/explore.py --runs 100 --profile
    python bench/explore.py --defects       # every defect of the catalogue
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from profiling import profiled

from simulator.explore.campaign import CHUNK, Campaign, explore, run_chunk, shrink_run
from simulator.explore.executors import Backend, InlineBackend, PoolBackend
from simulator.scenarios.defects import DEFECTS
from simulator.scenarios.loader import load_scenario_text
from simulator.world.runner import run_scenario


def campaign(runs: int, seed: int, workers: int) -> Campaign:
    backend = InlineBackend() if workers == 1 else PoolBackend(workers)
    try:
        return explore(backend, seed=seed, runs=runs, shrink_budget=0)
    finally:
        backend.close()


def first_violation(backend: Backend, seed: int, defect: str, limit: int,
                    budget: int) -> dict[str, object]:
    """Chunks in run order, as many at once as there are workers, until a run violates an
    invariant; that run shrunk for its first invariant the defect explains (else its first)."""
    found = None
    for start in range(0, limit, CHUNK * backend.workers):
        handles = [backend.submit(run_chunk, seed, first, min(first + CHUNK, limit), (defect,))
                   for first in range(start, min(start + CHUNK * backend.workers, limit), CHUNK)]
        outcomes = [o for handle in handles for o in handle.result() if o.played.violated]
        if outcomes:
            found = min(outcomes, key=lambda o: o.run)
            break
    if found is None:
        return {"defect": defect, "first_run": None, "within": limit}
    explained = DEFECTS[defect].explained_by
    violated = found.played.violated
    target = next((name for name in violated if name in explained), violated[0])
    shrunk = shrink_run(seed, found.run, target, (defect,), budget, found.played.error_site)
    return {"defect": defect, "first_run": found.run, "runs_until_found": found.run + 1,
            "invariants": list(violated), "shrunk_for": target,
            "shrunk_lines": shrunk.lines if shrunk else None,
            "original_lines": shrunk.original_lines if shrunk else None,
            "shrink_runs": shrunk.evaluations if shrunk else None,
            "shrink_seconds": round(shrunk.seconds, 1) if shrunk else None,
            "reproduced": shrunk is not None
            and target in run_scenario(load_scenario_text(shrunk.text)).unexpected}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=400)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--defects", action="store_true")
    parser.add_argument("--budget", type=int, default=400, help="runs per shrink")
    args = parser.parse_args()
    if args.defects:
        backend = PoolBackend(args.jobs) if args.jobs > 1 else InlineBackend()
        try:
            for defect in DEFECTS:
                print(json.dumps(first_violation(backend, args.seed, defect, 1000,
                                                 args.budget)), flush=True)
        finally:
            backend.close()
        return
    one = campaign(args.runs, args.seed, 1)
    every = campaign(args.runs, args.seed, args.jobs)
    if [f.as_dict() for f in one.findings] != [f.as_dict() for f in every.findings]:
        raise SystemExit("the pool found something else than one process: not deterministic")
    print(json.dumps({
        "runs": args.runs,
        "violating_runs": len(one.findings),
        "runs_per_s_one_process": round(one.runs_per_second, 1),
        "cores": args.jobs,
        "runs_per_s_all_cores": round(every.runs_per_second, 1),
        "events_per_run": round(one.events / one.runs),
        "ms_per_run": round(1000 * one.run_seconds / one.runs, 1),
    }))
    if args.profile:
        print(profiled(lambda: campaign(args.runs, args.seed, 1), args.top), file=sys.stderr)


if __name__ == "__main__":
    main()
