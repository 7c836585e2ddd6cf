"""A campaign: many random worlds from one seed, their findings, each shrunk (README, "Explore").

Run ``n`` of a campaign with seed ``s`` is the world :func:`~simulator.explore.generate.
generate_world` makes of ``(s, n)``. Runs go out in fixed chunks of :data:`CHUNK`
to a :class:`~simulator.explore.executors.Backend`; results are put back in run
order, so the same seed and number of runs give the same findings whatever the
number of workers or where they run. With a time limit instead, chunks go out until
the time is up and those already out are waited for: the runs done are always the
first N.

A run violating an invariant (or letting an exception escape) is a *finding*. The first
run to violate each invariant — and the first at each place an exception escaped — is
shrunk (:mod:`~simulator.explore.shrink`) and written under ``out`` as a scenario
file. One run in :data:`TWICE_EVERY`, chosen by its seed, is played twice; different
digests are a finding too (:mod:`~simulator.explore.runs`). With a system under test
(``system``) every run and every shrinking candidate puts it in its role; the runs it
does not apply to are counted as skipped, and its failures are findings
(``system_failed``).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from simulator.core.errors import LendsimError
from simulator.core.rng import derive_seed
from simulator.engine.journal import Journal
from simulator.explore.executors import Backend, Handle
from simulator.explore.generate import generate_world
from simulator.explore.runs import (
    EXCEPTION,
    SYSTEM_FAILED,
    Divergence,
    RunOutcome,
    briefs,
    first_difference,
    play_keeping_journal,
)
from simulator.explore.shrink import Shrunk, shrink
from simulator.explore.writer import scenario_yaml
from simulator.scenarios.model import INVARIANTS
from simulator.sut.runs import SystemRun

__all__ = ["CHUNK", "TARGETS", "TWICE_EVERY", "Campaign", "Finding", "Progress", "ShrunkFinding",
           "explore", "run_chunk", "shrink_run"]

#: runs per unit of work sent to a worker
CHUNK = 8
#: one run in this many (chosen by its seed) is played twice for the determinism check
TWICE_EVERY = 10


def _twice(seed: int, run: int) -> bool:
    return derive_seed(seed, f"explore:twice:{run}") % TWICE_EVERY == 0


#: every target, in the order findings are reported
TARGETS = (*INVARIANTS, EXCEPTION, SYSTEM_FAILED)


def run_chunk(seed: int, first: int, stop: int, defects: tuple[str, ...],
              system: SystemRun | None = None) -> list[RunOutcome]:
    """Runs ``first`` … ``stop - 1`` of the campaign ``seed``; those chosen for the
    determinism check are played again after the others, in the same process."""
    outcomes: list[RunOutcome] = []
    kept: list[tuple[int, Journal]] = []
    for run in range(first, stop):
        scenario = generate_world(seed, run)
        twice = _twice(seed, run)
        began = time.perf_counter()
        played, journal = play_keeping_journal(scenario, defects, system)
        outcomes.append(RunOutcome(run, scenario.seed, scenario.jurisdiction, played,
                                   time.perf_counter() - began, twice=twice))
        if journal is None:
            continue
        if twice and played.error is None:
            kept.append((len(outcomes) - 1, journal))
        else:
            journal.close()
    for index, journal in kept:
        outcome = outcomes[index]
        second, again = play_keeping_journal(generate_world(seed, outcome.run), defects, system)
        if second.digest != outcome.played.digest:
            seq, one, two = first_difference(briefs(journal),
                                             briefs(again) if again is not None else [])
            outcomes[index] = dataclasses.replace(outcome, divergence=Divergence(
                (outcome.played.digest, second.digest), seq, (one, two)))
        journal.close()
        if again is not None:
            again.close()
    return outcomes


def _identity(seed: int, run: int, target: str) -> str:
    return f"explore-{seed}-{run}-{target.replace('_', '-')}"


def shrink_run(seed: int, run: int, target: str, defects: tuple[str, ...], budget: int,
               error_site: str | None, system: SystemRun | None = None) -> Shrunk | None:
    """Shrink run ``run``'s world to a minimal one that still violates ``target``."""
    scenario = generate_world(seed, run)
    planted = f" with {', '.join(defects)} planted" if defects else ""
    under_test = f" with --sut {system.spec.text}" if system is not None else ""
    what = f"raises {error_site}" if target == EXCEPTION else \
        "stops the system under test" if target == SYSTEM_FAILED else f"violates {target}"
    summary = (f"Shrunk by lendsim explore from seed {seed}, run {run} (world seed "
               f"{scenario.seed}){planted}{under_test}: it {what}.")
    # the defects go into the file, so that `lendsim run` on it reproduces the violation
    scenario = dataclasses.replace(scenario, defects=tuple(sorted(set(scenario.defects)
                                                                  | set(defects))))
    return shrink(scenario, target, (), budget=budget, error_site=error_site,
                  identity=_identity(seed, run, target), summary=summary, system=system)


