"""The one thread a served world lives on.

A world is single-threaded and its parties' SQLite connections belong to the
thread that opened them, so every call into a served world — each request,
each step of a background clock advance — runs on its :class:`Home` thread,
in the order it was queued, whatever thread the server's event loop runs on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

__all__ = ["Home"]

T = TypeVar("T")


class Home:
    """The one thread a world lives on: every call into the world runs here, in order."""

    def __init__(self, name: str = "lendsim-world") -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._ident: int | None = self._executor.submit(threading.get_ident).result()
        self.closed = False

    def here(self) -> bool:
        """Is the caller running on the home thread?"""
        return threading.get_ident() == self._ident

    def submit(self, action: Callable[..., T], *args: Any) -> Future[T]:
        """Queue ``action(*args)`` behind everything already queued."""
        return self._executor.submit(action, *args)

    def call(self, action: Callable[..., T], *args: Any) -> T:
        """Run ``action(*args)`` on the home thread and wait for it (inline if already there)."""
        if self.here():
            return action(*args)
        return self._executor.submit(action, *args).result()

    async def run(self, action: Callable[..., T], *args: Any) -> T:
        """Run ``action(*args)`` on the home thread without blocking the event loop."""
        import asyncio

        if self.here():
            return action(*args)
        return await asyncio.wrap_future(self._executor.submit(action, *args))

    def close(self) -> None:
        self.closed = True
        self._executor.shutdown(wait=True, cancel_futures=True)
