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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulator.scenarios.defects import DEFECTS
from simulator.scenarios.loader import load_scenario
from simulator.scenarios.model import Scenario
from simulator.world.pool import run_jobs
from simulator.world.runner import run_scenario

__all__ = ["Catch", "Matrix", "Outcome", "defect_matrix", "matrix_jobs"]

#: one run of the matrix: (scenario id, defect or None, passed, unexpected invariants, other)
Outcome = tuple[str, str | None, bool, tuple[str, ...], tuple[str, ...]]


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

    def as_dict(self) -> dict[str, Any]:
        """The JSON report of ``lendsim defects --matrix --json`` (README, "Command line")."""
        return {
            "scenarios": list(self.scenarios),
            "baseline_failures": list(self.baseline_failures),
            "defects": [
                {"defect": name, "mistake": DEFECTS[name].mistake, "caught": bool(catches),
                 "caught_by": [{"scenario": c.scenario, "invariants": list(c.invariants),
                                "unexplained": list(c.unexplained), "other": list(c.other)}
                               for c in catches]}
                for name, catches in self.caught.items()
            ],
            "uncaught": self.uncaught,
            "complete": self.complete,
        }


@functools.cache
def _scenario(path: str) -> Scenario:
    """A scenario file, loaded once per worker process (a Scenario is immutable): the matrix
    runs each file once per defect, and reading and validating it costs as much as running
    a small one."""
    return load_scenario(Path(path))


def _run(job: tuple[str, str | None]) -> Outcome:
    path, defect = job
    scenario = _scenario(path)
    result = run_scenario(scenario, (defect,) if defect else ())
    other = (*result.missing, *result.unfired, *(
        f"bureau {c.borrower} {c.period}: {c.actual}, expected {c.expected}"
        for c in result.failed_checks))
    return scenario.id, defect, result.passed, tuple(result.unexpected), other


def matrix_jobs(files: Sequence[Path], defects: Sequence[str] | None = None
                ) -> list[tuple[str, str | None]]:
    """The runs of a matrix: every file with no defect, then every file per defect."""
    names = list(defects) if defects is not None else list(DEFECTS)
    return [(str(f), None) for f in files] + [(str(f), d) for d in names for f in files]


def defect_matrix(files: Sequence[Path], defects: Sequence[str] | None = None, *,
                  jobs: int | None = None,
                  on_done: Callable[[int, Outcome], None] | None = None,
                  tick: Callable[[], None] | None = None) -> Matrix:
    """Run every file with no defect and with each defect (in ``jobs`` processes, default
    one per core); ``on_done`` and ``tick`` follow the runs as in
    :func:`~simulator.world.pool.run_jobs`, which raises ``Interrupted`` on Ctrl-C."""
    names = list(defects) if defects is not None else list(DEFECTS)
    outcomes = run_jobs(_run, matrix_jobs(files, names), workers=jobs, on_done=on_done,
                        tick=tick)
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
