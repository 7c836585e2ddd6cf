"""Load on a served bank: signed ``POST /bank/repayments`` against ``lendsim serve``.

    python bench/serve_load.py                    # 4,000 requests, 50 in flight
    python bench/serve_load.py --requests 1000 --state /tmp/lendsim-state

Starts ``lendsim serve`` (an empty world; ``--state`` keeps it in a folder) on a free
loopback port, books one loan, then sends signed repayments from 50 keep-alive
connections, one request in flight on each; one request in ten repeats an earlier
payment under its Idempotency-Key (it must answer the original posting). Prints one
JSON line: requests, requests/s, p50 and p99 latency (ms), the server's CPU
milliseconds per request (from /proc), and the statuses seen.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from simulator.wire.signing import Keyring

KEYS = Keyring.for_testing()
LOAN = {"loan_id": "L-bench", "borrower": "bench", "subject_id": "S-0001", "name": "B",
        "phone": "010-0000", "principal": 100_000_000_000, "annual_rate": "0.10",
        "months": 12, "method": "equal_installment", "disbursed": "2026-01-01"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, method: str,
                   path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    head = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
    status_line = await reader.readline()
    status = int(status_line.split()[1])
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        if name.lower() == "content-length":
            length = int(value)
    return status, await reader.readexactly(length)


async def run(port: int, requests: int, in_flight: int, now: datetime) -> dict[str, Any]:
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    sent: list[tuple[str, bytes]] = []
    counter = iter(range(requests))
    rng = random.Random(0)
    mismatched = 0

    async def connection() -> None:
        nonlocal mismatched
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        postings: dict[str, str] = {}
        for number in counter:
            if sent and rng.random() < 0.1:
                key, body = rng.choice(sent)
            else:
                key = f"PAY{number:08d}"
                body = json.dumps({"payment_id": key, "loan_id": "L-bench", "amount": 1,
                                   "currency": "CNY", "value_time": now.isoformat()}).encode()
                sent.append((key, body))
            headers = {**KEYS.sign("partner", "POST", "/bank/repayments", body, now),
                       "Idempotency-Key": key, "Content-Type": "application/json"}
            began = time.perf_counter()
            status, answer = await exchange(reader, writer, "POST", "/bank/repayments", body,
                                            headers)
            latencies.append(time.perf_counter() - began)
            statuses[status] += 1
            if status == 201:
                posting = json.loads(answer)["posting_id"]
                if postings.setdefault(key, posting) != posting:
                    mismatched += 1
        writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(in_flight)))
    seconds = time.perf_counter() - began
    latencies.sort()
    return {"requests": requests, "seconds": round(seconds, 2),
            "requests_per_second": round(requests / seconds, 1),
            "p50_ms": round(latencies[len(latencies) // 2] * 1000, 1),
            "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 1),
            "statuses": dict(sorted(statuses.items())), "replays_mismatched": mismatched}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--in-flight", type=int, default=50)
    parser.add_argument("--state", type=Path, default=None)
    parser.add_argument("--port", type=int, default=None,
                        help="load a server already listening here (its CPU is not measured)")
    options = parser.parse_args()
    if options.port is not None:
        now = asyncio.run(_prepare(options.port))
        print(json.dumps(asyncio.run(run(options.port, options.requests, options.in_flight,
                                         now))))
        return
    port = free_port()
    command = [sys.executable, "-m", "simulator.faces.cli", "serve", "--port", str(port)]
    if options.state is not None:
        command += ["--state", str(options.state)]
    with tempfile.TemporaryFile() as log:
        server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log)
        try:
            for _ in range(300):
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=1):
                        break
                except OSError:
                    time.sleep(0.05)
            now = asyncio.run(_prepare(port))
            cpu_before = cpu_seconds(server.pid)
            result = asyncio.run(run(port, options.requests, options.in_flight, now))
            cpu = cpu_seconds(server.pid) - cpu_before
            result["server_cpu_ms_per_request"] = round(cpu * 1000 / options.requests, 3)
            result["state"] = options.state is not None
            print(json.dumps(result))
        finally:
            server.terminate()
            server.wait(timeout=10)


async def _prepare(port: int) -> datetime:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    _, clock = await exchange(reader, writer, "GET", "/clock", b"", {})
    now = datetime.fromisoformat(json.loads(clock)["now"])
    body = json.dumps(LOAN).encode()
    headers = {**KEYS.sign("partner", "POST", "/bank/loans", body, now),
               "Content-Type": "application/json"}
    status, answer = await exchange(reader, writer, "POST", "/bank/loans", body, headers)
    if status != 201:
        raise SystemExit(f"booking the loan failed: {status} {answer!r}")
    writer.close()
    return now


if __name__ == "__main__":
    main()
