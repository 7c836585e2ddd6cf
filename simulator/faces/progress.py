"""Progress of long work: a rich bar with done/total, rate and ETA — only when it helps.

A :class:`Meter` draws on a terminal, and only once the work has taken longer
than ``delay`` seconds (a quick run prints nothing extra); the bar disappears
when the work ends, leaving the closing summary alone on the screen. When the
output is not a terminal (CI logs, pipes) nothing is drawn: the command prints
its single closing summary as it always does.
"""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

__all__ = ["DELAY", "Meter"]

#: how long work runs before a bar appears (seconds)
DELAY = 2.0


class _Done(ProgressColumn):
    """``12/48 scenarios``, counted in whole units."""

    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        total = f"{task.total:.0f}" if task.total is not None else "?"
        return Text(f"{int(task.completed)}/{total} {self.unit}")


class _Rate(ProgressColumn):
    """``2.1 scenarios/s`` or, when slower than one a second, ``4.2 s each``."""

    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        if not speed:
            return Text("")
        return Text(f"{speed:.1f} {self.unit}/s" if speed >= 1 else f"{1 / speed:.1f} s each")


class Meter:
    """Counts work done out of ``total``; use as a context manager."""

    def __init__(self, console: Console, total: float, what: str, *, unit: str,
                 delay: float = DELAY, enabled: bool | None = None) -> None:
        self.console = console
        self.total = total
        self.what = what
        self.unit = unit
        self.delay = delay
        self.enabled = console.is_terminal if enabled is None else enabled
        self.done = 0.0
        self._began = time.monotonic()
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> Meter:
        self._began = time.monotonic()
        self.tick()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    @property
    def shown(self) -> bool:
        return self._progress is not None

    def set(self, done: float) -> None:
        """``done`` units finished so far (fractions of a unit allowed)."""
        self.done = min(done, self.total)
        self.tick()

    def advance(self, units: float = 1) -> None:
        self.set(self.done + units)

    def tick(self) -> None:
        """Time passed: show the bar if the work has run long enough, refresh it if shown."""
        if not self.enabled:
            return
        if self._progress is None:
            if time.monotonic() - self._began < self.delay or self.done >= self.total:
                return
            self._progress = Progress(
                TextColumn("{task.description}"), BarColumn(), _Done(self.unit),
                _Rate(self.unit), TimeElapsedColumn(), TextColumn("ETA"),
                TimeRemainingColumn(), console=self.console, transient=True)
            self._progress.start()
            self._task = self._progress.add_task(self.what, total=self.total)
        if self._task is not None:
            self._progress.update(self._task, completed=self.done)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
