"""The mailbox: calls back into a world run on its thread while it waits, never deadlock."""

from __future__ import annotations

import threading
from concurrent.futures import Future

import pytest

from simulator.core.mailbox import Closed, Mailbox, WaitedTooLong


def test_a_call_from_another_thread_runs_on_the_owner_while_it_waits() -> None:
    """What another thread posts runs on the waiting owner's thread, and its answer returns."""
    mailbox = Mailbox()
    owner = threading.get_ident()
    ran_on: list[int] = []

    def work() -> str:
        ran_on.append(threading.get_ident())
        return "done"

    def caller(answer: Future[str]) -> None:
        answer.set_result(mailbox.call(work))

    answer: Future[str] = Future()
    threading.Thread(target=caller, args=(answer,)).start()
    assert mailbox.wait(answer, 5) == "done"
    assert ran_on == [owner]


def test_nested_calls_back_into_the_caller_never_deadlock() -> None:
    """A call waited on calls back in, which waits on another that calls back in again."""
    mailbox = Mailbox()
    depth: list[int] = []

    def outside(level: int) -> Future[int]:
        """Another thread (a system under test) that calls back into the world."""
        answer: Future[int] = Future()

        def run() -> None:
            answer.set_result(mailbox.call(inside, level))
        threading.Thread(target=run).start()
        return answer

    def inside(level: int) -> int:
        depth.append(level)
        if level == 3:
            return level
        return mailbox.call_out(lambda: outside(level + 1), 5)

    assert mailbox.call_out(lambda: outside(1), 5) == 3
    assert depth == [1, 2, 3]


def test_the_world_counts_as_waiting_before_the_call_starts() -> None:
    """A call-back that comes before ``call_out`` reaches its wait still finds it waiting."""
    mailbox = Mailbox()
    seen: list[int] = []

    def start() -> Future[None]:
        seen.append(mailbox.waiting)  # as the system starts its work
        done: Future[None] = Future()
        done.set_result(None)
        return done

    mailbox.call_out(start, 5)
    assert seen == [1]
    assert mailbox.waiting == 0


def test_a_wait_gives_up_after_its_timeout() -> None:
    """An answer that never comes raises WaitedTooLong, not a hang."""
    mailbox = Mailbox()
    with pytest.raises(WaitedTooLong, match=r"within 0\.05 s"):
        mailbox.wait(Future(), 0.05)
    assert mailbox.waiting == 0


def test_a_closed_mailbox_fails_calls_instead_of_leaving_them_waiting() -> None:
    """Calls posted to a world that is over fail with Closed, queued or new."""
    mailbox = Mailbox()
    queued = mailbox.submit(lambda: 1)
    mailbox.close()
    with pytest.raises(Closed):
        queued.result(1)
    with pytest.raises(Closed):
        mailbox.submit(lambda: 2).result(1)


def test_an_error_in_a_posted_call_reaches_whoever_posted_it() -> None:
    """The exception of a posted call is raised in the posting thread, not the world's."""
    mailbox = Mailbox()
    failed: Future[BaseException | None] = Future()

    def caller() -> None:
        try:
            mailbox.call(lambda: 1 / 0)
            failed.set_result(None)
        except ZeroDivisionError as error:
            failed.set_result(error)

    threading.Thread(target=caller).start()
    assert isinstance(mailbox.wait(failed, 5), ZeroDivisionError)
