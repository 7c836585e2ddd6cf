"""The defect matrix: which scenarios catch which planted defect.

The library runs once with no defect (every scenario must pass), then once
per defect. A scenario *catches* a defect when it passes on the correct world
and fails with the defect planted — *by an invariant* when an invariant that
explains the defect (:attr:`simulator.scenarios.defects.Defect.explained_by`)
fails, else only by an expectation (a bureau check, a declared violation that
did not happen). A defect no invariant catches in any scenario is a hole in the
library; an invariant that fails but does not explain the defect is noise worth
a look.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from simulator.scenarios.defects import DEFECTS
from simulator.scenarios.loader import load_scenario
from simulator.scenarios.model import Scenario
from simulator.world.runner import run_scenario

__all__ = ["Catch", "Matrix", "defect_matrix"]


@dataclass(frozen=True, slots=True)
class Catch:
    """One scenario failing under one defect, and the invariants it failed on."""

    scenario: str
    invariants: tuple[str, ...]
    unexplained: tuple[str, ...]
    #: failed bureau expectations, or expected violations that did not happen
    other: tuple[str, ...] = ()

    @property
    def by_invariant(self) -> bool:
        """Did an invariant that explains the defect fail?"""
        return len(self.invariants) > len(self.unexplained)


@dataclass
class Matrix:
    """The outcome of a matrix run."""

    scenarios: list[str]
    baseline_failures: list[str]
    caught: dict[str, list[Catch]] = field(default_factory=dict)

    @property
    def uncaught(self) -> list[str]:
        """Defects no invariant that explains them caught in any scenario."""
        return [name for name, catches in self.caught.items()
                if not any(c.by_invariant for c in catches)]

    @property
    def expectation_only(self) -> list[str]:
        """Defects some scenario caught, but only through an expectation."""
        return [name for name in self.uncaught if self.caught[name]]

    @property
    def complete(self) -> bool:
        return not self.baseline_failures and not self.uncaught


@functools.cache
def _scenario(path: str) -> Scenario:
    """A scenario file, loaded once per worker process (a Scenario is immutable): the matrix
    runs each file once per defect, and reading and validating it costs as much as running
    a small one."""
    return load_scenario(Path(path))


def _run(job: tuple[str, str | None]) -> tuple[str, str | None, bool, tuple[str, ...],
                                               tuple[str, ...]]:
    path, defect = job
    scenario = _scenario(path)
    result = run_scenario(scenario, (defect,) if defect else ())
    other = (*result.missing, *result.unfired, *(
        f"bureau {c.borrower} {c.period}: {c.actual}, expected {c.expected}"
        for c in result.failed_checks))
    return scenario.id, defect, result.passed, tuple(result.unexpected), other


def defect_matrix(files: Sequence[Path], defects: Sequence[str] | None = None, *,
                  jobs: int | None = None) -> Matrix:
    """Run every file with no defect and with each defect (in ``jobs`` processes)."""
    names = list(defects) if defects is not None else list(DEFECTS)
    work = [(str(f), None) for f in files] + [(str(f), d) for d in names for f in files]
    jobs = jobs or os.cpu_count() or 1
    if jobs > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            outcomes = list(pool.map(_run, work, chunksize=4))
    else:
        outcomes = [_run(job) for job in work]
    baseline = {o[0]: o[2] for o in outcomes if o[1] is None}
    matrix = Matrix(scenarios=list(baseline),
                    baseline_failures=[s for s, passed in baseline.items() if not passed],
                    caught={name: [] for name in names})
    for scenario, defect, passed, invariants, other in outcomes:
        if defect is None or passed or not baseline.get(scenario):
            continue
        explained = DEFECTS[defect].explained_by
        matrix.caught[defect].append(Catch(
            scenario, invariants, tuple(i for i in invariants if i not in explained), other))
    return matrix
