"""The README is enough on its own: time zones, signing, the Python API, serving, exit codes.

Its examples are run here as a newcomer would run them: the signing example against a real
``lendsim serve``, the Python API example as written.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from simulator.core.calendars import jurisdiction
from simulator.faces.cli import app
from simulator.wire.signing import Keyring

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
SCENARIO = "scenarios/incident/docking-failure-correct-bank.yaml"


def section(title: str) -> str:
    """The README's section ``## title``, up to the next one."""
    return README.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def code_block(text: str, language: str) -> str:
    """The first fenced ``language`` block of ``text``."""
    match = re.search(rf"```{language}\n(.*?)```", text, re.S)
    assert match is not None, language
    return match.group(1)


def test_time_zones_are_named_per_jurisdiction() -> None:
    """The README names each jurisdiction's zone, and they are the zones lendsim uses."""
    text = section("Time")
    for code in ("CN", "US"):
        zone = str(jurisdiction(code).tz)
        assert f"`{code}` is `{zone}`" in text, (code, zone)


def test_signing_example_is_short_and_uses_only_the_standard_library() -> None:
    """The signing example is at most 20 lines and imports only standard-library modules."""
    code = code_block(section("Signing a request"), "python")
    assert len(code.strip().splitlines()) <= 20
    imported = {name.strip() for line in code.splitlines() if line.startswith("import ")
                for name in line[len("import "):].split(",")}
    imported |= {line.split()[1] for line in code.splitlines() if line.startswith("from ")}
    assert imported and all(name.split(".")[0] in sys.stdlib_module_names for name in imported)


def test_test_keyring_table_holds_the_test_keyring() -> None:
    """Each secret in the README's table signs exactly as the test keyring's key does."""
    rows = re.findall(r"^\| `(\w+)` \| `([0-9a-f]{64})` \|$", section("Signing a request"), re.M)
    keyring = Keyring.for_testing()
    assert sorted(key_id for key_id, _ in rows) == sorted(keyring.key_ids)
    now = datetime(2026, 1, 1, 1, tzinfo=UTC)
    for key_id, secret in rows:
        headers = keyring.sign(key_id, "POST", "/bank/repayments", b"{}", now, nonce="n0nce-123")
        canonical = "\n".join(["LENDSIM-HMAC-SHA256", "POST", "/bank/repayments",
                               headers["X-Lendsim-Timestamp"], "n0nce-123",
                               hashlib.sha256(b"{}").hexdigest()])
        expected = hmac.new(secret.encode(), canonical.encode(), hashlib.sha256).hexdigest()
        assert headers["X-Lendsim-Signature"] == expected, key_id


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for(url: str, process: subprocess.Popen[str], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"lendsim serve exited {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {seconds} s")


@pytest.mark.skipif(ROOT.joinpath(SCENARIO).exists() is False, reason="needs the checkout")
def test_signing_example_works_against_lendsim_serve(tmp_path: Path) -> None:
    """The README's signing example, run as written against ``lendsim serve`` of the scenario
    it names, reads alice's loan and gets a repayment accepted; Ctrl-C then stops the server
    with exit status 0, as documented."""
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "simulator.faces.cli", "serve", SCENARIO, "--port", str(port)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _wait_for(f"http://127.0.0.1:{port}/clock", server)
        code = code_block(section("Signing a request"), "python")
        assert 'BASE = "http://127.0.0.1:8765"' in code
        example = tmp_path / "sign.py"
        example.write_text(code.replace(":8765", f":{port}"), encoding="utf-8")
        ran = subprocess.run([sys.executable, str(example)], capture_output=True, text=True,
                             timeout=60, check=False)
        assert ran.returncode == 0, ran.stderr
        outstanding, receipt = ran.stdout.strip().splitlines()
        assert outstanding == "1320195"
        assert "'loan_id': 'L-alice'" in receipt and "'status': 'accepted'" in receipt
        assert "(`1320195`)" in section("Signing a request")
    finally:
        server.send_signal(signal.SIGINT)
        out, _ = server.communicate(timeout=30)
    assert server.returncode == 0, out
    assert "POST /platform/repayments HTTP/1.1\" 201" in out


def test_python_api_example_runs_as_written(monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """The Python API example runs from the checkout and prints what its comments say."""
    monkeypatch.chdir(ROOT)
    exec(compile(code_block(section("Python API"), "python"), "README", "exec"), {})
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("False ['no_false_overdue', ")
    assert lines[1].startswith("alice the bureau recorded ")
    assert lines[2] == "[]"
    assert int(lines[3]) > 0


def test_every_served_endpoint_is_listed() -> None:
    """Each operation of every contract, and each openapi.json, is in the endpoints table."""
    text = section("Serving a world")
    assert "`GET /openapi.json`" in text and "`GET /{party}/openapi.json`" in text
    for contract in ("bank", "platform", "bureau", "sms", "sandbox"):
        document = yaml.safe_load((ROOT / "contracts" / f"{contract}.yaml").read_text())
        for path, operations in document["paths"].items():
            for method in operations:
                if method in ("get", "post", "put", "delete", "patch"):
                    assert f"{method.upper()} {path}" in text, (contract, method, path)


def test_every_command_has_its_exit_codes() -> None:
    """The exit-status table has a row for every command lendsim has, and only those."""
    from typer.main import get_command

    def names(command: object, prefix: str = "") -> list[str]:
        children = getattr(command, "commands", None)
        if not children:
            return [prefix.strip()]
        found = []
        for name, child in children.items():
            found += names(child, f"{prefix} {name}")
        return found

    commands = set(names(get_command(app)))
    rows = set(re.findall(r"^\| `lendsim ([a-z -]+?)(?: --matrix| --sut)?` \|", README, re.M))
    assert commands == rows, (commands, rows)
    assert "| `lendsim defects --matrix` |" in README
    assert "130: Ctrl-C" in README


def test_explain_example_is_what_explain_prints(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every line of the README's ``lendsim explain`` excerpt is a line the command prints on
    an 80-column terminal, in the same order."""
    from typer.testing import CliRunner

    example = code_block(section("Seeing what happened"), "console").splitlines()
    command, *shown = example
    assert command == "$ lendsim explain docking-failure-correct-bank"
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(app, command.split()[2:], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    printed = result.stdout.splitlines()
    position = 0
    for line in shown:
        if line == "…":
            continue
        assert line in printed[position:], line
        position = printed.index(line, position) + 1
