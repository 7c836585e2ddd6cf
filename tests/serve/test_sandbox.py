"""The sandbox (simulator.serve.sandbox): a world served over HTTP whose clock, faults and state are
under test control, and the ``lendsim serve`` command that serves it."""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

import simulator.serve.sandbox as sandbox_module
from simulator.core.errors import LendsimError
from simulator.faces.cli import app as cli
from simulator.scenarios.loader import load_scenario_text
from simulator.serve.sandbox import Sandbox
from simulator.wire.signing import Keyring
from tests.support.asgi_client import AppClient

WORLD = """\
scenario: sandbox
summary: Alice repays by hand; bob on each due date.
start: 2026-01-31T09:00
until: 2026-12-31
borrowers:
  - id: alice
    loan: {principal: 12000.00, annual_rate: 0.18, months: 12, disbursed: 2026-01-01}
  - id: bob
    loan: {principal: 5000.00, annual_rate: 0.12, months: 6, disbursed: 2026-01-01}
    pays: on_due_date
"""
START = datetime.fromisoformat("2026-01-31T01:00:00+00:00")
KEYS = Keyring.for_testing()


class Control:
    """The sandbox's control API and signed party calls, over HTTP."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.client = AppClient(sandbox.app)

    def clock(self) -> dict[str, Any]:
        reply = self.client.request("GET", "/clock")
        assert reply.status_code == 200
        answer: dict[str, Any] = reply.json()
        return answer

    def now(self) -> datetime:
        return datetime.fromisoformat(self.clock()["now"])

    def advance(self, **body: str) -> httpx.Response:
        return self.client.request("POST", "/clock/advance", json=body)

    def faults(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.client.request("GET", "/faults").json()["faults"]
        return found

    def add_fault(self, **body: Any) -> httpx.Response:
        return self.client.request("POST", "/faults", json=body)

    def party(self, method: str, path: str, body: Any = None, key_id: str = "partner",
              headers: dict[str, str] | None = None) -> httpx.Response:
        data = json.dumps(body).encode() if body is not None else b""
        sent = {**KEYS.sign(key_id, method, path, data, self.now()), **(headers or {})}
        if data:
            sent["Content-Type"] = "application/json"
        return self.client.request(method, path, content=data, headers=sent)

    def repay(self, payment_id: str, key_id: str = "partner") -> httpx.Response:
        body = {"payment_id": payment_id, "loan_id": "L-alice", "amount": 1000,
                "currency": "CNY", "value_time": self.now().isoformat()}
        return self.party("POST", "/bank/repayments", body, key_id,
                          headers={"Idempotency-Key": payment_id})

    def wait_ready(self, timeout: float = 20) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        clock = self.clock()
        while clock["status"] == "advancing":
            assert time.monotonic() < deadline, "the clock never became ready"
            time.sleep(0.005)
            clock = self.clock()
        return clock


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(load_scenario_text(WORLD), strict_responses=True) as made:
        yield made


def posted(sandbox: Sandbox, payment_id: str) -> int:
    """How many postings the bank holds for a payment."""
    count: int = sandbox.call(lambda: sandbox.world.bank.db.execute(
        "SELECT count(*) FROM postings WHERE payment_id = ?", (payment_id,)).fetchone()[0])
    return count


def journal_count(sandbox: Sandbox, kind: str) -> int:
    count: int = sandbox.call(lambda: sandbox.world.journal.count(kind))
    return count


# -- clock ---------------------------------------------------------------------------------
def test_the_clock_starts_at_the_scenario_start(sandbox: Sandbox) -> None:
    """GET /clock: the scenario's first instant, its time zone, ready."""
    assert Control(sandbox).clock() == {"now": START.isoformat(), "timezone": "Asia/Shanghai",
                                        "status": "ready"}


def test_a_short_advance_runs_the_world_before_it_answers(sandbox: Sandbox) -> None:
    """Advancing by 3 days answers 200 ready at the new instant, and the world ran on the way:
    the day-end batches and bob's due-date repayment happened."""
    control = Control(sandbox)
    reply = control.advance(by="3d")
    assert reply.status_code == 200
    assert reply.json() == {"now": (START + timedelta(days=3)).isoformat(), "status": "ready"}
    assert control.now() == START + timedelta(days=3)
    # 01-31 09:00 → 02-03 09:00: the batches of 00:30 on 02-01, 02-02 and 02-03
    assert journal_count(sandbox, "bank.batch_classified") == 3
    assert journal_count(sandbox, "bank.posted") == 1  # bob paid on 2026-02-01


