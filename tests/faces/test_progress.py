"""Progress: a bar with done/total, rate and ETA on a terminal after a delay; nothing else."""

from __future__ import annotations

import io
import time

from rich.console import Console

from simulator.faces.progress import Meter


def terminal(stream: io.StringIO) -> Console:
    """A console that believes it writes to a terminal."""
    return Console(file=stream, force_terminal=True, width=100, color_system=None)


def test_bar_shows_done_total_rate_and_eta_on_a_terminal() -> None:
    """Once shown, the bar reads "2/5 scenarios", a rate and an ETA."""
    stream = io.StringIO()
    with Meter(terminal(stream), 5, "running", unit="scenarios", delay=0) as meter:
        meter.advance()
        time.sleep(0.2)
        meter.advance()
        assert meter.shown
        meter._progress.refresh()  # type: ignore[union-attr]
    out = stream.getvalue()
    assert "running" in out and "2/5 scenarios" in out
    assert "scenarios/s" in out or "s each" in out
    assert "ETA" in out


def test_no_bar_off_a_terminal() -> None:
    """Writing to a file or pipe, nothing is drawn however long the work."""
    stream = io.StringIO()
    console = Console(file=stream, force_terminal=False, width=100)
    with Meter(console, 3, "running", unit="scenarios", delay=0) as meter:
        meter.set(1.5)
        assert not meter.shown
    assert stream.getvalue() == ""


def test_no_bar_for_quick_work() -> None:
    """Work that ends within the delay never shows a bar, even on a terminal."""
    stream = io.StringIO()
    with Meter(terminal(stream), 3, "running", unit="scenarios", delay=60) as meter:
        meter.set(3)
        assert not meter.shown
    assert stream.getvalue() == ""
