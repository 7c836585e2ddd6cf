"""Where a campaign's work runs: in this process, a local process pool, or a Dask cluster.

Each is a :class:`Backend`: ``submit(function, *args)`` gives a future, ``completed``
yields futures as they finish. The work itself is plain picklable functions of a seed
and run numbers (:mod:`~simulator.explore.campaign`), so it gives the same answers
wherever it runs. Dask is optional (``pip install 'lendsim[explore]'``); its workers
need lendsim installed, at the same version.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from typing import Any, Protocol

from simulator.core.errors import LendsimError

__all__ = ["Backend", "DaskBackend", "InlineBackend", "PoolBackend", "backend_for"]


class Handle(Protocol):
    """A future of either kind: ``concurrent.futures`` or ``distributed``."""

    def result(self) -> Any: ...


class Backend(Protocol):
    """Runs functions somewhere, ``workers`` at a time."""

    workers: int
    name: str

    def submit(self, function: Callable[..., Any], *args: Any) -> Handle: ...

    def completed(self, handles: Iterable[Handle]) -> Iterator[Handle]: ...

    def close(self) -> None: ...


class InlineBackend:
    """Everything in this process, at once when submitted (one worker)."""

    workers = 1
    name = "this process"

    def submit(self, function: Callable[..., Any], *args: Any) -> Handle:
        future: Future[Any] = Future()
        try:
            future.set_result(function(*args))
        except BaseException as error:  # the caller sees it from result(), as from a pool
            future.set_exception(error)
        return future

    def completed(self, handles: Iterable[Handle]) -> Iterator[Handle]:
        return iter(list(handles))

    def close(self) -> None:
        pass


class PoolBackend:
    """A local process pool of ``workers`` processes."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.name = f"{workers} local processes"
        self._pool = ProcessPoolExecutor(max_workers=workers)

    def submit(self, function: Callable[..., Any], *args: Any) -> Handle:
        return self._pool.submit(function, *args)

    def completed(self, handles: Iterable[Handle]) -> Iterator[Handle]:
        futures: list[Future[Any]] = list(handles)  # type: ignore[arg-type]
        return as_completed(futures)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class DaskBackend:
    """A Dask distributed cluster, reached at its scheduler's address."""

    def __init__(self, address: str, *, timeout: float = 10) -> None:
        try:
            from distributed import Client
        except ModuleNotFoundError:
            raise LendsimError(
                "--dask needs the Dask distributed package: pip install 'lendsim[explore]'"
            ) from None
        try:
            self._client = Client(address, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as error:
            raise LendsimError(f"--dask {address}: cannot reach a Dask scheduler there "
                               f"({type(error).__name__}: {error})") from None
        threads = self._client.nthreads()
        self.workers = max(1, sum(threads.values()))
        self.name = f"Dask at {address} ({len(threads)} workers, {self.workers} threads)"

    def submit(self, function: Callable[..., Any], *args: Any) -> Handle:
        handle: Handle = self._client.submit(function, *args, pure=False)
        return handle

    def completed(self, handles: Iterable[Handle]) -> Iterator[Handle]:
        from distributed import as_completed as dask_completed

        return iter(dask_completed(list(handles), loop=self._client.loop))

    def close(self) -> None:
        self._client.close()


def backend_for(jobs: int | None, dask: str | None) -> Backend:
    """The backend ``--dask ADDRESS`` or ``-j N`` asks for (``jobs`` 0/None: one per core;
    1: this process)."""
    if dask is not None:
        return DaskBackend(dask)
    workers = jobs or os.cpu_count() or 1
    return InlineBackend() if workers == 1 else PoolBackend(workers)