def test_an_advance_to_an_instant(sandbox: Sandbox) -> None:
    """Advancing ``to`` an instant with an offset lands exactly there."""
    control = Control(sandbox)
    assert control.advance(to="2026-02-01T09:30:00+08:00").status_code == 200
    assert control.now() == datetime.fromisoformat("2026-02-01T01:30:00+00:00")


def slow_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Background advances take one step per chunk and at least 5 ms a chunk, so a request
    sent right after a 202 surely finds the clock still advancing."""
    monkeypatch.setattr(sandbox_module, "_CHUNK_SECONDS", 0.0)
    chunk = Sandbox._advance_chunk

    def slow(self: Sandbox, number: int) -> None:
        time.sleep(0.005)
        chunk(self, number)

    monkeypatch.setattr(Sandbox, "_advance_chunk", slow)


def test_a_long_advance_is_pollable(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    """Advancing by 60 days answers 202 advancing with its target; GET /clock shows progress
    and reaches ready at the target; the world ran all the way."""
    slow_chunks(monkeypatch)
    control = Control(sandbox)
    reply = control.advance(by="60d")
    target = START + timedelta(days=60)
    assert reply.status_code == 202
    assert reply.json() == {"now": START.isoformat(), "status": "advancing",
                            "target": target.isoformat()}
    seen = control.clock()
    assert seen["status"] == "advancing" and seen["target"] == target.isoformat()
    assert START <= datetime.fromisoformat(seen["now"]) < target
    assert control.wait_ready() == {"now": target.isoformat(), "timezone": "Asia/Shanghai",
                                    "status": "ready"}
    assert journal_count(sandbox, "bank.posted") == 2  # bob, 2026-02-01 and 2026-03-01


def test_a_second_advance_while_advancing_is_refused(sandbox: Sandbox,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """While a long advance runs, another advance answers 409."""
    slow_chunks(monkeypatch)
    control = Control(sandbox)
    assert control.advance(by="60d").status_code == 202
    busy = control.advance(by="1h")
    assert busy.status_code == 409 and busy.json()["title"] == "Clock advancing"
    control.wait_ready()


def test_a_party_call_during_an_advance_waits_for_it(sandbox: Sandbox,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A party operation sent while the clock advances runs at the target instant, so what it
    sees never depends on the sandbox's speed."""
    slow_chunks(monkeypatch)
    control = Control(sandbox)
    target = START + timedelta(days=60)
    assert control.advance(by="60d").status_code == 202
    data = b""
    # signed at the target: by the time it runs, the clock is there
    headers = KEYS.sign("partner", "GET", "/bank/loans/L-alice", data, target)
    reply = control.client.request("GET", "/bank/loans/L-alice", headers=headers)
    # at 04-01 09:00 alice's installment due 02-01 is 27 + 31 + 1 = 59 days past due
    assert reply.status_code == 200 and reply.json()["days_past_due"] == 59
    assert control.clock() == {"now": target.isoformat(), "timezone": "Asia/Shanghai",
                               "status": "ready"}


