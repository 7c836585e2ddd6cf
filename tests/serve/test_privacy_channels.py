"""Personal data never leaves through any channel: hostile requests carrying a scenario's
names, ID numbers and phone numbers (in paths, queries, keys, values, headers) are answered,
logged and access-logged without them, and the reports of a failing run mask them."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from urllib.parse import quote

import pytest
from typer.testing import CliRunner

from simulator.faces.cli import app as cli
from simulator.scenarios.loader import load_scenario_text
from simulator.serve.logs import MaskPaths, log_config
from simulator.serve.sandbox import Sandbox
from simulator.wire.signing import Keyring
from tests.support.asgi_client import AppClient

WORLD = """\
scenario: personal
summary: Two borrowers with personal data.
start: 2026-01-01T09:00
until: 2026-03-05
borrowers:
  - id: alice
    name: 王小明
    id_number: '110101199003071234'
    phone: '13812345678'
    loan: {principal: 1200.00, annual_rate: 0.18, months: 3, disbursed: 2026-01-01}
  - id: bob
    name: Jane Example
    id_number: '110101198001011111'
    phone: '13900001111'
    loan: {principal: 1200.00, annual_rate: 0.18, months: 3, disbursed: 2026-01-01}
"""
KEYS = Keyring.for_testing()
PERSONAL = ("王小明", "Jane Example", "110101199003071234", "13812345678",
            "110101198001011111", "13900001111")


def leaks(text: str) -> list[str]:
    """The personal values found in ``text``, raw or percent-encoded."""
    return [value for value in PERSONAL if value in text or quote(value) in text]


def test_no_channel_of_a_served_world_shows_personal_data(
        caplog: pytest.LogCaptureFixture) -> None:
    """Requests with the scenario's personal values everywhere a caller can put them: no
    response body, problem detail, server log line or access-log line shows one."""
    texts: list[str] = []
    with Sandbox(load_scenario_text(WORLD)) as sandbox, \
            caplog.at_level(logging.DEBUG):
        client = AppClient(sandbox.app)
        for value in PERSONAL:
            encoded = quote(value)
            for path in (f"/bank/loans/{encoded}", f"/platform/borrowers/{encoded}/loans",
                         f"/bank/{encoded}", f"/bank/loans/L-alice?{encoded}=1"):
                headers = KEYS.sign("partner", "GET", path, b"", sandbox.now())
                texts.append(client.request("GET", path, headers=headers).text)
            for body in ({value: 1}, {"loan_id": "L-alice", "amount": value},
                         {"loan_id": value, "amount": 1}):
                raw = json.dumps(body, ensure_ascii=False).encode()
                headers = {**KEYS.sign("partner", "POST", "/platform/repayments", raw,
                                       sandbox.now()), "Content-Type": "application/json"}
                texts.append(client.request("POST", "/platform/repayments", content=raw,
                                            headers=headers).text)
            texts.append(client.request("POST", "/faults", json={"kind": value}).text)
    texts += [record.getMessage() for record in caplog.records  # the server's, not httpx's
              if record.name.startswith(("lendsim", "uvicorn", "starlette"))]
    assert [leak for text in texts for leak in leaks(text)] == []


def test_the_access_log_masks_the_path() -> None:
    """An access-log record of a path holding an ID number or a name shows it masked, as
    ``lendsim serve`` configures uvicorn."""
    assert "filters" in log_config()["loggers"]["uvicorn.access"]
    for value in PERSONAL:
        record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1,
                                   '%s - "%s %s HTTP/%s" %d',
                                   ("127.0.0.1:5000", "GET", f"/bank/loans/{quote(value)}?x=1",
                                    "1.1", 404), None)
        MaskPaths().filter(record)
        assert leaks(record.getMessage()) == [], record.getMessage()


def test_the_reports_of_a_failing_run_mask_personal_data(tmp_path: Path) -> None:
    """A run that fails (a planted defect) writes JSON, JUnit and HTML reports and prints a
    summary, none of which shows a name, ID number or phone number."""
    scenario = tmp_path / "personal.yaml"
    scenario.write_text(WORLD + "steps:\n  - at: 2026-02-01T10:00\n"
                        "    repay: {borrower: alice, installment: 1}\n"
                        "  - at: 2026-02-01T10:05\n"
                        "    fault: {kind: outage, link: platform->bank, for: 3d}\n",
                        encoding="utf-8")
    reports = [tmp_path / name for name in ("r.json", "r.xml", "r.html")]
    result = CliRunner().invoke(cli, ["run", str(scenario), "--defect",
                                      "bank.reports_without_reconciliation", "--json",
                                      str(reports[0]), "--junit", str(reports[1]), "--html",
                                      str(reports[2])])
    assert result.exit_code == 1, result.output
    texts = [result.output, *(path.read_text(encoding="utf-8") for path in reports)]
    assert [leak for text in texts for leak in leaks(text)] == []
