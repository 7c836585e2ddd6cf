"""Library benchmark: the wall time of ``lendsim run -q`` over the built-in scenario library.

First ``lendsim run -q`` exactly as a user types it, with default settings (one worker
per core), started in an empty temporary folder so that it runs the built-in library,
timed from outside; the closing count it prints gives the scenarios passed and failed.
Then, to see where that time goes, every scenario of the library is loaded and run in
this process, one after the other, each timed on its own. Prints one JSON line: the
wall seconds of ``lendsim run -q``, how long the command takes just to start
(``lendsim --version``), the scenarios and how many passed, the seconds of loading the
library and of running it in one process, the 5 slowest scenarios with their seconds
(``--slowest``), and the machine's load. With ``-k EXPR`` (as ``lendsim run -k``)
both measures run only those scenarios. Exit 1 if a scenario fails or the command
exits otherwise than 0 or 1. Target on a 2-core machine: ≤ 3 s wall.

    python bench/library.py                   # the whole library
    python bench/library.py -k calendar       # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from simulator.core.locator import data_path
from simulator.scenarios.loader import load_all
from simulator.scenarios.select import selector
from simulator.world.runner import run_scenario

_COUNT = re.compile(r"^(\d+) passed, (\d+) failed", re.MULTILINE)


def lendsim() -> list[str]:
    """The ``lendsim`` command of this Python's installation (else the one on PATH)."""
    beside = Path(sys.executable).with_name("lendsim")
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("lendsim")
    if found is None:
        sys.exit("no lendsim command: pip install lendsim (or -e .) in this environment")
    return [found]


def timed(command: list[str], folder: Path) -> tuple[float, subprocess.CompletedProcess[str]]:
    began = time.perf_counter()
    finished = subprocess.run(command, cwd=folder, capture_output=True, text=True, check=False)
    return time.perf_counter() - began, finished


def from_outside(keyword: str | None) -> dict[str, object]:
    """``lendsim run -q`` (and ``lendsim --version``) in an empty folder, timed."""
    command = lendsim()
    with tempfile.TemporaryDirectory() as empty:
        folder = Path(empty)
        startup, _ = timed([*command, "--version"], folder)
        extra = ["-k", keyword] if keyword else []
        wall, finished = timed([*command, "run", "-q", *extra], folder)
    count = _COUNT.search(finished.stdout)
    if finished.returncode not in (0, 1) or count is None:
        sys.exit(f"lendsim run -q exited {finished.returncode}:\n{finished.stdout}\n"
                 f"{finished.stderr}")
    return {"wall_seconds": round(wall, 2), "exit": finished.returncode,
            "startup_seconds": round(startup, 2), "passed": int(count[1]),
            "failed": int(count[2])}


def in_process(keyword: str | None, slowest: int) -> dict[str, object]:
    """Every library scenario loaded, then run here one by one, each timed."""
    began = time.perf_counter()
    scenarios = load_all([data_path("scenarios")]).scenarios
    if keyword:
        chosen = selector(keyword)
        scenarios = [s for s in scenarios if chosen(s)]
    loaded = time.perf_counter() - began
    seconds: list[tuple[str, float]] = []
    failed = []
    began = time.perf_counter()
    for scenario in scenarios:
        started = time.perf_counter()
        result = run_scenario(scenario)
        seconds.append((scenario.id, time.perf_counter() - started))
        if result.failed:
            failed.append(scenario.id)
    ran = time.perf_counter() - began
    seconds.sort(key=lambda pair: -pair[1])
    return {"scenarios": len(scenarios), "load_seconds": round(loaded, 2),
            "one_process_seconds": round(ran, 2),
            "slowest": [[name, round(spent, 2)] for name, spent in seconds[:slowest]],
            "failed_in_process": failed}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-k", dest="keyword", default=None,
                        help="only the scenarios this expression selects (as lendsim run -k)")
    parser.add_argument("--slowest", type=int, default=5, help="how many slowest to name")
    args = parser.parse_args(argv)
    outside = from_outside(args.keyword)
    inside = in_process(args.keyword, args.slowest)
    print(json.dumps({
        "wall_seconds": outside["wall_seconds"],
        "startup_seconds": outside["startup_seconds"],
        "cores": os.cpu_count() or 1,
        "scenarios": inside["scenarios"],
        "passed": outside["passed"],
        "failed": outside["failed"],
        "load_seconds": inside["load_seconds"],
        "one_process_seconds": inside["one_process_seconds"],
        "slowest": inside["slowest"],
        "failed_in_process": inside["failed_in_process"],
        "load": round(os.getloadavg()[0], 1),
    }))
    return 0 if outside["exit"] == 0 and not inside["failed_in_process"] else 1


if __name__ == "__main__":
    sys.exit(main())