def stalled_chunks(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Each chunk of a background advance holds the world's thread for ``seconds`` (a heavy
    world: thousands of borrowers' batches in one chunk)."""
    monkeypatch.setattr(sandbox_module, "_CHUNK_SECONDS", 0.0)
    chunk = Sandbox._advance_chunk

    def stalled(self: Sandbox, number: int) -> None:
        time.sleep(seconds)
        chunk(self, number)

    monkeypatch.setattr(Sandbox, "_advance_chunk", stalled)


def halt(sandbox: Sandbox) -> None:
    """Stop a background advance where it is (chunks still queued find nothing to do)."""
    def stop() -> None:
        sandbox._advances += 1
        sandbox._target = None

    sandbox.call(stop)


def test_checks_and_the_clock_never_wait_for_an_advance(sandbox: Sandbox,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """While an advance holds the world's thread, GET /clock answers within 50 ms and an
    unsigned or malformed request is refused at once: checks come before any wait."""
    stalled_chunks(monkeypatch, 0.3)
    control = Control(sandbox)
    assert control.advance(by="60d").status_code == 202
    time.sleep(0.05)  # a chunk is holding the world's thread now
    began = time.perf_counter()
    assert control.clock()["status"] == "advancing"
    assert time.perf_counter() - began < 0.05
    began = time.perf_counter()
    assert control.client.request("GET", "/bank/loans/L-alice").status_code == 401
    assert control.client.request("POST", "/clock/advance", content=b"{",
                                  headers={"Content-Type": "application/json"}
                                  ).status_code == 400
    assert time.perf_counter() - began < 0.2
    halt(sandbox)


def test_a_party_call_during_a_long_advance_gets_a_quick_503(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A party call that waits longer than ``advance_wait`` for an advance is answered 503
    "Clock advancing" with Retry-After, and runs nothing."""
    stalled_chunks(monkeypatch, 0.2)
    with Sandbox(load_scenario_text(WORLD), advance_wait=0.1) as made:
        control = Control(made)
        assert control.advance(by="60d").status_code == 202
        target = START + timedelta(days=60)
        began = time.perf_counter()
        body = json.dumps({"payment_id": "PAY-1", "loan_id": "L-alice", "amount": 1000,
                           "currency": "CNY", "value_time": target.isoformat()}).encode()
        headers = {**KEYS.sign("partner", "POST", "/bank/repayments", body, target),
                   "Idempotency-Key": "PAY-1", "Content-Type": "application/json"}
        reply = control.client.request("POST", "/bank/repayments", content=body,
                                       headers=headers)
        assert time.perf_counter() - began < 0.5
        assert reply.status_code == 503 and reply.headers["retry-after"] == "1"
        assert reply.json()["title"] == "Clock advancing"
        halt(made)
        assert posted(made, "PAY-1") == 0


def test_a_replay_after_a_reset_is_refused(sandbox: Sandbox) -> None:
    """A signed request sent, the clock advanced an hour, the world reset: the same request
    again is a replayed 401, not recorded a second time."""
    control = Control(sandbox)
    body = json.dumps({"loan_id": "L-alice", "amount": 100}).encode()
    headers = {**KEYS.sign("partner", "POST", "/platform/repayments", body, START),
               "Content-Type": "application/json"}
    first = control.client.request("POST", "/platform/repayments", content=body,
                                   headers=headers)
    assert first.status_code == 201
    control.advance(by="1h")
    assert control.client.request("POST", "/reset").status_code == 204
    replay = control.client.request("POST", "/platform/repayments", content=body,
                                    headers=headers)
    assert replay.status_code == 401 and "replayed" in replay.json()["detail"]
    count: int = sandbox.call(lambda: sandbox.world.platform.db.execute(
        "SELECT count(*) FROM payments").fetchone()[0])
    assert count == 0


def test_the_clock_never_goes_back(sandbox: Sandbox) -> None:
    """An instant before now answers 409 and the clock stays."""
    control = Control(sandbox)
    control.advance(by="1h")
    reply = control.advance(to=START.isoformat())
    assert reply.status_code == 409 and reply.json()["title"] == "Clock cannot go back"
    assert control.now() == START + timedelta(hours=1)


def test_a_zero_advance_changes_nothing(sandbox: Sandbox) -> None:
    """Advancing by ``0m`` (a duration the contract allows) answers 200 at the same instant."""
    reply = Control(sandbox).advance(by="0m")
    assert reply.status_code == 200 and reply.json()["now"] == START.isoformat()


def test_bad_advances_are_422(sandbox: Sandbox) -> None:
    """Neither or both of to and by, a bad duration, or an instant without offset: 422."""
    control = Control(sandbox)
    for body in ({}, {"to": "2026-03-01T00:00:00+00:00", "by": "1d"}, {"by": "1x"},
                 {"by": "tomorrow"}, {"to": "2026-03-01T00:00:00"}):
        assert control.advance(**body).status_code == 422, body
    assert control.now() == START


def test_the_clock_stops_at_the_horizon() -> None:
    """A sandbox with a 10-day horizon refuses an 11-day advance with a 422 of its own."""
    with Sandbox(load_scenario_text(WORLD), horizon=timedelta(days=10)) as made:
        reply = Control(made).advance(by="11d")
        assert reply.status_code == 422 and reply.json()["title"] == "Beyond the horizon"


def test_an_empty_world_of_a_jurisdiction() -> None:
    """Without a scenario: an empty world of the jurisdiction, at the start given (local)."""
    with Sandbox(jurisdiction="US", start="2026-03-02T09:00") as made:
        assert Control(made).clock() == {"now": "2026-03-02T14:00:00+00:00",
                                         "timezone": "America/New_York", "status": "ready"}
    with pytest.raises(LendsimError):
        Sandbox(jurisdiction="FR")


# -- faults ----------------------------------------------------------------------------------
def test_faults_are_added_listed_and_removed(sandbox: Sandbox) -> None:
    """An outage on platform->bank is planted from now, listed, refuses the platform's signed
    calls (not a partner's, which cross no link), and is removed."""
    control = Control(sandbox)
    added = control.add_fault(kind="outage", link="platform->bank", **{"for": "1h"})
    assert added.status_code == 201
    planted = added.json()
    assert planted == {"fault_id": "F000001", "kind": "outage", "link": "platform->bank",
                       "start": START.isoformat(),
                       "end": (START + timedelta(hours=1)).isoformat()}
    assert control.faults() == [planted]
    refused = control.repay("PAY-1", key_id="platform")
    assert refused.status_code == 503
    assert control.repay("PAY-2", key_id="partner").status_code == 201
    removed = control.client.request("DELETE", "/faults/F000001")
    assert removed.status_code == 204
    assert control.faults() == []
    assert control.repay("PAY-1", key_id="platform").status_code == 201
    assert control.client.request("DELETE", "/faults/F000001").status_code == 404


def test_a_fault_ends_with_its_window(sandbox: Sandbox) -> None:
    """An error fault for 1h is gone after a 2h advance; calls cross again."""
    control = Control(sandbox)
    control.add_fault(kind="error", link="platform->bank", status=502, **{"for": "1h"})
    assert control.repay("PAY-1", key_id="platform").status_code == 502
    control.advance(by="2h")
    assert control.faults() == []
    assert control.repay("PAY-1", key_id="platform").status_code == 201


def test_a_delay_fault_keeps_its_duration_as_written(sandbox: Sandbox) -> None:
    """A planted delay answers its ``by`` as the request wrote it; the delayed repayment arrives
    after the caller gave up (504) and is posted when the clock reaches it."""
    control = Control(sandbox)
    added = control.add_fault(kind="delay", link="platform->bank", by="319h2m7s",
                              **{"for": "1h"})
    assert added.status_code == 201 and added.json()["by"] == "319h2m7s"
    assert control.repay("PAY-1", key_id="platform").status_code == 504
    assert posted(sandbox, "PAY-1") == 0
    # more than a week: the advance answers 202 and runs on; wait for it before looking
    assert control.advance(to=(START + timedelta(hours=320)).isoformat()).status_code == 202
    control.wait_ready()
    assert posted(sandbox, "PAY-1") == 1


def test_an_ended_fault_can_be_removed_once(sandbox: Sandbox) -> None:
    """Removing a fault whose window already closed succeeds (nothing changes); a second time
    it is unknown."""
    control = Control(sandbox)
    control.add_fault(kind="outage", link="recon", **{"for": "1h"})
    control.advance(by="2h")
    assert control.client.request("DELETE", "/faults/F000001").status_code == 204
    assert control.client.request("DELETE", "/faults/F000001").status_code == 404


def test_a_lost_response_is_a_504_but_the_repayment_is_posted(sandbox: Sandbox) -> None:
    """A timeout_after_commit fault: the caller gets a 504, yet the bank posted the repayment
    — exactly the ambiguity an idempotency key resolves."""
    control = Control(sandbox)
    control.add_fault(kind="timeout_after_commit", link="platform->bank", **{"for": "1h"})
    assert control.repay("PAY-1", key_id="platform").status_code == 504
    assert posted(sandbox, "PAY-1") == 1


def test_a_crash_fault_takes_a_party_down_until_removed(sandbox: Sandbox) -> None:
    """A crash of the bank answers 503 to every call until the fault is removed."""
    control = Control(sandbox)
    assert control.add_fault(kind="crash", party="bank", **{"for": "6h"}).status_code == 201
    assert control.party("GET", "/bank/loans/L-alice").status_code == 503
    assert control.client.request("DELETE", "/faults/F000001").status_code == 204
    assert control.party("GET", "/bank/loans/L-alice").status_code == 200


def test_bad_faults_are_422(sandbox: Sandbox) -> None:
    """A fault already over, on an unknown link, or with a field of another kind: 422."""
    control = Control(sandbox)
    over = control.add_fault(kind="outage", link="recon", until="2026-01-01T00:00:00+00:00")
    assert over.status_code == 422 and over.json()["title"] == "Fault already over"
    assert control.add_fault(kind="outage", link="bank->moon", **{"for": "1h"}).status_code \
        == 422
    assert control.add_fault(kind="outage", link="recon", by="1h", **{"for": "1h"}) \
        .status_code == 422
    assert control.faults() == []


# -- reset ---------------------------------------------------------------------------------------
def test_reset_returns_to_the_start(sandbox: Sandbox) -> None:
    """After repayments, a fault and an advance, reset brings back the first instant, no faults
    and the initial state."""
    control = Control(sandbox)
    control.repay("PAY-1")
    control.add_fault(kind="outage", link="recon", **{"for": "3d"})
    control.advance(by="2d")
    assert control.client.request("POST", "/reset").status_code == 204
    assert control.clock()["now"] == START.isoformat()
    assert control.faults() == []
    assert journal_count(sandbox, "bank.posted") == 0
    loan = control.party("GET", "/bank/loans/L-alice").json()
    assert [inst["paid"] for inst in loan["installments"]] == [0] * 12
    assert control.repay("PAY-1").status_code == 201  # the same id is new again


def test_a_defect_is_planted_in_the_served_world() -> None:
    """A world served with bank.ignores_idempotency_key posts a replayed key twice."""
    with Sandbox(load_scenario_text(WORLD), defects=["bank.ignores_idempotency_key"]) as made:
        control = Control(made)
        first, second = control.repay("PAY-1"), control.repay("PAY-1")
        assert (first.json()["posting_id"], second.json()["posting_id"]) == (
            "PST00000001", "PST00000002")


# -- lendsim serve ----------------------------------------------------------------------------
def test_serve_runs_uvicorn_on_loopback(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """``lendsim serve SCENARIO`` serves the sandbox app on 127.0.0.1:8765 by default and
    closes the world after."""
    served: dict[str, Any] = {}

    def fake_run(app: Any, **options: Any) -> None:
        served.update(options, clock=AppClient(app).request("GET", "/clock").json())

    monkeypatch.setattr("uvicorn.run", fake_run)
    scenario = tmp_path / "world.yaml"
    scenario.write_text(WORLD, encoding="utf-8")
    result = CliRunner().invoke(cli, ["serve", str(scenario)])
    assert result.exit_code == 0, result.output
    assert (served["host"], served["port"]) == ("127.0.0.1", 8765)
    assert served["clock"]["now"] == START.isoformat()
    assert "partner" in result.output and "lendsim-test-key" not in result.output


def test_serve_refuses_bad_input_with_exit_2(tmp_path: Path) -> None:
    """A missing scenario, an unknown defect or a bad jurisdiction: exit 2, one line, no
    traceback."""
    runner = CliRunner()
    for args in (["serve", str(tmp_path / "nope.yaml")], ["serve", "--defect", "bank.nope"],
                 ["serve", "--jurisdiction", "FR"], ["serve", "--start", "soon"]):
        result = runner.invoke(cli, args)
        assert result.exit_code == 2, (args, result.output)
        assert "Traceback" not in result.output


@pytest.mark.parametrize("own_process", [True, False])
def test_only_a_sandbox_with_its_own_process_freezes_the_heap(own_process: bool) -> None:
    """``lendsim serve`` (own_process) freezes its world out of the collector's full passes,
    after a long advance too, and thaws it on close; a sandbox embedded in another program
    (a test run, the contract suite) leaves that program's collector alone."""
    gc.unfreeze()
    with Sandbox(load_scenario_text(WORLD), own_process=own_process) as made:
        built = gc.get_freeze_count()
        control = Control(made)
        assert control.advance(by="30d").status_code == 202
        control.wait_ready()
        assert (built > 0) is own_process
        assert (gc.get_freeze_count() >= built) if own_process else gc.get_freeze_count() == 0
    assert gc.get_freeze_count() == 0
