"""One large scenario split by borrower into shards, run in parallel, judged as one.

Borrowers share nothing but the parties' infrastructure: each repayment, report and
correction concerns one loan, and every invariant judges a borrower, a loan or a
payment of its own. So a scenario with many borrowers can be cut into ``n`` shards —
borrower ``i`` (in file order) goes to shard ``i mod n`` with its repayments and
disputes, every fault and party setting goes to every shard, and a ``check`` step keeps
in each shard the expectations about that shard's borrowers — and the shards run as
independent worlds in worker processes. Their verdicts merge into one
:class:`ScenarioResult` for the whole scenario:

- violations are the union of the shards' (the scenario's expectations, counts
  included, are judged on the union), bureau checks likewise;
- a scripted fault counts as fired when it fired in any shard;
- journal sequence numbers are those of the shards' journals laid end to end (shard 0's
  entries first), so evidence stays unambiguous;
- the **merged digest** is the SHA-256 of the shards' digests, one per line in shard
  order: as deterministic as a single world's, but not equal to the digest of the
  same scenario run unsharded (each shard has its own reconciliation files, payment
  and posting ids, and random draws).

The verdict is the one a single world gives whenever the scenario draws nothing at
random per call — an ``error`` fault with a ``rate`` below 1 fails a different set of
calls in each shard. A system under test is one service with one state, so a sharded
run takes reference parties only.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import time

from simulator.checks.facts import Violation
from simulator.scenarios.model import Check, Dispute, Repay, Scenario, Step
from simulator.world.pool import Interrupted, run_jobs
from simulator.world.runner import ScenarioResult, run_scenario

__all__ = ["run_sharded", "split"]

#: a shard to run: the scenario part, the defects planted, strict contracts
Shard = tuple[Scenario, tuple[str, ...], bool]


def split(scenario: Scenario, shards: int) -> tuple[Scenario, ...]:
    """``scenario`` cut by borrower into ``shards`` parts (fewer when it has fewer
    borrowers); each part keeps the scenario's id, settings and faults."""
    if shards < 1:
        raise ValueError(f"shards must be 1 or more (got {shards})")
    count = max(1, min(shards, len(scenario.borrowers)))
    home = {borrower.id: index % count for index, borrower in enumerate(scenario.borrowers)}
    parts = []
    for shard in range(count):
        mine = {who for who, where in home.items() if where == shard}
        steps = tuple(kept for step in scenario.steps
                      if (kept := _step_for(step, mine)) is not None)
        expect = dataclasses.replace(
            scenario.expect,
            bureau=tuple(e for e in scenario.expect.bureau if e.borrower in mine))
        parts.append(dataclasses.replace(
            scenario, borrowers=tuple(b for b in scenario.borrowers if b.id in mine),
            steps=steps, expect=expect))
    return tuple(parts)


def _step_for(step: Step, mine: set[str]) -> Step | None:
    """The part of ``step`` that belongs to a shard with borrowers ``mine`` (None: none)."""
    action = step.action
    if isinstance(action, Repay | Dispute):
        return step if action.borrower in mine else None
    if isinstance(action, Check):
        kept = tuple(e for e in action.bureau if e.borrower in mine)
        return dataclasses.replace(step, action=Check(kept)) if kept else None
    return step  # a fault: the infrastructure every shard shares


def _run_shard(shard: Shard) -> ScenarioResult:
    scenario, defects, strict = shard
    return run_scenario(scenario, defects, strict_contracts=strict)


def run_sharded(scenario: Scenario, shards: int, defects: tuple[str, ...] = (), *,
                strict_contracts: bool = False, workers: int | None = None) -> ScenarioResult:
    """Run ``scenario`` as ``shards`` worlds by borrower in up to ``workers`` processes
    (default: one per core) and merge their verdicts (see the module's notes). Ctrl-C
    raises :class:`KeyboardInterrupt`: the shards that finished are no verdict."""
    began = time.perf_counter()
    parts = split(scenario, shards)
    try:
        results = run_jobs(_run_shard, [(part, defects, strict_contracts) for part in parts],
                           workers=workers)
    except Interrupted:
        raise KeyboardInterrupt from None  # some shards are no verdict on the scenario
    return merge(scenario, results, seconds=time.perf_counter() - began)


def merge(scenario: Scenario, results: list[ScenarioResult], *,
          seconds: float) -> ScenarioResult:
    """One verdict on ``scenario`` from the results of its shards, in shard order."""
    violations: dict[str, list[Violation]] = {}
    evidence: dict[int, str] = {}
    checks = []
    offset = 0
    for result in results:
        for name, found in result.violations.items():
            violations.setdefault(name, []).extend(
                dataclasses.replace(v, evidence=tuple(seq + offset for seq in v.evidence))
                for v in found)
        for seq, text in result.evidence.items():
            evidence[seq + offset] = _renumbered(text, seq + offset)
        checks.extend(result.checks)
        offset += result.events
    unfired = [message for message in results[0].unfired
               if all(message in result.unfired for result in results[1:])]
    stopped = next((result for result in results if result.error is not None), None)
    digest = hashlib.sha256("".join(f"{r.digest}\n" for r in results).encode()).hexdigest()
    return ScenarioResult(
        scenario=scenario, defects=results[0].defects, digest=digest,
        events=sum(result.events for result in results), seconds=seconds,
        violations=violations, checks=checks, evidence=evidence,
        error=None if stopped is None else stopped.error, unfired=unfired,
        stopped_by="contract" if stopped is None else stopped.stopped_by,
        details=() if stopped is None else stopped.details)


def _renumbered(text: str, seq: int) -> str:
    """An evidence line (``#12 2026-… bank.posted {…}``) under its merged number."""
    return re.sub(r"^#\d+", f"#{seq}", text, count=1)
