"""A batch of scenario runs for the command line: one process or several, with progress.

``lendsim run`` hands every scenario to :func:`run_batch`: in this process when
there is one scenario or one job (then the bar moves with each scenario's
virtual time), else in worker processes (results in scenario order, so the
verdicts, digests and reports are the same as in one process). A scenario split into
shards runs its shards in worker processes instead, one scenario after another. For the HTML
report each run is also *explained* — timelines and evidence read while its
journal is open (:mod:`simulator.faces.explain`). Ctrl-C stops the batch; what
finished is kept and the batch says it was interrupted.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import TYPE_CHECKING, TypeAlias

from simulator.faces.progress import Meter
from simulator.scenarios.model import Scenario
from simulator.world.pool import Interrupted, run_jobs

if TYPE_CHECKING:  # the engine is imported where a scenario runs: not before workers start
    from simulator.faces.explain import Explanation
    from simulator.sut.runs import SystemRun
    from simulator.world.runner import ScenarioResult
    from simulator.world.world import World

__all__ = ["Batch", "Done", "Job", "job_cost", "run_batch", "run_job", "start_workers_early"]

#: a finished run and, when asked for, its explanation
Done: TypeAlias = "tuple[ScenarioResult, Explanation | None]"


@dataclass(frozen=True)
class Job:
    """One scenario to run, and what to read of it."""

    scenario: Scenario
    defects: tuple[str, ...] = ()
    strict_contracts: bool = False
    #: read timelines and every piece of evidence (for the HTML report)
    explain: bool = False
    #: borrowers whose timelines to draw whatever happens
    picks: tuple[str, ...] = ()
    utc: bool = False
    #: the most timelines drawn besides the picks (None: as many as a report draws,
    #: :data:`~simulator.faces.explain.TIMELINES_PER_SCENARIO`)
    limit: int | None = None
    #: a system under test in a role (``lendsim run --sut``, ``lendsim check``)
    system: SystemRun | None = None
    #: split the scenario by borrower into this many worlds run in parallel
    #: (:mod:`simulator.world.shards`; ``lendsim run --shards``), on ``shard_workers``
    #: processes (0: one per core)
    shards: int = 1
    shard_workers: int = 0


@dataclass(frozen=True)
class Batch:
    """The runs that finished, in scenario order."""

    done: list[Done]
    total: int
    interrupted: bool
    seconds: float
    workers: int

    @property
    def results(self) -> list[ScenarioResult]:
        return [result for result, _ in self.done]

    @property
    def explanations(self) -> list[Explanation | None]:
        return [explanation for _, explanation in self.done]


def run_job(job: Job, progress: Callable[[float], None] | None = None) -> Done:
    """Run one scenario (a worker process calls this too)."""
    from simulator.faces.explain import TIMELINES_PER_SCENARIO, explain_world
    from simulator.sut.runs import run_with_system
    from simulator.world.runner import run_scenario
    from simulator.world.shards import run_sharded

    explained: list[Explanation] = []
    limit = TIMELINES_PER_SCENARIO if job.limit is None else job.limit

    def inspect(world: World, result: ScenarioResult) -> None:
        explained.append(explain_world(world, result, job.picks,
                                       zone=UTC if job.utc else None, limit=limit))

    if job.shards > 1:
        result = run_sharded(job.scenario, job.shards, job.defects,
                             strict_contracts=job.strict_contracts,
                             workers=job.shard_workers or None)
    elif job.system is not None:
        result = run_with_system(job.scenario, job.system, job.defects,
                                 strict_contracts=job.strict_contracts, progress=progress,
                                 inspect=inspect if job.explain else None)
    else:
        result = run_scenario(job.scenario, job.defects, strict_contracts=job.strict_contracts,
                              progress=progress, inspect=inspect if job.explain else None)
    return result, explained[0] if explained else None


def job_cost(scenario: Scenario) -> float:
    """A rough estimate of a scenario's work, to start the longest first: every virtual day
    has its reconciliation file and day-end batch, every installment its repayment, batch
    rows and reports (about two days' worth), every step a little."""
    days = max(1, (scenario.until - scenario.start).days)
    installments = sum(b.loan.months for b in scenario.borrowers)
    return days + 2 * installments + len(scenario.steps)


def _moving(meter: Meter, index: int) -> Callable[[float], None]:
    """Progress of job ``index`` as a share of its virtual time, onto ``meter``."""
    return lambda share: meter.set(index + share)


def start_workers_early(workers: int) -> None:
    """With more than one worker, start now the server that worker processes are forked
    from (:mod:`simulator.world.pool`), importing what a worker runs (this module: the
    engine, the explanations), while this process goes on loading the scenarios; the
    pool's workers then start at once. Nothing to do without fork servers (the pool spawns
    its workers) or when the server is up already."""
    if workers <= 1 or "forkserver" not in multiprocessing.get_all_start_methods():
        return
    multiprocessing.get_context("forkserver").set_forkserver_preload([__name__])
    multiprocessing.forkserver.ensure_running()


def run_batch(jobs: Sequence[Job], *, workers: int, meter: Meter) -> Batch:
    """Run ``jobs`` in up to ``workers`` processes, moving ``meter`` as they finish."""
    began = time.perf_counter()
    # a sharded scenario brings its own worker processes: scenarios then go one at a time
    workers = 1 if any(job.shards > 1 for job in jobs) else max(1, min(workers, len(jobs)))
    done: dict[int, Done] = {}
    interrupted = False
    try:
        if workers == 1:
            for index, job in enumerate(jobs):
                done[index] = run_job(job, _moving(meter, index))
                meter.set(index + 1)
        else:
            finished = run_jobs(run_job, jobs, workers=workers,
                                on_done=lambda index, _: meter.advance(), tick=meter.tick,
                                cost=lambda job: job_cost(job.scenario))
            done = dict(enumerate(finished))
    except Interrupted as stop:
        done, interrupted = dict(stop.done), True
    except KeyboardInterrupt:
        interrupted = True
    finally:
        meter.close()
    return Batch([done[i] for i in sorted(done)], len(jobs), interrupted,
                 time.perf_counter() - began, workers)
