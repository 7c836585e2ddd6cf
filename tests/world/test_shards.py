"""A scenario split by borrower into shards: the split, and one verdict from the shards."""

from __future__ import annotations

import hashlib
from collections import Counter

import pytest

from simulator.core.locator import data_path
from simulator.scenarios.loader import load_scenario
from simulator.scenarios.model import Check, Dispute, Fault, Repay, Scenario
from simulator.world.runner import ScenarioResult, run_scenario
from simulator.world.shards import run_sharded, split
from tests.support.scenario_text import borrower, check, fault, load, repay

#: three borrowers (alice pays into an outage, bob before it, dave never) and bureau checks
ACROSS_THE_BATCH = "outages/api-down-across-day-end-batch.yaml"


def _library(name: str) -> Scenario:
    return load_scenario(data_path("scenarios") / name)


def _verdict(result: ScenarioResult) -> tuple[Counter[tuple[str, str | None, int | None]],
                                               Counter[tuple[str, str, str, str]]]:
    """What a verdict says, whatever journal it came from: each violation by invariant,
    borrower and installment, and each bureau check."""
    violations = Counter((v.invariant, v.borrower, v.installment)
                         for found in result.violations.values() for v in found)
    checks = Counter((c.borrower, c.period, c.expected, c.actual) for c in result.checks)
    return violations, checks


def test_borrowers_are_dealt_round_robin_with_their_own_steps() -> None:
    """Borrower i goes to shard i mod n with its repayments and disputes; every fault goes to
    every shard; a check keeps, in each shard, only the expectations about its borrowers."""
    scenario = load(
        borrowers=[borrower("alice"), borrower("bob"), borrower("carol")],
        steps=[fault("2026-02-01T08:00", "outage", link="platform->bank", for_="2h"),
               repay("2026-02-01T09:00", "alice"), repay("2026-02-01T10:00", "bob"),
               {"at": "2026-02-03T10:00", "dispute": {"borrower": "carol", "period": "2026-02"}},
               check("2026-02-05T10:00", ("alice", "2026-02", "none"),
                     ("bob", "2026-02", "none"))],
        expect={"bureau": [{"borrower": "carol", "period": "2026-02", "status": "none"}]})
    first, second = split(scenario, 2)
    assert [b.id for b in first.borrowers] == ["alice", "carol"]
    assert [b.id for b in second.borrowers] == ["bob"]

    def who(part: Scenario) -> list[str]:
        shown = []
        for step in part.steps:
            action = step.action
            if isinstance(action, Repay | Dispute):
                shown.append(f"{type(action).__name__.lower()} {action.borrower}")
            elif isinstance(action, Check):
                shown.append("check " + ",".join(e.borrower for e in action.bureau))
            else:
                assert isinstance(action, Fault)
                shown.append(action.where)
        return shown

    assert who(first) == ["outage on platform->bank", "repay alice", "dispute carol",
                          "check alice"]
    assert who(second) == ["outage on platform->bank", "repay bob", "check bob"]
    assert [e.borrower for e in first.expect.bureau] == ["carol"]
    assert second.expect.bureau == ()
    assert {part.id for part in (first, second)} == {scenario.id}


def test_no_more_shards_than_borrowers_and_at_least_one() -> None:
    """Three borrowers make at most three shards; zero shards is refused."""
    scenario = load(borrowers=[borrower("alice"), borrower("bob"), borrower("carol")])
    assert len(split(scenario, 8)) == 3
    assert len(split(scenario, 1)) == 1
    with pytest.raises(ValueError, match="shards must be 1 or more"):
        split(scenario, 0)


@pytest.mark.parametrize("defects", [(), ("bank.reports_without_reconciliation",),
                                     ("bank.suppresses_delinquency",)],
                         ids=["clean", "texts-without-the-file", "suppresses"])
