"""Independent jobs in worker processes: results in job order, and a clean stop on Ctrl-C.

Scenario runs share nothing, so ``lendsim run -j N`` and the defect matrix hand
them to ``N`` worker processes. Results come back in the order of the jobs,
whatever order they finish in, so a report is the same with one process or many
(each world is deterministic on its own). One job, or ``jobs=1``, runs here in
this process.

Workers ignore SIGINT: on Ctrl-C only this process is interrupted; it stops the
workers and raises :class:`Interrupted` carrying the results that had finished,
so the caller can still print what it knows.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from multiprocessing import TimeoutError as _Pending
from multiprocessing.pool import Pool
from typing import Any, Generic, TypeVar

__all__ = ["Interrupted", "default_jobs", "run_jobs"]

Job = TypeVar("Job")
Result = TypeVar("Result")

#: how often the caller's ``tick`` runs while it waits for a worker (seconds)
_TICK = 0.25
#: how long a stop waits for workers still starting (seconds)
_STARTING = 10.0


class Interrupted(Exception, Generic[Result]):
    """Ctrl-C stopped the jobs; ``done`` holds the results that finished, by job index."""

    def __init__(self, done: dict[int, Result], total: int) -> None:
        super().__init__(f"interrupted after {len(done)} of {total} jobs")
        self.done = done
        self.total = total


def default_jobs() -> int:
    """One worker per core."""
    return os.cpu_count() or 1


def _start_worker(started: Any) -> None:
    """A worker ignores SIGINT (its caller handles Ctrl-C), leaves on SIGTERM through its
    ``finally`` blocks (a world releases what it started: a system's process), and says it
    is up."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _leave)
    with started.get_lock():
        started.value += 1


def _leave(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


@contextmanager
def _interrupts_deferred() -> Iterator[list[bool]]:
    """Ctrl-C is noted, not raised, while the workers start (raised after, by the caller)."""
    pressed: list[bool] = []
    try:
        previous = signal.signal(signal.SIGINT, lambda *_: pressed.append(True))
    except ValueError:  # not the main thread: signals are not ours to handle
        yield pressed
        return
    try:
        yield pressed
    finally:
        signal.signal(signal.SIGINT, previous)


def _wait_started(started: Any, workers: int) -> None:
    deadline = time.monotonic() + _STARTING
    while started.value < workers and time.monotonic() < deadline:
        time.sleep(0.02)


def _stop(pool: Pool, started: Any, workers: int) -> None:
    """Stop the workers — once every one has started: a worker killed while it is still
    unpacking the pool's locks would print a traceback of its own."""
    _wait_started(started, workers)
    pool.terminate()
    pool.join()


class _Indexed(Generic[Job, Result]):
    """``work`` as a picklable callable that also returns its job's index."""

    def __init__(self, work: Callable[[Job], Result]) -> None:
        self.work = work

    def __call__(self, numbered: tuple[int, Job]) -> tuple[int, Result]:
        index, job = numbered
        return index, self.work(job)


def _context() -> multiprocessing.context.BaseContext:
    """Fork from a server that imported the simulator once (never fork this process, which
    may run a progress thread); spawn where there is no fork server."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["simulator.world.runner"])
        return context
    return multiprocessing.get_context("spawn")


def run_jobs(work: Callable[[Job], Result], jobs: Sequence[Job], *, workers: int | None = None,
             on_done: Callable[[int, Result], None] | None = None,
             tick: Callable[[], None] | None = None,
             cost: Callable[[Job], float] | None = None) -> list[Result]:
    """``[work(job) for job in jobs]``, in up to ``workers`` processes (default: one per core).

    ``work`` must be a module-level function (it is pickled by name); ``on_done`` is
    called here with each job's index and result as it finishes, ``tick`` every quarter
    second while the workers are busy. With ``cost`` (an estimate of each job's work) the
    workers take the costliest jobs first, so a long job does not start last; the results
    are in job order all the same. Raises :class:`Interrupted` on Ctrl-C.
    """
    workers = min(workers or default_jobs(), len(jobs))
    done: dict[int, Result] = {}
    if workers <= 1:
        try:
            for index, job in enumerate(jobs):
                done[index] = work(job)
                if on_done is not None:
                    on_done(index, done[index])
        except KeyboardInterrupt:
            raise Interrupted(done, len(jobs)) from None
        return [done[index] for index in range(len(jobs))]
    context = _context()
    started = context.Value("i", 0)
    with _interrupts_deferred() as pressed:
        pool = context.Pool(processes=workers, initializer=_start_worker, initargs=(started,))
        _wait_started(started, workers)
    try:
        if pressed:
            raise KeyboardInterrupt
        order = list(range(len(jobs)))
        if cost is not None:
            estimates = [cost(job) for job in jobs]
            order.sort(key=lambda index: -estimates[index])  # stable: ties in job order
        finished = pool.imap_unordered(_Indexed(work), [(index, jobs[index]) for index in order],
                                       chunksize=1)
        while len(done) < len(jobs):
            try:
                index, result = finished.next(timeout=_TICK)
            except _Pending:
                if tick is not None:
                    tick()
                continue
            done[index] = result
            if on_done is not None:
                on_done(index, result)
    except KeyboardInterrupt:
        _stop(pool, started, workers)
        raise Interrupted(done, len(jobs)) from None
    except BaseException:
        _stop(pool, started, workers)
        raise
    pool.close()
    pool.join()
    return [done[index] for index in range(len(jobs))]
