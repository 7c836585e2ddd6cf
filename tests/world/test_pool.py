"""Jobs in worker processes: results in job order, the same as in one process, and Ctrl-C."""

from __future__ import annotations

import os
import time

import pytest

from simulator.world.pool import Interrupted, run_jobs


def square_slowly(number: int) -> tuple[int, int]:
    """``number²`` and the worker's pid; later jobs finish first (they sleep less)."""
    time.sleep(0.05 * (5 - number % 5))
    return number * number, os.getpid()


def interrupt_at_three(number: int) -> int:
    """Raises KeyboardInterrupt on job 3, as a Ctrl-C in the middle of a run would."""
    if number == 3:
        raise KeyboardInterrupt
    return number


def test_results_come_back_in_job_order_from_several_processes() -> None:
    """Jobs finishing out of order still give results in job order, from other processes."""
    finished: list[int] = []
    results = run_jobs(square_slowly, list(range(10)), workers=2,
                       on_done=lambda index, _: finished.append(index))
    assert [value for value, _ in results] == [n * n for n in range(10)]
    assert {pid for _, pid in results} - {os.getpid()}
    assert sorted(finished) == list(range(10))


def started_at(number: int) -> tuple[int, float]:
    """``number`` and the (system-wide monotonic) instant its job started; takes 0.2 s."""
    began = time.monotonic()
    time.sleep(0.2)
    return number, began


def test_the_costliest_jobs_start_first_and_results_stay_in_job_order() -> None:
    """With a cost per job, two workers start the two costliest jobs before the others; the
    results are in job order all the same."""
    results = run_jobs(started_at, [0, 1, 2, 3], workers=2, cost=float)
    assert [number for number, _ in results] == [0, 1, 2, 3]
    began = dict(results)
    assert max(began[3], began[2]) < min(began[1], began[0])


def test_one_worker_runs_here() -> None:
    """With one worker every job runs in this process."""
    results = run_jobs(square_slowly, [1, 2, 3], workers=1)
    assert results == [(1, os.getpid()), (4, os.getpid()), (9, os.getpid())]


def test_an_interrupt_keeps_what_finished() -> None:
    """Ctrl-C (here: job 3 interrupted) raises Interrupted with the results that finished."""
    with pytest.raises(Interrupted) as stopped:
        run_jobs(interrupt_at_three, [0, 1, 2, 3, 4], workers=1)
    assert stopped.value.done == {0: 0, 1: 1, 2: 2}
    assert stopped.value.total == 5
