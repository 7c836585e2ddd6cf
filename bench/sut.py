"""Systems under test: the cost of a call into one, and the wall time of ``lendsim check``.

    python bench/sut.py                       # overhead, then check of the reference bank
    python bench/sut.py --skip-check          # overhead only
    python bench/sut.py --role bank --target 'command:python -m uvicorn app:app --port {port}'

First the overhead: a handful of library scenarios run with the reference party in
process, then with the same party as a ``python:`` system under test (its calls go
through the in-process transport, the contract check of every answer, the control
contract's clock moves and freezegun); the extra time divided by the number of HTTP
exchanges with the system (operations of its contract and clock moves), in wall time
and in this process's CPU time. The wall time of an exchange is mostly threads handing
over to each other, so on a loaded machine it grows with the load (printed too). Then
``lendsim check`` of a bank (default: the reference bank served as a ``command:``) over
the whole library, timed from outside. Prints one JSON line per part.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from simulator.scenarios.loader import load_scenario
from simulator.sut.profile import Profile
from simulator.sut.runs import SystemRun, close_launchers, run_with_system
from simulator.sut.system import SystemUnderTest
from simulator.sut.targets import parse_target
from simulator.world.runner import ScenarioResult, run_scenario
from simulator.world.world import World

LIBRARY = Path(__file__).parents[1] / "scenarios"
#: small worlds with outages, retries and a day-end batch: calls of every kind
SAMPLE = ("outages/api-down-recon-up-over-due-date.yaml",
          "outages/api-and-recon-down-shorter-than-wait.yaml",
          "money/early-payoff.yaml", "money/overpayment-prepays-next.yaml",
          "reporting/cn-reported-from-one-day-late.yaml",
          "calendar/us-dst-ends-on-due-date.yaml")
REFERENCE_BANK = f"command:{sys.executable} -m simulator serve-party bank --port {{port}}"


def overhead(role: str, rounds: int) -> dict[str, object]:
    scenarios = [load_scenario(LIBRARY / name) for name in SAMPLE]
    system = SystemRun(parse_target(role, f"python:simulator.sut.reference:{role}_app"),
                       Profile.default(role))
    calls = exchanges = 0

    def count(world: World, result: ScenarioResult) -> None:
        nonlocal calls, exchanges
        party = world.parties[role]
        assert isinstance(party, SystemUnderTest)
        calls += party.calls
        exchanges += party.exchanges

    run_with_system(scenarios[0], system)  # imports and the first launcher, not measured
    alone = served = alone_cpu = served_cpu = 0.0
    for _ in range(rounds):
        began, cpu = time.perf_counter(), time.process_time()
        for scenario in scenarios:
            run_scenario(scenario)
        alone += time.perf_counter() - began
        alone_cpu += time.process_time() - cpu
        began, cpu = time.perf_counter(), time.process_time()
        for scenario in scenarios:
            result = run_with_system(scenario, system, inspect=count)
            assert result.passed, result.reasons()
        served += time.perf_counter() - began
        served_cpu += time.process_time() - cpu
    close_launchers()
    per_call = 1000 / max(exchanges, 1)
    return {"part": "overhead", "role": role, "scenarios": len(scenarios) * rounds,
            "calls": calls, "exchanges": exchanges, "in_process_s": round(alone, 2),
            "as_system_s": round(served, 2),
            "ms_per_exchange": round((served - alone) * per_call, 2),
            "cpu_ms_per_exchange": round((served_cpu - alone_cpu) * per_call, 2),
            "load": round(os.getloadavg()[0], 1)}


def check(role: str, target: str, jobs: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as folder:
        report_file = Path(folder) / "check.json"
        began = time.perf_counter()
        finished = subprocess.run(
            [sys.executable, "-m", "simulator", "check", "--role", role, "--target", target,
             "-j", str(jobs), "--json", str(report_file)],
            capture_output=True, text=True, check=False)
        wall = time.perf_counter() - began
        if finished.returncode not in (0, 1):
            sys.exit(f"lendsim check exited {finished.returncode}:\n{finished.stderr}")
        report = json.loads(report_file.read_text())
    statuses = [r["status"] for r in report["requirements"]]
    return {"part": "check", "role": role, "target": target, "exit": finished.returncode,
            "requirements": len(statuses), "passed": statuses.count("pass"),
            "failed": statuses.count("FAIL"), "skipped": statuses.count("skip"),
            "wall_s": round(wall, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--role", default="bank", choices=("bank", "platform"))
    parser.add_argument("--target", default=REFERENCE_BANK,
                        help="the system lendsim check judges (default: the reference bank "
                             "as a command)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of the overhead sample")
    parser.add_argument("-j", "--jobs", type=int, default=0, help="check's worker processes")
    parser.add_argument("--skip-check", action="store_true")
    options = parser.parse_args()
    print(json.dumps(overhead(options.role, options.rounds)), flush=True)
    if not options.skip_check:
        print(json.dumps(check(options.role, options.target, options.jobs)), flush=True)


if __name__ == "__main__":
    main()
