"""One explored run: build the world, run it, and say what — if anything — went wrong.

An explored world demands nothing, so every violated invariant is a finding — but for
the harm a world declares a correct party still causes (``expect.violations``: a
docking link down longer than the bank may wait, :mod:`~simulator.explore.generate`),
judged as ``lendsim run`` judges it — and so is an exception escaping the world (a party
that crashed for real). A declared harm that did not happen is no finding; the play
notes it (:attr:`Played.unmet`) so that a shrunk file never declares it. With a system
under test in a role (``--sut``) the world is fitted to it as ``lendsim run --sut``
does (:func:`~simulator.sut.applicability.fit`): one it does not apply to is skipped
with the reason, and a system that could not go on (it stopped answering, died, broke
its contract) is a finding of its own, ``system_failed``. A run chosen
for the determinism self-check is played a second time, in the same process after
other worlds ran there, and two different journal digests are a finding too, shown
by the first entry where the journals part (read back only then: the first play's
journal is kept open until the second is done).
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simulator.core.calendars import jurisdiction as jurisdiction_of
from simulator.core.privacy import redact
from simulator.engine.journal import Journal
from simulator.scenarios.model import Scenario
from simulator.sut.applicability import fit
from simulator.sut.runs import SystemRun, launcher_for
from simulator.world.roles import SystemFailure
from simulator.world.world import World

__all__ = ["EXCEPTION", "SYSTEM_FAILED", "Divergence", "Played", "RunOutcome", "briefs",
           "first_difference", "play", "play_keeping_journal"]

#: the target name of a finding that is an exception escaping the world, not an invariant
EXCEPTION = "exception"
#: the target name of a finding where the system under test could not go on
SYSTEM_FAILED = "system_failed"


@dataclass(frozen=True, slots=True)
class Played:
    """What one play of a world showed: the violated invariants (or the exception)."""

    digest: str
    events: int
    #: invariant → how many violations, only those violated, in catalogue order
    counts: dict[str, int]
    #: invariant → the first violation's message (personal data masked)
    first: dict[str, str]
    #: ``Type at file:line: message`` of an exception that escaped the world
    error: str | None = None
    #: where it escaped (``file:line`` of the innermost frame in lendsim), to match it
    error_site: str | None = None
    #: why the system under test could not go on (masked), with its last stderr lines
    failure: str | None = None
    #: why the world does not apply to the system under test (it did not run)
    skipped: str | None = None
    #: the declared harms (indexes into ``expect.violations``) that did not happen
    unmet: tuple[int, ...] = ()

    @property
    def violated(self) -> tuple[str, ...]:
        """The targets this play violated: invariant names, ``exception`` if one escaped,
        ``system_failed`` if the system under test could not go on."""
        return (*self.counts, *((EXCEPTION,) if self.error else ()),
                *((SYSTEM_FAILED,) if self.failure else ()))


@dataclass(frozen=True, slots=True)
class Divergence:
    """Two plays of one world that wrote different journals: where they first differ."""

    digests: tuple[str, str]
    seq: int
    entries: tuple[str | None, str | None]

    def as_dict(self) -> dict[str, Any]:
        return {"digests": list(self.digests), "seq": self.seq, "entries": list(self.entries)}


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """One run of a campaign: which world, what it violated, how long it took."""

    run: int
    world_seed: int
    jurisdiction: str
    played: Played
    seconds: float
    divergence: Divergence | None = None
    twice: bool = False


def _site(error: BaseException) -> str:
    """``simulator/parties/bank/ledger.py:120`` — the innermost frame inside lendsim."""
    frames = traceback.extract_tb(error.__traceback__)
    ours = [frame for frame in frames if "simulator" in Path(frame.filename).parts]
    frame = (ours or frames)[-1]
    parts = Path(frame.filename).parts
    where = "/".join(parts[parts.index("simulator"):]) if "simulator" in parts else \
        Path(frame.filename).name
    return f"{where}:{frame.lineno}"


def play(scenario: Scenario, defects: tuple[str, ...] = (),
         system: SystemRun | None = None) -> Played:
    """Run ``scenario`` with ``defects`` planted (and ``system`` in its role), checking every
    invariant."""
    played, journal = play_keeping_journal(scenario, defects, system)
    if journal is not None:
        journal.close()
    return played


def _failed(failure: SystemFailure) -> str:
    return redact("\n".join((failure.message, *failure.details)))


def _world(scenario: Scenario, defects: tuple[str, ...],
           system: SystemRun | None) -> World | Played:
    """The world of ``scenario``; with a system under test, fitted to it — or, when it does
    not apply or the system cannot be brought in, what that play showed."""
    if system is None:
        return World(scenario, defects)
    fitted = fit(scenario, system.profile, defects)
    if fitted.skip is not None:
        return Played(digest="", events=0, counts={}, first={}, skipped=fitted.skip)
    try:
        return World(fitted.scenario, defects,
                     systems={system.spec.role: launcher_for(system).factory},
                     limits=system.profile.limits(jurisdiction_of(scenario.jurisdiction)))
    except SystemFailure as failure:
        return Played(digest="", events=0, counts={}, first={}, failure=_failed(failure))


def play_keeping_journal(scenario: Scenario, defects: tuple[str, ...] = (),
                         system: SystemRun | None = None) -> tuple[Played, Journal | None]:
    """:func:`play`, handing back the world's journal still open (the caller closes it), to
    compare it with another play's; None when the world never ran."""
    world = _world(scenario, defects, system)
    if isinstance(world, Played):
        return world, None
    try:
        outcome = world.run()
    except Exception as error:  # a party's own bug: a finding, not the campaign's end
        site = _site(error)
        return Played(digest=world.journal.digest(), events=len(world.journal), counts={},
                      first={}, error=redact(f"{type(error).__name__} at {site}: {error}"),
                      error_site=f"{type(error).__name__}@{site}"), world.journal
    if outcome.skipped is not None:
        return Played(digest=outcome.digest, events=outcome.events, counts={}, first={},
                      skipped=outcome.skipped), world.journal
    if outcome.error is not None:  # explored worlds check no contracts: the system stopped
        failure = "\n".join((outcome.error, *outcome.details))
        return Played(digest=outcome.digest, events=outcome.events, counts={}, first={},
                      failure=redact(failure)), world.journal
    declared = world.scenario.expect.violations
    found = {name: [v for v in violations if not any(
                 entry.invariant == name and entry.covers(v.borrower, v.installment)
                 for entry in declared)]
             for name, violations in outcome.violations.items()}
    found = {name: violations for name, violations in found.items() if violations}
    unmet = tuple(index for index, entry in enumerate(declared) if not any(
        entry.covers(v.borrower, v.installment)
        for v in outcome.violations.get(entry.invariant, ())))
    return Played(
        digest=outcome.digest, events=outcome.events,
        counts={name: len(violations) for name, violations in found.items()},
        first={name: redact(violations[0].message) for name, violations in found.items()},
        unmet=unmet,
    ), world.journal


def briefs(journal: Journal) -> list[str]:
    """Every entry of ``journal``, one brief line each (masked)."""
    return [redact(entry.brief()) for entry in journal.entries()]


def first_difference(first: list[str], second: list[str]) -> tuple[int, str | None, str | None]:
    """The sequence number where two journals first differ, and each one's entry there
    (None where a journal had already ended)."""
    for index, (one, two) in enumerate(zip(first, second, strict=False)):
        if one != two:
            return index + 1, one, two
    index = min(len(first), len(second))
    return (index + 1, first[index] if index < len(first) else None,
            second[index] if index < len(second) else None)
