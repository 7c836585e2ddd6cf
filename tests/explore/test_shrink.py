"""Shrinking: ddmin finds 1-minimal parts, and a failing world shrinks to a small scenario
file that loads and still violates the same invariant."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from simulator.explore.campaign import shrink_run
from simulator.explore.generate import generate_world
from simulator.explore.runs import play
from simulator.explore.shrink import ddmin, shrink
from simulator.scenarios.loader import load_scenario_text
from simulator.scenarios.model import Expect, ExpectedViolation
from simulator.world.runner import run_scenario


def test_ddmin_keeps_exactly_the_parts_that_matter() -> None:
    """When the failure needs 3 and 7 together, ddmin keeps [3, 7] and nothing else, in
    order, trying far fewer subsets than the 2^10 there are."""
    tried: list[list[int]] = []

    def fails(subset: list[int]) -> bool:
        tried.append(subset)
        return {3, 7} <= set(subset)

    assert ddmin(list(range(10)), fails) == [3, 7]
    assert len(tried) < 60


@pytest.mark.parametrize(("needed", "expected"), [
    pytest.param(lambda s: True, [], id="nothing-needed"),
    pytest.param(lambda s: any(x >= 8 for x in s), [8], id="any-one-of-several"),
    pytest.param(lambda s: len(s) >= 10, list(range(10)), id="everything-needed"),
])
def test_ddmin_result_is_one_minimal(needed: Callable[[list[int]], bool],
                                     expected: list[int]) -> None:
    """The result still fails, and removing any one element of it makes it pass."""
    result = ddmin(list(range(10)), needed)
    assert result == expected
    assert needed(result)
    for index in range(len(result)):
        assert not needed(result[:index] + result[index + 1:])


def test_a_world_with_a_planted_defect_shrinks_to_a_short_file_that_reproduces() -> None:
    """Run 4 of seed 3 violates no_false_overdue with bank.utc_cutoff planted (a repayment at
    23:00 New York time, after midnight UTC); shrunk, it is at most 40 lines, names the seed
    and the invariant in its summary, plants the defect in the file, and `lendsim run` on it
    (the loaded file, no defect given) violates no_false_overdue again."""
    world = generate_world(3, 4)
    assert "no_false_overdue" in play(world, ("bank.utc_cutoff",)).counts
    shrunk = shrink_run(3, 4, "no_false_overdue", ("bank.utc_cutoff",), 200, None)
    assert shrunk is not None
    assert shrunk.lines <= 40 and shrunk.lines < shrunk.original_lines
    assert not shrunk.exhausted
    loaded = load_scenario_text(shrunk.text)
    assert loaded.defects == ("bank.utc_cutoff",)
    assert len(loaded.borrowers) == 1
    assert "seed 3, run 4" in loaded.summary and "no_false_overdue" in loaded.summary
    result = run_scenario(loaded)
    assert result.violations["no_false_overdue"] and not result.passed
    # without the defect the same file passes: the defect is what it shows
    clean = dataclasses.replace(loaded, defects=())
    assert not run_scenario(clean).violations["no_false_overdue"]


def test_a_spent_budget_keeps_the_smallest_failing_world_so_far() -> None:
    """With only 3 runs allowed the shrinker stops early, says so, and still returns a world
    that violates the invariant."""
    world = dataclasses.replace(generate_world(3, 4), defects=("bank.utc_cutoff",))
    shrunk = shrink(world, "no_false_overdue", budget=3)
    assert shrunk is not None and shrunk.exhausted and shrunk.evaluations == 3
    assert "no_false_overdue" in play(load_scenario_text(shrunk.text)).counts


def test_a_world_that_does_not_fail_is_not_shrunk() -> None:
    """Shrinking a world that does not violate the invariant gives nothing."""
    assert shrink(generate_world(3, 4), "no_false_overdue", budget=5) is None


def test_a_declared_harm_excuses_its_violations_and_goes_when_it_no_longer_happens() -> None:
    """A world that declares no_false_overdue and in_transit_bounded as harms, with
    bank.utc_cutoff planted: no_false_overdue is no finding there (it is declared), but
    no_false_overdue_sms is; shrunk for it, the file declares only harms that still happen
    (never in_transit_bounded), so `lendsim run` fails on the target alone."""
    world = dataclasses.replace(
        generate_world(3, 4), defects=("bank.utc_cutoff",),
        expect=Expect(violations=(ExpectedViolation("no_false_overdue"),
                                  ExpectedViolation("in_transit_bounded"))))
    played = play(world)
    assert "no_false_overdue" not in played.counts and "no_false_overdue_sms" in played.counts
    assert played.unmet == (1,)
    shrunk = shrink(world, "no_false_overdue_sms", budget=30)
    assert shrunk is not None
    loaded = load_scenario_text(shrunk.text)
    declared = [entry.invariant for entry in loaded.expect.violations]
    assert "in_transit_bounded" not in declared
    result = run_scenario(loaded)
    assert result.unexpected == ["no_false_overdue_sms"] and not result.missing
    assert all(result.violations[name] for name in declared)


def test_a_world_beyond_the_wait_keeps_its_harm_when_shrunk() -> None:
    """Run 30 of seed 1 has the docking link down beyond the bank's wait (China): the false
    record is declared, and with bank.no_correction_on_late_arrival nobody corrects it. Shrunk
    for false_reports_corrected, the file still declares the false record and text (they are
    what the missing correction is about), and `lendsim run` fails on the correction."""
    world = generate_world(1, 30)
    assert [e.invariant for e in world.expect.violations] == ["no_false_overdue",
                                                             "no_false_overdue_sms"]
    assert not play(world).violated
    defect = ("bank.no_correction_on_late_arrival",)
    assert "false_reports_corrected" in play(world, defect).counts
    shrunk = shrink_run(1, 30, "false_reports_corrected", defect, 60, None)
    assert shrunk is not None
    loaded = load_scenario_text(shrunk.text)
    assert [e.invariant for e in loaded.expect.violations][:1] == ["no_false_overdue"]
    result = run_scenario(loaded)
    assert "false_reports_corrected" in result.unexpected and not result.missing
