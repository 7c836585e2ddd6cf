"""The mailbox: a world runs on one thread, and that thread serves calls back into it while
it waits.

A world is single-threaded, and its parties' SQLite connections belong to the
thread that opened them. When the world calls out to a system under test and
waits for the answer, the system may call back into the world — a peer's
operation, even one that calls the system again — from whatever thread it
likes (an app's worker, a web server's event loop). Those calls must run now,
at the same virtual instant, or the two would wait for each other for ever.

So a call into the world from another thread is posted to the world's
:class:`Mailbox` and waits; the world's thread runs posted calls whenever it
waits itself (:meth:`Mailbox.wait`) — however deep the calls nest, each runs on
the world's thread, in the order it was posted. A served world's thread does
nothing else (:meth:`Mailbox.serve`).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import CancelledError, Future
from typing import Any, TypeVar

__all__ = ["Closed", "Mailbox", "WaitedTooLong"]

T = TypeVar("T")


class Closed(Exception):
    """The mailbox is closed: its world is over, nobody will run the call."""


class WaitedTooLong(Exception):
    """What the world's thread waited for did not come within the time allowed."""


class Mailbox:
    """Calls into a world from any thread, run on the world's own thread.

    The thread that creates the mailbox owns it (:meth:`own` hands it to another).
    """

    def __init__(self) -> None:
        self._owner = threading.get_ident()
        self._posted: deque[tuple[Callable[[], Any], Future[Any]]] = deque()
        self._arrived = threading.Condition(threading.Lock())
        self.closed = False
        #: how many waits of the world's thread are under way (nested calls nest them)
        self.waiting = 0

    def own(self) -> None:
        """The calling thread owns the mailbox from now on."""
        self._owner = threading.get_ident()

    def here(self) -> bool:
        """Is the caller the world's thread?"""
        return threading.get_ident() == self._owner

    # -- posting (any thread) ------------------------------------------------------------
    def submit(self, action: Callable[..., T], *args: Any) -> Future[T]:
        """Post ``action(*args)`` behind everything already posted."""
        future: Future[T] = Future()
        with self._arrived:
            if self.closed:
                future.set_exception(Closed("the world is over"))
                return future
            self._posted.append((lambda: action(*args), future))
            self._arrived.notify_all()
        return future

    def call(self, action: Callable[..., T], *args: Any) -> T:
        """Run ``action(*args)`` on the world's thread and wait for it (inline if already
        there)."""
        if self.here():
            return action(*args)
        return self.submit(action, *args).result()

    async def run(self, action: Callable[..., T], *args: Any) -> T:
        """Run ``action(*args)`` on the world's thread without blocking an event loop."""
        import asyncio

        if self.here():
            return action(*args)
        return await asyncio.wrap_future(self.submit(action, *args))

    # -- serving (the world's thread) ----------------------------------------------------
    def _run_posted(self) -> bool:
        with self._arrived:
            if not self._posted:
                return False
            action, future = self._posted.popleft()
        if future.set_running_or_notify_cancel():
            try:
                future.set_result(action())
            except BaseException as error:  # handed to whoever posted it
                future.set_exception(error)
        return True

    def wait(self, future: Future[T], timeout: float | None) -> T:
        """Wait for ``future`` on the world's thread, running every call posted meanwhile;
        :class:`WaitedTooLong` after ``timeout`` seconds (``None``: for ever)."""
        return self.call_out(lambda: future, timeout)

    def call_out(self, start: Callable[[], Future[T]], timeout: float | None) -> T:
        """Start a call (``start`` returns its future) and wait for it as :meth:`wait` does;
        the world counts as waiting from before the call starts, so whatever the call makes
        come back into the world is served, however soon it comes."""
        self.waiting += 1
        try:
            future = start()
            deadline = None if timeout is None else time.monotonic() + timeout
            future.add_done_callback(self._wake)
            return self._wait(future, deadline, timeout)
        finally:
            self.waiting -= 1

    def _wait(self, future: Future[T], deadline: float | None, timeout: float | None) -> T:
        while True:
            while self._run_posted():
                pass
            if future.done():
                try:
                    return future.result()
                except CancelledError:
                    raise WaitedTooLong("the call was cancelled") from None
            with self._arrived:
                if self._posted or future.done():
                    continue
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise WaitedTooLong(f"no answer within {timeout:g} s")
                self._arrived.wait(left)

    def _wake(self, _: Future[Any]) -> None:
        with self._arrived:
            self._arrived.notify_all()

    def serve(self) -> None:
        """Run posted calls until :meth:`close` (a served world's thread does only this)."""
        self.own()
        while True:
            while self._run_posted():
                pass
            with self._arrived:
                if self.closed and not self._posted:
                    return
                if not self._posted:
                    self._arrived.wait()

    def close(self) -> None:
        """No more calls: every call still posted fails with :class:`Closed`."""
        with self._arrived:
            self.closed = True
            left = list(self._posted)
            self._posted.clear()
            self._arrived.notify_all()
        for _, future in left:
            if future.set_running_or_notify_cancel():
                future.set_exception(Closed("the world is over"))
