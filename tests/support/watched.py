"""A finished run with its journal written out, for tests that only read a run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from simulator.scenarios.loader import load_scenario
from simulator.world.runner import ScenarioResult, run_scenario

__all__ = ["Watched", "watch"]


@dataclass(frozen=True)
class Watched:
    """A finished run and every entry of its journal, as ``Entry.brief`` writes it."""

    result: ScenarioResult
    journal: tuple[str, ...]


def watch(path: Path) -> Watched:
    """Run the scenario file at ``path`` (no defect given) and keep its journal."""
    journal: list[str] = []
    result = run_scenario(load_scenario(path), inspect=lambda world, _: journal.extend(
        entry.brief() for entry in world.journal.entries()))
    return Watched(result, tuple(journal))