@dataclass(frozen=True, slots=True)
class Finding:
    """A run that violated invariants, let an exception escape, or was not deterministic."""

    run: int
    world_seed: int
    jurisdiction: str
    counts: dict[str, int]
    first: dict[str, str]
    error: str | None = None
    error_site: str | None = None
    divergence: Divergence | None = None
    failure: str | None = None

    @property
    def targets(self) -> tuple[str, ...]:
        return (*self.counts, *((EXCEPTION,) if self.error else ()),
                *((SYSTEM_FAILED,) if self.failure else ()))

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"run": self.run, "world_seed": self.world_seed,
                                "jurisdiction": self.jurisdiction,
                                "invariants": list(self.counts), "violations": self.counts,
                                "first": self.first}
        if self.error:
            data["exception"] = self.error
        if self.failure:
            data["system_failed"] = self.failure
        if self.divergence is not None:
            data["nondeterministic"] = self.divergence.as_dict()
        return data


@dataclass(frozen=True, slots=True)
class ShrunkFinding:
    """The first run violating ``target``, shrunk and written (``file`` None: not written)."""

    target: str
    run: int
    file: Path | None
    shrunk: Shrunk | None

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"target": self.target, "run": self.run,
                                "file": str(self.file) if self.file else None}
        if self.shrunk is not None:
            data.update(lines=self.shrunk.lines, original_lines=self.shrunk.original_lines,
                        evaluations=self.shrunk.evaluations,
                        seconds=round(self.shrunk.seconds, 3),
                        exhausted=self.shrunk.exhausted,
                        first=self.shrunk.played.first.get(
                            self.target, self.shrunk.played.error or self.shrunk.played.failure))
        return data


@dataclass
class Campaign:
    """The outcome of a campaign."""

    seed: int
    runs: int
    seconds: float
    backend: str
    workers: int
    defects: tuple[str, ...]
    findings: list[Finding] = field(default_factory=list)
    shrunk: list[ShrunkFinding] = field(default_factory=list)
    twice: int = 0
    nondeterministic: list[Finding] = field(default_factory=list)
    #: time spent inside the runs (all workers together), and the journal entries they wrote
    run_seconds: float = 0.0
    events: int = 0
    #: the system under test (``ROLE=TARGET``), and how many worlds did not apply to it
    under_test: str | None = None
    skipped: int = 0
    #: the first reasons worlds were skipped, with how many runs each
    skip_reasons: dict[str, int] = field(default_factory=dict)

    @property
    def runs_per_second(self) -> float:
        return self.runs / self.seconds if self.seconds > 0 else 0.0

    @property
    def targets(self) -> list[str]:
        """Distinct invariants violated (then ``exception``), in catalogue order."""
        found = {target for finding in self.findings for target in finding.targets}
        return [name for name in TARGETS if name in found]

    @property
    def clean(self) -> bool:
        return not self.findings and not self.nondeterministic

    def first_run(self, target: str) -> int | None:
        return next((f.run for f in self.findings if target in f.targets), None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed, "runs": self.runs, "seconds": round(self.seconds, 3),
            "runs_per_second": round(self.runs_per_second, 2), "backend": self.backend,
            "workers": self.workers, "defects": list(self.defects),
            "under_test": self.under_test, "skipped": self.skipped,
            "skip_reasons": self.skip_reasons,
            "violating_runs": len(self.findings), "invariants": self.targets,
            "first_run": {target: self.first_run(target) for target in self.targets},
            "checked_twice": self.twice,
            "nondeterministic": [f.as_dict() for f in self.nondeterministic],
            "shrunk": [s.as_dict() for s in self.shrunk],
            "findings": [f.as_dict() for f in self.findings],
        }


@dataclass(frozen=True, slots=True)
class Progress:
    """How far a campaign got: runs done, time, violating runs, distinct invariants."""

    runs: int
    seconds: float
    violating: int
    targets: int

    @property
    def runs_per_second(self) -> float:
        return self.runs / self.seconds if self.seconds > 0 else 0.0


