"""``lendsim serve --state DIR`` (simulator.serve.state): the real server killed with SIGKILL
under load, again and again, loses no acknowledged write and repeats none."""

from __future__ import annotations

import http.client
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from simulator.wire.signing import Keyring

KEYS = Keyring.for_testing()
LOAN = {"loan_id": "L-dura", "borrower": "dura", "subject_id": "S-0001", "name": "D",
        "phone": "010-0000", "principal": 100_000_000, "annual_rate": "0.10", "months": 12,
        "method": "equal_installment", "disbursed": "2026-01-01"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Server:
    """One ``lendsim serve`` process on a free loopback port."""

    def __init__(self, state: Path) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "simulator.faces.cli", "serve", "--state", str(state),
             "--port", str(self.port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while True:
            try:
                self.clock()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError("the server did not start: " +
                                         self.process.stderr.read().decode()  # type: ignore[union-attr]
                                         ) from None
                time.sleep(0.05)

    def request(self, method: str, path: str, body: Any = None, *, sign: bool = False,
                headers: dict[str, str] | None = None,
                connection: http.client.HTTPConnection | None = None
                ) -> tuple[int, Any, dict[str, str]]:
        raw = json.dumps(body).encode() if body is not None else b""
        sent = dict(headers or {})
        if sign:
            sent = {**KEYS.sign("partner", method, path, raw, self.now), **sent}
        if raw:
            sent["Content-Type"] = "application/json"
        own = connection is None
        conn = connection or http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, body=raw or None, headers=sent)
            reply = conn.getresponse()
            data = reply.read()
        finally:
            if own:
                conn.close()
        return reply.status, json.loads(data) if data else None, sent

    def clock(self) -> dict[str, Any]:
        status, body, _ = self.request("GET", "/clock")
        assert status == 200
        self.now = datetime.fromisoformat(body["now"])
        return dict(body)

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        assert self.process.stderr is not None
        self.process.stderr.close()


def repayment(payment_id: str, now: datetime) -> dict[str, Any]:
    return {"payment_id": payment_id, "loan_id": "L-dura", "amount": 1, "currency": "CNY",
            "value_time": now.isoformat()}


def load(server: Server, cycle: int, acknowledged: dict[str, str], stop: threading.Event,
         resend: list[str]) -> None:
    """Post repayments from 6 threads until ``stop`` (or the server dies): every 201 is
    recorded; one request in ten resends a payment already acknowledged. The server is
    killed once 20 to 40 new payments are acknowledged (so a slow machine still loads it),
    with requests in flight."""
    lock = threading.Lock()

    def worker(number: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        sent = 0
        try:
            while not stop.is_set():
                sent += 1
                if resend and sent % 10 == 0:
                    payment_id = random.choice(resend)
                else:
                    payment_id = f"PAY-{cycle}-{number}-{sent}"
                status, body, _ = server.request(
                    "POST", "/bank/repayments", repayment(payment_id, server.now), sign=True,
                    headers={"Idempotency-Key": payment_id}, connection=conn)
                if status == 201:
                    with lock:
                        first = acknowledged.setdefault(payment_id, body["posting_id"])
                    assert first == body["posting_id"], (payment_id, first, body)
        except (OSError, http.client.HTTPException):
            return  # the server was killed under us
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    target = len(acknowledged) + random.randint(20, 40)
    deadline = time.monotonic() + 60
    for thread in threads:
        thread.start()
    while len(acknowledged) < target and time.monotonic() < deadline:
        time.sleep(0.005)
    server.kill()
    stop.set()
    for thread in threads:
        thread.join(timeout=10)


def test_kill_9_under_load_loses_no_acknowledged_repayment(tmp_path: Path) -> None:
    """Three times: serve with --state, post repayments from 6 threads (10% resends of
    acknowledged ones), SIGKILL mid-load, restart. Every acknowledged repayment is posted
    exactly once, under the posting id it was acknowledged with; the advanced clock and a
    planted fault survive; a replay of a request accepted before a kill is still refused."""
    random.seed(10)
    state = tmp_path / "state"
    acknowledged: dict[str, str] = {}
    servers = [Server(state)]
    try:
        server = servers[-1]
        status, _, _ = server.request("POST", "/bank/loans", LOAN, sign=True)
        assert status == 201
        assert server.request("POST", "/clock/advance", {"by": "1h"})[0] == 200
        server.clock()
        status, _, replayable = server.request("GET", "/bank/loans/L-dura", sign=True)
        assert status == 200
        assert server.request("POST", "/faults", {"kind": "outage", "link": "recon",
                                                  "for": "30d"})[0] == 201
        advanced = server.clock()["now"]
        for cycle in range(3):
            load(servers[-1], cycle, acknowledged, threading.Event(),
                 list(acknowledged)[:50])
            servers.append(Server(state))
            assert servers[-1].clock()["now"] == advanced
        server = servers[-1]
        assert len(acknowledged) > 50
        _, faults, _ = server.request("GET", "/faults")
        assert [f["link"] for f in faults["faults"]] == ["recon"]
        replay = server.request("GET", "/bank/loans/L-dura", headers=replayable)
        assert replay[0] == 401 and "replayed" in replay[1]["detail"]
        for payment_id in random.sample(sorted(acknowledged), 20):
            status, body, _ = server.request(
                "POST", "/bank/repayments", repayment(payment_id, server.now), sign=True,
                headers={"Idempotency-Key": payment_id})
            assert (status, body["posting_id"]) == (201, acknowledged[payment_id])
    finally:
        for running in servers:
            if running.process.poll() is None:
                running.kill()
    with sqlite3.connect(state / "bank.sqlite3") as bank:
        rows = bank.execute("SELECT payment_id, posting_id FROM postings").fetchall()
    posted: dict[str, list[str]] = {}
    for payment_id, posting_id in rows:
        posted.setdefault(payment_id, []).append(posting_id)
    assert all(len(ids) == 1 for ids in posted.values()), "a payment was posted twice"
    assert {pid: posted.get(pid, [""])[0] for pid in acknowledged} == acknowledged
