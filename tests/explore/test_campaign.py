"""Campaigns: the same seed gives the same findings on any number of workers, runs are the
first N, nondeterminism is caught, and findings are shrunk into scenario files."""

from __future__ import annotations

import itertools
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from simulator.explore.campaign import CHUNK, Campaign, explore, run_chunk
from simulator.explore.executors import InlineBackend, PoolBackend
from simulator.scenarios.loader import load_scenario
from simulator.world.runner import run_scenario
from simulator.world.world import World

CUTOFF = ("bank.utc_cutoff",)


def findings(campaign: Campaign) -> list[dict[str, Any]]:
    return [finding.as_dict() for finding in campaign.findings]


def test_a_short_clean_campaign_finds_nothing() -> None:
    """Sixteen worlds on the reference parties: every invariant holds, runs played twice
    wrote identical journals."""
    campaign = explore(InlineBackend(), seed=11, runs=16)
    assert campaign.clean and campaign.runs == 16 and campaign.findings == []
    assert campaign.twice >= 1
    assert campaign.as_dict()["violating_runs"] == 0


def test_the_same_seed_gives_the_same_findings_on_two_processes() -> None:
    """With a defect planted, one process and a pool of two find the same runs violating the
    same invariants with the same first messages."""
    alone = explore(InlineBackend(), seed=3, runs=2 * CHUNK, defects=CUTOFF, shrink_budget=0)
    pool = PoolBackend(2)
    try:
        shared = explore(pool, seed=3, runs=2 * CHUNK, defects=CUTOFF, shrink_budget=0)
    finally:
        pool.close()
    assert findings(alone) and findings(shared) == findings(alone)
    assert shared.workers == 2 and shared.runs == alone.runs == 2 * CHUNK


def test_a_time_limit_runs_the_first_n_worlds() -> None:
    """--time: chunks go out until the time is up; the runs done are whole chunks from run 0,
    and they find what a campaign of that many runs finds."""
    timed = explore(InlineBackend(), seed=3, limit=timedelta(milliseconds=1), defects=CUTOFF,
                    shrink_budget=0)
    assert timed.runs >= CHUNK and timed.runs % CHUNK == 0
    counted = explore(InlineBackend(), seed=3, runs=timed.runs, defects=CUTOFF, shrink_budget=0)
    assert findings(timed) == findings(counted)


def test_nondeterminism_is_a_finding_with_the_first_difference(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A world that journals something different each time it is played (here a counter the
    world should not have) is reported for every run played twice, with the entry where the
    two journals part."""
    counter = itertools.count()
    start = World.start

    def leaky_start(self: World) -> None:
        start(self)
        self.journal.append("world.leak", "world", n=next(counter))

    monkeypatch.setattr(World, "start", leaky_start)
    outcomes = run_chunk(3, 0, 30, ())
    twice = [o for o in outcomes if o.twice]
    assert twice, "some run of 30 is played twice"
    assert [o.run for o in outcomes if o.divergence is not None] == [o.run for o in twice]
    for outcome in twice:
        assert outcome.divergence is not None
        one, two = outcome.divergence.entries
        assert one is not None and two is not None
        assert "world.leak" in one and "world.leak" in two and one != two
        assert outcome.divergence.digests[0] != outcome.divergence.digests[1]


def test_findings_are_shrunk_into_files_that_reproduce_them(tmp_path: Path) -> None:
    """The first run of each invariant violated is shrunk (here with a small budget) and
    written under out; each file is shorter than the world, loads, names its invariant, and
    violates it when run (the defect is in the file)."""
    campaign = explore(InlineBackend(), seed=3, runs=CHUNK, defects=CUTOFF, shrink_budget=10,
                       out=tmp_path)
    assert campaign.shrunk
    assert [s.target for s in campaign.shrunk] == campaign.targets
    for shrunk in campaign.shrunk:
        assert shrunk.file is not None and shrunk.file.parent == tmp_path
        assert shrunk.run == campaign.first_run(shrunk.target)
        scenario = load_scenario(shrunk.file)
        assert shrunk.target in scenario.summary
        assert run_scenario(scenario).violations[shrunk.target]
        assert shrunk.shrunk is not None and shrunk.shrunk.lines < shrunk.shrunk.original_lines
    report = campaign.as_dict()
    assert {s["file"] for s in report["shrunk"]} == {str(s.file) for s in campaign.shrunk}
