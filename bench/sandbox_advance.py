"""Sandbox advance benchmark: a served world of N borrowers moved a year, ``GET /clock`` meanwhile.

    python bench/sandbox_advance.py                          # 5,000 borrowers, 365 days
    python bench/sandbox_advance.py --borrowers 200 --days 40

Writes a scenario file (N generated borrowers, each with a 12-month loan disbursed on
the world's start and repaid on every due date) to a temporary folder, starts
``lendsim serve`` on it on a free loopback port, as bench/serve_load.py does, and
waits until it listens. Then ``POST /clock/advance {"by": "365d"}`` (an advance beyond
a week answers ``202 advancing`` and runs in the background; the sandbox's horizon is
50 years, so a year is allowed) and ``GET /clock`` is polled on a keep-alive
connection every ``--poll`` seconds until it says ready. Afterwards a signed
``GET /bank/loans/{loan_id}`` of the first and the last borrower checks that every
installment due before the last day was paid (the due dates come from the calendar
here, not from the server). Prints one JSON line: borrowers, days, how long the
server took to start (the world built and its loans booked), the advance's status
(200 ready, 202 advancing), its wall seconds (from the request to the first poll that
says ready: within one poll interval), the server's CPU seconds meanwhile (from
/proc), the polls and their p50, p99 and max latency (ms), the virtual instant the slowest
poll answered and how many polls took over 50 ms, the installments due and paid
of the sampled borrowers, and the machine's load. Exit 1 if the advance does not
finish within ``--timeout`` or a sampled borrower's installment is unpaid. Targets on
a 2-core machine: a 365-day advance over 5,000 borrowers ≤ 5 s; ``GET /clock``
≤ 50 ms meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from serve_load import KEYS, cpu_seconds, exchange, free_port

from simulator.core.calendars import add_months

START = date(2026, 1, 1)
MONTHS = 12
SCENARIO = """\
scenario: bench-sandbox-{borrowers}
summary: {borrowers} borrowers repay 12-month loans on their due dates.
jurisdiction: CN
seed: {seed}
start: {start}T09:00
until: {until}
borrowers:
  - count: {borrowers}
    id_prefix: b
    loan: {{principal: 5000.00, annual_rate: 0.12, months: {months}, disbursed: {start}}}
    pays: on_due_date
"""


def scenario_text(borrowers: int, days: int, seed: int) -> str:
    until = max(add_months(START, MONTHS), START + timedelta(days=days)) + timedelta(days=10)
    return SCENARIO.format(borrowers=borrowers, seed=seed, start=START.isoformat(),
                           until=until.isoformat(), months=MONTHS)


def loan_id(number: int, borrowers: int) -> str:
    """The loan of generated borrower ``number`` (ids zero-padded to at least 4 digits)."""
    width = max(4, len(str(borrowers)))
    return f"L-b{number:0{width}d}"


async def advance(port: int, days: int, poll: float, timeout: float,
                  server_pid: int | None) -> dict[str, Any]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    cpu_before = cpu_seconds(server_pid) if server_pid is not None else 0.0
    body = json.dumps({"by": f"{days}d"}).encode()
    began = time.perf_counter()
    started, answer = await exchange(reader, writer, "POST", "/clock/advance", body,
                                     {"Content-Type": "application/json"})
    if started not in (200, 202):
        raise SystemExit(f"POST /clock/advance answered {started}: {answer!r}")
    latencies: list[float] = []
    slowest = (0.0, "")  # the slowest poll and the virtual instant it answered
    clock: dict[str, Any] = json.loads(answer)
    while clock["status"] != "ready":
        if time.perf_counter() - began > timeout:
            raise SystemExit(f"the advance is not done after {timeout} s: {clock}")
        await asyncio.sleep(poll)
        asked = time.perf_counter()
        status, answer = await exchange(reader, writer, "GET", "/clock", b"", {})
        latencies.append(time.perf_counter() - asked)
        if status != 200:
            raise SystemExit(f"GET /clock answered {status}: {answer!r}")
        clock = json.loads(answer)
        slowest = max(slowest, (latencies[-1], clock["now"]))
    wall = time.perf_counter() - began
    cpu = cpu_seconds(server_pid) - cpu_before if server_pid is not None else None
    writer.close()
    latencies.sort()
    return {"advance_status": started, "advance_seconds": round(wall, 2),
            "server_cpu_seconds": round(cpu, 2) if cpu is not None else None,
            "polls": len(latencies),
            "clock_p50_ms": round(latencies[len(latencies) // 2] * 1000, 1)
            if latencies else None,
            "clock_p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 1)
            if latencies else None,
            "clock_max_ms": round(latencies[-1] * 1000, 1) if latencies else None,
            "clock_max_at": slowest[1] or None,
            "clock_over_50_ms": sum(1 for seconds in latencies if seconds > 0.05),
            "now": clock["now"]}


async def paid(port: int, loans: list[str], now: datetime) -> dict[str, list[int]]:
    """The installments each loan has paid, read through a signed bank request."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    found = {}
    for loan in loans:
        path = f"/bank/loans/{loan}"
        status, answer = await exchange(reader, writer, "GET", path, b"",
                                        KEYS.sign("partner", "GET", path, b"", now))
        if status != 200:
            raise SystemExit(f"GET {path} answered {status}: {answer!r}")
        found[loan] = [i["number"] for i in json.loads(answer)["installments"]
                       if i["status"] == "paid"]
    writer.close()
    return found


