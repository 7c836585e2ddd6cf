"""The world: one deterministic simulation, driven by the scenario and its seed alone."""

from __future__ import annotations

import gc
import json
import os
import re
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from simulator.core.errors import UnknownDefectError
from simulator.core.locator import data_path
from simulator.scenarios.loader import load_scenario
from simulator.world.runner import run_scenario
from simulator.world.world import World
from tests.support.scenario_text import (
    borrower,
    docking_outage,
    fault,
    generated,
    load,
    repay,
    world,
    write_scenario,
)
from tests.support.watched import Watched

#: Two generated borrowers who pay on each due date: their payment minutes come from the seed.
HABITUAL = {"borrowers": [borrower(), generated(2)]}
#: Faults, a planted defect and a manual repayment on top of the habits.
EVENTFUL = {
    "until": "2026-03-15",
    "borrowers": [borrower(), generated(2)],
    "world": world(defects=["bank.reports_without_reconciliation"]),
    "steps": [*docking_outage("2026-02-01T08:00", "3d"), repay("2026-02-01T21:00"),
              fault("2026-02-10T00:00", "duplicate", link="bank->bureau", for_="1d"),
              fault("2026-03-01T20:00", "crash", party="platform", for_="2h"),
              fault("2026-03-01T09:00", "timeout_after_commit", link="platform->bank",
                    for_="6h")],
}


def _run(overrides: dict[str, Any], defects: tuple[str, ...] = ()) -> tuple[World, str, int]:
    built = World(load(**overrides), defects)
    outcome = built.run()
    return built, outcome.digest, outcome.events


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({}, id="one-borrower-no-steps"),
        pytest.param(HABITUAL, id="generated-borrowers"),
        pytest.param(EVENTFUL, id="faults-and-defect"),
    ],
)
def test_same_scenario_same_seed_same_digest(overrides: dict[str, Any]) -> None:
    """The same scenario and seed give a byte-identical journal: the same digest and event count."""
    _, first, first_events = _run(overrides)
    _, second, second_events = _run(overrides)
    assert first == second
    assert first_events == second_events
    assert re.fullmatch(r"[0-9a-f]{64}", first)


def test_digest_does_not_depend_on_the_hash_seed(tmp_path: Path) -> None:
    """Two processes with different string-hash seeds produce the same journal digest."""
    path = write_scenario(tmp_path / "eventful.yaml", **EVENTFUL)
    program = ("import sys; from pathlib import Path;"
               " from simulator.scenarios.loader import load_scenario;"
               " from simulator.world.runner import run_scenario;"
               " print(run_scenario(load_scenario(Path(sys.argv[1]))).digest)")
    digests = set()
    for hash_seed in ("1", "2"):
        ran = subprocess.run([sys.executable, "-c", program, str(path)], capture_output=True,
                             text=True, timeout=60, check=True,
                             env={**os.environ, "PYTHONHASHSEED": hash_seed})
        digests.add(ran.stdout.strip())
    assert digests == {run_scenario(load_scenario(path)).digest}


def test_different_seed_changes_the_digest() -> None:
    """Another seed moves the generated borrowers' payments, so the journal digest changes."""
    one, digest_one, _ = _run({**HABITUAL, "seed": 1})
    two, digest_two, _ = _run({**HABITUAL, "seed": 2})
    assert digest_one != digest_two
    times_one = sorted(p.value_time for p in one.oracle.payments.values())
    times_two = sorted(p.value_time for p in two.oracle.payments.values())
    assert len(times_one) == len(times_two) > 0
    assert times_one != times_two


def test_planted_defect_changes_the_digest() -> None:
    """Planting a defect that changes behaviour changes the journal."""
    overrides = {"steps": [*docking_outage("2026-02-01T08:00", "3d"), repay("2026-02-01T21:00")]}
    _, plain, _ = _run(overrides)
    _, defective, _ = _run(overrides, ("bank.reports_without_reconciliation",))
    assert plain != defective


