"""A ``command:`` system never outlives lendsim: stopped on Ctrl-C, and gone even when
lendsim itself is killed with no chance to clean up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.processes import interruptible

LIBRARY = Path(__file__).parents[2] / "scenarios"
#: a system that records its pid, then never listens: lendsim waits for it (up to --timeout)
SLEEPER = ("import os, pathlib, sys, time; "
           "pathlib.Path(sys.argv[1]).write_text(str(os.getpid())); time.sleep(600)")


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def start(tmp_path: Path) -> tuple[subprocess.Popen[bytes], int]:
    """``lendsim run --sut`` with the sleeper; the lendsim process and the system's pid."""
    pid_file = tmp_path / "pid"
    target = f"command:{sys.executable} -c '{SLEEPER}' {pid_file} {{port}}"
    lendsim = subprocess.Popen(
        interruptible("-m", "simulator", "run", "-q", "-j", "1", "--timeout", "120",
                      "--sut", f"platform={target}",
                      str(LIBRARY / "money" / "early-payoff.yaml")),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not pid_file.exists() or not pid_file.read_text():
        if time.monotonic() > deadline or lendsim.poll() is not None:
            lendsim.kill()
            pytest.fail("the system was never started")
        time.sleep(0.05)
    return lendsim, int(pid_file.read_text())


def gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while alive(pid):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            return False
        time.sleep(0.05)
    return True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc and PDEATHSIG")
def test_the_system_dies_with_a_killed_lendsim(tmp_path: Path) -> None:
    """kill -9 of lendsim leaves no system process behind."""
    lendsim, pid = start(tmp_path)
    lendsim.kill()
    lendsim.wait()
    assert gone_within(pid, 10)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc")
def test_ctrl_c_stops_the_system_and_exits_130(tmp_path: Path) -> None:
    """Ctrl-C while lendsim waits for the system stops it and exits 130."""
    lendsim, pid = start(tmp_path)
    lendsim.send_signal(signal.SIGINT)
    try:
        assert lendsim.wait(timeout=30) == 130
    finally:
        lendsim.kill()  # a failure must not leave it running into other tests
        lendsim.wait()
    assert gone_within(pid, 10)