def wait_listening(port: int, server: subprocess.Popen[bytes], timeout: float) -> float:
    began = time.perf_counter()
    while time.perf_counter() - began < timeout:
        if server.poll() is not None:
            raise SystemExit(f"lendsim serve exited {server.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return time.perf_counter() - began
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"lendsim serve did not listen within {timeout} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--borrowers", type=int, default=5000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--poll", type=float, default=0.05, help="seconds between polls")
    parser.add_argument("--timeout", type=float, default=1800.0,
                        help="the longest to wait for the advance (seconds)")
    options = parser.parse_args()
    if options.borrowers < 1 or options.days < 1 or options.poll <= 0:
        parser.error("--borrowers and --days must be at least 1, --poll positive")
    port = free_port()
    with tempfile.TemporaryDirectory() as folder, tempfile.TemporaryFile() as log:
        file = Path(folder) / "sandbox.yaml"
        file.write_text(scenario_text(options.borrowers, options.days, options.seed))
        command = [sys.executable, "-m", "simulator.faces.cli", "serve", str(file),
                   "--port", str(port)]
        server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log)
        try:
            try:
                started = wait_listening(port, server, options.timeout)
                result = asyncio.run(advance(port, options.days, options.poll,
                                             options.timeout, server.pid))
            except SystemExit:
                log.seek(0)
                sys.stderr.write(log.read().decode(errors="replace")[-4000:])
                raise
            now = datetime.fromisoformat(result.pop("now"))
            loans = sorted({loan_id(1, options.borrowers),
                            loan_id(options.borrowers, options.borrowers)})
            found = asyncio.run(paid(port, loans, now))
        finally:
            server.terminate()
            server.wait(timeout=10)
    last_day = START + timedelta(days=options.days)  # the clock is there at 09:00 local
    owed = [k for k in range(1, MONTHS + 1) if add_months(START, k) < last_day]
    unpaid = {loan: [k for k in owed if k not in numbers] for loan, numbers in found.items()}
    print(json.dumps({
        "borrowers": options.borrowers,
        "days": options.days,
        "serve_start_seconds": round(started, 2),
        **result,
        "installments_due": len(owed),
        "paid": {loan: len(numbers) for loan, numbers in found.items()},
        "load": round(os.getloadavg()[0], 1),
    }))
    if any(unpaid.values()):
        print(f"unpaid installments: {unpaid}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
