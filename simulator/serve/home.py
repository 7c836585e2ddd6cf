"""The one thread a served world lives on.

A world is single-threaded and its parties' SQLite connections belong to the
thread that opened them, so every call into a served world — each request,
each step of a background clock advance — runs on its :class:`Home` thread,
in the order it was queued, whatever thread the server's event loop runs on.

The home thread serves a :class:`~simulator.core.mailbox.Mailbox`, so it is
re-entrant: while a call on it waits for a system under test, requests the
system makes back into the world (even into the caller) run on it meanwhile.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from simulator.core.mailbox import Mailbox

__all__ = ["Home"]

T = TypeVar("T")


class Home:
    """The one thread a world lives on: every call into the world runs here, in order."""

    def __init__(self, name: str = "lendsim-world") -> None:
        self.mailbox = Mailbox()
        started = threading.Event()

        def serve() -> None:
            self.mailbox.own()
            started.set()
            self.mailbox.serve()

        self._thread = threading.Thread(target=serve, name=name, daemon=True)
        self._thread.start()
        started.wait()
        self.closed = False

    def here(self) -> bool:
        """Is the caller running on the home thread?"""
        return self.mailbox.here()

    def submit(self, action: Callable[..., T], *args: Any) -> Future[T]:
        """Queue ``action(*args)`` behind everything already queued."""
        return self.mailbox.submit(action, *args)

    def call(self, action: Callable[..., T], *args: Any) -> T:
        """Run ``action(*args)`` on the home thread and wait for it (inline if already there)."""
        return self.mailbox.call(action, *args)

    async def run(self, action: Callable[..., T], *args: Any) -> T:
        """Run ``action(*args)`` on the home thread without blocking the event loop."""
        return await self.mailbox.run(action, *args)

    def close(self) -> None:
        """Stop the thread once the call it runs (if any) is over; calls still queued fail
        with :class:`~simulator.core.mailbox.Closed`."""
        self.closed = True
        self.mailbox.close()
        if not self.here():
            self._thread.join()