def test_sharded_verdict_is_the_single_world_verdict(defects: tuple[str, ...]) -> None:
    """Run whole and in two shards, the library scenario gets the same violations (by
    invariant, borrower and installment), the same bureau checks and the same pass/fail."""
    scenario = _library(ACROSS_THE_BATCH)
    whole = run_scenario(scenario, defects)
    sharded = run_sharded(scenario, 2, defects, workers=2)
    assert _verdict(sharded) == _verdict(whole)
    assert (sharded.passed, sharded.violated, sharded.unfired) == \
        (whole.passed, whole.violated, whole.unfired)
    assert sharded.scenario is scenario
    assert sharded.defects == whole.defects


def test_merged_digest_is_the_digest_of_the_shard_digests_and_repeats() -> None:
    """The merged digest is SHA-256 over the shards' digests, one per line in shard order,
    and a second sharded run gives the same."""
    scenario = _library(ACROSS_THE_BATCH)
    parts = [run_scenario(part) for part in split(scenario, 2)]
    expected = hashlib.sha256(
        f"{parts[0].digest}\n{parts[1].digest}\n".encode()).hexdigest()
    first = run_sharded(scenario, 2, workers=2)
    assert first.digest == expected
    assert run_sharded(scenario, 2, workers=1).digest == expected
    assert first.events == parts[0].events + parts[1].events


def test_evidence_is_numbered_as_the_shard_journals_laid_end_to_end() -> None:
    """In three shards (alice, bob, dave), dave's missing delinquency report is evidenced by
    his own shard's entries numbered after the first two shards' entries, and each evidence
    line carries its merged number."""
    scenario = _library(ACROSS_THE_BATCH)
    defects = ("bank.suppresses_delinquency",)
    parts = [run_scenario(part, defects) for part in split(scenario, 3)]
    assert [[b.id for b in part.scenario.borrowers] for part in parts] == \
        [["alice"], ["bob"], ["dave"]]
    merged = run_sharded(scenario, 3, defects, workers=2)
    [own] = parts[2].violations["true_overdue_reported"]
    [found] = merged.violations["true_overdue_reported"]
    assert own.evidence
    assert found.evidence == tuple(seq + parts[0].events + parts[1].events
                                   for seq in own.evidence)
    for seq, own_seq in zip(found.evidence, own.evidence, strict=True):
        line = parts[2].evidence[own_seq]
        assert merged.evidence[seq] == line.replace(f"#{own_seq} ", f"#{seq} ", 1)


def test_a_fault_fired_in_one_shard_fired() -> None:
    """An outage only alice's repayment crosses fired (in her shard, not bob's); one no call
    crosses anywhere is still reported unfired."""
    scenario = load(
        borrowers=[borrower("alice"), borrower("bob")],
        until="2026-02-20T00:00",
        steps=[fault("2026-02-01T09:00", "outage", link="platform->bank", for_="30m"),
               repay("2026-02-01T09:00", "alice"),
               fault("2026-02-01T14:00", "outage", link="bank->bureau", for_="1m")])
    whole = run_scenario(scenario)
    sharded = run_sharded(scenario, 2, workers=2)
    bob_alone = run_scenario(split(scenario, 2)[1])
    assert any("platform->bank" in message for message in bob_alone.unfired)
    assert sharded.unfired == whole.unfired
    assert [("bank->bureau" in m) for m in sharded.unfired] == [True]


def test_ctrl_c_during_a_sharded_run_is_a_keyboard_interrupt(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Interrupted shards are no verdict: the sharded run raises KeyboardInterrupt (the
    batch then reports the scenarios that finished before it), not a partial result."""
    from simulator.world import shards
    from simulator.world.pool import Interrupted

    def interrupted(*args: object, **kwargs: object) -> list[ScenarioResult]:
        raise Interrupted({0: "one shard's result"}, 2)

    monkeypatch.setattr(shards, "run_jobs", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_sharded(_library(ACROSS_THE_BATCH), 2)