def _gather(backend: Backend, seed: int, defects: tuple[str, ...], runs: int | None,
            limit: timedelta | None, report: Callable[[Progress], None] | None,
            system: SystemRun | None) -> tuple[list[RunOutcome], float]:
    began = time.perf_counter()
    deadline = began + limit.total_seconds() if limit is not None else None
    total = runs if runs is not None else None
    outcomes: list[RunOutcome] = []
    violating = 0
    targets: set[str] = set()
    next_first = 0
    in_flight: list[Handle] = []

    def more() -> bool:
        if total is not None:
            return next_first < total
        return deadline is not None and time.perf_counter() < deadline

    while True:
        while more() and len(in_flight) < 2 * backend.workers:
            stop = next_first + CHUNK if total is None else min(next_first + CHUNK, total)
            in_flight.append(backend.submit(run_chunk, seed, next_first, stop, defects,
                                            system))
            next_first = stop
        if not in_flight:
            break
        done = next(backend.completed(in_flight))
        in_flight = [handle for handle in in_flight if handle is not done]
        chunk: list[RunOutcome] = done.result()
        outcomes.extend(chunk)
        for outcome in chunk:
            if outcome.played.violated:
                violating += 1
                targets.update(outcome.played.violated)
        if report is not None:
            report(Progress(len(outcomes), time.perf_counter() - began, violating, len(targets)))
    outcomes.sort(key=lambda outcome: outcome.run)
    return outcomes, time.perf_counter() - began


def explore(backend: Backend, *, seed: int, runs: int | None = None,
            limit: timedelta | None = None, defects: tuple[str, ...] = (),
            out: Path | None = None, shrink_budget: int = 400,
            report: Callable[[Progress], None] | None = None,
            system: SystemRun | None = None) -> Campaign:
    """Run a campaign of ``runs`` worlds (or as many as fit in ``limit``) on ``backend``
    (with ``system`` in its role), shrink the first finding of each invariant in at most
    ``shrink_budget`` runs each (0: none is shrunk), and write the shrunk scenarios into
    ``out`` (none written without it)."""
    outcomes, seconds = _gather(backend, seed, defects, runs, limit, report, system)
    campaign = Campaign(seed=seed, runs=len(outcomes), seconds=seconds, backend=backend.name,
                        workers=backend.workers, defects=defects,
                        twice=sum(1 for o in outcomes if o.twice and o.played.skipped is None),
                        run_seconds=sum(o.seconds for o in outcomes),
                        events=sum(o.played.events for o in outcomes),
                        under_test=system.spec.text if system is not None else None)
    for outcome in outcomes:
        played = outcome.played
        if played.skipped is not None:
            campaign.skipped += 1
            reasons = campaign.skip_reasons
            if played.skipped in reasons or len(reasons) < 5:
                reasons[played.skipped] = reasons.get(played.skipped, 0) + 1
        finding = Finding(outcome.run, outcome.world_seed, outcome.jurisdiction,
                          played.counts, played.first, played.error, played.error_site,
                          outcome.divergence, played.failure)
        if played.violated:
            campaign.findings.append(finding)
        if outcome.divergence is not None:
            campaign.nondeterministic.append(finding)
    # the first run of each invariant, and of each place an exception escaped
    firsts: dict[tuple[str, str | None], Finding] = {}
    for finding in campaign.findings:
        for target in finding.targets:
            site = finding.error_site if target == EXCEPTION else None
            firsts.setdefault((target, site), finding)
    order = {name: index for index, name in enumerate(TARGETS)}
    wanted = sorted(firsts.items(), key=lambda item: (order[item[0][0]], item[1].run)) \
        if shrink_budget > 0 else []
    handles = [backend.submit(shrink_run, seed, finding.run, target, defects, shrink_budget,
                              site, system) for (target, site), finding in wanted]
    for ((target, _site), finding), handle in zip(wanted, handles, strict=True):
        shrunk: Shrunk | None = handle.result()
        file = None
        if shrunk is not None and out is not None:
            file = _write(out / f"{shrunk.scenario.id}.yaml", shrunk.text)
        campaign.shrunk.append(ShrunkFinding(target, finding.run, file, shrunk))
    for finding in campaign.nondeterministic:
        if out is not None:
            _write(out / f"{_identity(seed, finding.run, 'nondeterministic')}.yaml",
                   scenario_yaml(generate_world(seed, finding.run)))
    return campaign


def _write(path: Path, text: str) -> Path:
    """Write a scenario file (making its folder); an error names it (:class:`LendsimError`)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as error:
        raise LendsimError(f"--out: cannot write {path}: {error.strerror or error}") from None
    return path