@pytest.mark.parametrize(
    ("pays", "offset"),
    [
        pytest.param("on_due_date", 0, id="on-due-date"),
        pytest.param("early:3", -3, id="early-3"),
        pytest.param("late:2", 2, id="late-2"),
    ],
)
def test_payment_habits(pays: str, offset: int) -> None:
    """A habit pays each installment the given days from its due date, between 08:00 and 23:00."""
    built, _, _ = _run({"until": "2026-04-15", "borrowers": [borrower(pays=pays)]})
    payments = sorted(built.oracle.payments.values(), key=lambda p: p.value_time)
    due_dates = [date(2026, 2, 1), date(2026, 3, 1), date(2026, 4, 1)]
    assert [p.value_time.astimezone(built.clock.tz).date() for p in payments] == [
        due + timedelta(days=offset) for due in due_dates]
    assert all(8 <= p.value_time.astimezone(built.clock.tz).hour < 23 for p in payments)
    on_time = [i.paid_on_time for i in built.oracle.installments("alice")]
    assert on_time == [offset <= 0] * 3


def test_never_pays_and_manual_pay_nothing() -> None:
    """Borrowers who pay manually (without steps) or never make no payment at all."""
    built, _, _ = _run({"borrowers": [borrower(), borrower("bob", pays="never")]})
    assert built.oracle.payments == {}


def test_unknown_defect_is_rejected_naming_it() -> None:
    """A defect not in the catalogue is refused before the world is built, naming it."""
    with pytest.raises(UnknownDefectError, match=r"unknown defect 'bank\.no_such_thing'"):
        World(load(), ("bank.no_such_thing",))


def test_defects_from_scenario_and_caller_are_merged() -> None:
    """The world plants the scenario's defects and the caller's, once each."""
    scenario = load(world=world(defects=["bank.no_tolerance"]))
    built = World(scenario, ("platform.no_retry", "bank.no_tolerance"))
    assert built.defects == frozenset({"bank.no_tolerance", "platform.no_retry"})


def test_run_ends_at_until() -> None:
    """The virtual clock ends at the scenario's ``until``, whatever was scheduled after it."""
    scenario = load(until="2026-02-15T12:00")
    built = World(scenario)
    built.run()
    assert built.clock.now == scenario.until


def test_journal_and_report_carry_no_personal_data(defective_incident: Watched) -> None:
    """No borrower's name, ID number or phone number appears in the journal or the JSON report."""
    result, scenario = defective_incident.result, defective_incident.result.scenario
    text = "\n".join(defective_incident.journal)
    report = json.dumps(result.as_dict(), ensure_ascii=False)
    assert "no_false_overdue" in report  # the report does describe the violations
    for person in scenario.borrowers:
        for secret in (person.id_number, person.phone, person.name):
            assert secret not in text, f"{person.id}'s personal data is in the journal"
            assert secret not in report, f"{person.id}'s personal data is in the report"


def test_a_party_still_down_at_the_end_comes_back_to_be_read() -> None:
    """A bank and a platform whose crashes last beyond ``until`` come back (journalled) once
    the run is over, so the world reads their state through their contracts and judges every
    invariant, instead of stopping on their 503."""
    scenario = load(steps=[repay("2026-02-01T10:00"),
                           fault("2026-02-28T20:00", "crash", party="bank", for_="2d"),
                           fault("2026-02-28T21:00", "crash", party="platform", for_="2d")])
    built = World(scenario)
    outcome = built.run()
    assert outcome.error is None and not any(outcome.violations.values())
    restarted = [e.data["party"] for e in built.journal.entries() if e.kind == "world.restarted"]
    assert restarted == ["bank", "platform"]
    assert built.clock.now == scenario.until


@pytest.mark.parametrize("name", [
    "platform-crash-with-forward-in-flight", "bank-crash-during-day-end-batch",
    "dispute-verification-every-fault", "recon-file-every-fault", "error-503-burst-half-rate",
])
def test_a_running_world_makes_no_cyclic_garbage(name: str) -> None:
    """Crashes, faults, refusals and disputes leave nothing that only the garbage collector
    could free: lendsim serve freezes each advance chunk's objects on that promise."""
    (found,) = data_path("scenarios").rglob(f"{name}.yaml")
    scenario = load_scenario(found)
    world = World(scenario)
    world.begin()
    gc.collect()
    gc.disable()
    try:
        world.advance(scenario.until)
        found = gc.collect()
    finally:
        gc.enable()
        world.close()
        world.journal.close()
    assert found == 0

