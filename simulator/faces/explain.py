"""Explaining a run: the timelines a report draws, and every piece of evidence in words.

Read while the finished world's journal is still open (the ``inspect`` hook of
:func:`~simulator.world.runner.run_scenario`), into plain data that crosses a
process boundary, so ``lendsim run -j N --html`` draws the same timelines as a
run in one process.

Whose timelines: every borrower the user picked (``--borrower``), then the
borrowers named in violations — the ones the scenario's steps name first, then
in the order of the violations — up to :data:`TIMELINES_PER_SCENARIO` (up to
:data:`TIMELINES_WHEN_EXPECTED` on a passing run, whose violations are all
expected); a run with no violation and no pick shows the borrower its steps name
first, else its first borrower.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import tzinfo

from simulator.core.privacy import mask_id_number
from simulator.faces.timeline import Due, Timeline, read_timelines
from simulator.scenarios.model import Check, Dispute, Repay, Scenario
from simulator.world.runner import ScenarioResult
from simulator.world.world import World

__all__ = ["TIMELINES_PER_SCENARIO", "TIMELINES_WHEN_EXPECTED", "Explanation",
           "choose_borrowers", "explain_world", "named_in_steps", "unknown_borrowers"]

#: the most timelines a report draws per scenario beyond the ones the user picked
TIMELINES_PER_SCENARIO = 50
#: … and per passing scenario, whose violations are all ones it declares (expected)
TIMELINES_WHEN_EXPECTED = 10


@dataclass(frozen=True)
class Explanation:
    """What a report shows of one run beyond its verdict."""

    scenario: str
    zone: tzinfo
    timelines: tuple[Timeline, ...]
    #: every borrower named in a violation, in the order above
    named: tuple[str, ...]
    #: every journal entry cited as evidence, in words (instants in ``zone``)
    entries: dict[int, str]


def named_in_steps(scenario: Scenario) -> list[str]:
    """The borrowers the scenario's steps and bureau expectations name, in order."""
    names: list[str] = []
    for step in scenario.steps:
        action = step.action
        if isinstance(action, Repay | Dispute):
            names.append(action.borrower)
        elif isinstance(action, Check):
            names.extend(e.borrower for e in action.bureau)
    names.extend(e.borrower for e in scenario.expect.bureau)
    return list(dict.fromkeys(names))


def unknown_borrowers(scenario: Scenario, picks: Sequence[str]) -> list[str]:
    known = {b.id for b in scenario.borrowers}
    return [pick for pick in picks if pick not in known]


def choose_borrowers(result: ScenarioResult, picks: Sequence[str] = (), *,
                     limit: int = TIMELINES_PER_SCENARIO) -> tuple[list[str], list[str]]:
    """(whose timelines to draw, every borrower named in a violation)."""
    scenario = result.scenario
    known = {b.id for b in scenario.borrowers}
    violators = list(dict.fromkeys(
        v.borrower for found in result.violations.values() for v in found
        if v.borrower is not None))
    steps = [b for b in named_in_steps(scenario) if b in known]
    named = [b for b in steps if b in violators] + [b for b in violators if b not in steps]
    if result.passed:
        limit = min(limit, TIMELINES_WHEN_EXPECTED)
    chosen = [p for p in dict.fromkeys(picks) if p in known]
    chosen += [b for b in named if b not in chosen][:limit]
    if not chosen and not picks:
        chosen = steps[:1] or [b.id for b in scenario.borrowers[:1]]
    return chosen, named


def explain_world(world: World, result: ScenarioResult, picks: Sequence[str] = (), *,
                  zone: tzinfo | None = None,
                  limit: int = TIMELINES_PER_SCENARIO) -> Explanation:
    """Timelines and evidence of a finished world (its journal still open)."""
    scenario = world.scenario
    shown = zone or world.clock.tz
    chosen, named = choose_borrowers(result, picks, limit=limit)
    oracle = world.oracle
    keys: dict[str, str] = {}
    for borrower in scenario.borrowers:
        keys[borrower.id] = borrower.id
        keys[oracle.loan_of(borrower.id)] = borrower.id
    people = {b.id: b for b in scenario.borrowers}
    timelines = read_timelines(
        world.journal, scenario=scenario.id, borrowers=chosen, keys=keys,
        subjects={b: mask_id_number(people[b].id_number) for b in chosen},
        dues={b: [Due(i.number, i.due_date, i.due_end) for i in oracle.installments(b)]
              for b in chosen},
        violations=result.violations, expected=scenario.expect.violated, zone=shown,
        start=scenario.start, end=world.clock.now)
    cited = sorted({seq for found in result.violations.values() for v in found
                    for seq in v.evidence})
    entries = {seq: world.journal.get(seq).brief(shown) for seq in cited}
    return Explanation(scenario.id, shown, tuple(timelines[b] for b in chosen), tuple(named),
                       entries)
