"""Random worlds: the same seed gives the same world, and every world is valid and fair."""

from __future__ import annotations

import functools
from collections import Counter
from datetime import UTC, date, datetime, timedelta

from simulator.core.calendars import jurisdiction
from simulator.explore.generate import due_end, generate_world
from simulator.explore.spots import spots
from simulator.explore.swarm import FAULT_KINDS
from simulator.explore.writer import scenario_yaml
from simulator.scenarios.loader import load_scenario_text
from simulator.scenarios.model import Dispute, Fault, Repay, Scenario
from tests.support.positions import positionless

WORLDS = 200


def docking_outage(scenario: Scenario) -> list[Fault]:
    """The world's outages of the repayment API and the reconciliation file over one window
    (a world beyond the bank's wait has them)."""
    outages = [s.action for s in scenario.steps if isinstance(s.action, Fault)
               and s.action.kind == "outage"]
    return [f for f in outages if f.link in ("platform->bank", "recon") and any(
        g.link != f.link and g.link in ("platform->bank", "recon")
        and (g.start, g.end) == (f.start, f.end) for g in outages)]


@functools.cache
def worlds() -> tuple[Scenario, ...]:
    return tuple(generate_world(5, run) for run in range(WORLDS))


def test_the_same_seed_and_run_give_the_same_world() -> None:
    """A world depends only on the campaign seed and the run number."""
    assert generate_world(5, 17) == generate_world(5, 17)
    assert generate_world(5, 17) != generate_world(5, 18)
    assert generate_world(5, 17) != generate_world(6, 17)


def test_every_world_is_a_scenario_file_that_reads_back_as_itself() -> None:
    """Each generated world, written as a file, loads (the loader's checks: timelines, no
    repayment before its loan is disbursed, instants within the run) as the same scenario."""
    for scenario in worlds():
        assert positionless(load_scenario_text(scenario_yaml(scenario))) == scenario, scenario.id


def test_worlds_cover_both_jurisdictions_habits_and_fault_kinds() -> None:
    """Over a few hundred worlds every jurisdiction, every fault kind, scripted repayments at
    the bank's counter and in the app, partial and exact amounts, and every automatic habit
    appear."""
    found: Counter[str] = Counter()
    for scenario in worlds():
        found[scenario.jurisdiction] += 1
        found.update(f"pays:{b.pays.kind}" for b in scenario.borrowers)
        for step in scenario.steps:
            action = step.action
            if isinstance(action, Fault):
                found[f"fault:{action.kind}"] += 1
            elif isinstance(action, Repay):
                found[f"via:{action.via}"] += 1
                found["short_by" if action.short_by else "amount" if action.amount else
                      "all due"] += 1
    wanted = {"CN", "US", "via:bank", "via:platform", "short_by", "amount", "all due",
              *(f"fault:{kind}" for kind in FAULT_KINDS),
              *(f"pays:{kind}" for kind in ("manual", "on_due_date", "early", "late", "never"))}
    assert wanted <= set(found), sorted(wanted - set(found))


def test_due_dates_fall_where_bugs_live() -> None:
    """Most worlds have a due date on or within two days of a daylight-saving change, a
    holiday, a make-up working day, a month's end, a leap day or a year's end."""
    near = 0
    for scenario in worlds():
        days = {day for kind_days in spots(scenario.jurisdiction).values() for day in kind_days}
        profile = jurisdiction(scenario.jurisdiction)
        due = {(due_end(b.loan, n, scenario.terms, profile) - timedelta(days=1)).date()
               for b in scenario.borrowers for n in range(1, b.loan.months + 1)}
        if any(d + timedelta(days=shift) in days for d in due for shift in range(-2, 3)):
            near += 1
    assert near >= WORLDS * 0.8


def test_spots_are_the_real_calendar_days() -> None:
    """The calendar's own edges: New York's 2026 daylight-saving changes (8 March, 1 November),
    China's 2025 Spring Festival make-up Sundays (26 January, 8 February), leap day 2028;
    Shanghai has no daylight saving."""
    us, cn = spots("US"), spots("CN")
    assert {date(2026, 3, 8), date(2026, 11, 1)} <= set(us["dst"])
    assert {date(2025, 1, 26), date(2025, 2, 8)} <= set(cn["make_up_day"])
    assert date(2028, 2, 29) in cn["leap_day"]
    assert "dst" not in cn


def test_worlds_are_fair() -> None:
    """What a correct party could not get right never happens: the bank waits at most the
    jurisdiction's 3 days for a file, the platform forwards within hours, faults together
    last less than that wait, and only the borrower's app and the reconciliation file are
    refused for good (a 4xx); a world beyond the wait is fair but for its docking outage."""
    for scenario in worlds():
        assert scenario.bank.recon_max_wait <= timedelta(days=3)
        # a platform retries twice a day at most only through a month-long declared outage
        slowest = timedelta(hours=14) if scenario.expect.violations else timedelta(hours=3)
        assert scenario.platform.forward_after + scenario.platform.retry_max <= slowest
        faults = [s.action for s in scenario.steps if isinstance(s.action, Fault)]
        if scenario.expect.violations:  # beyond the wait: its docking outage is the harm
            faults = [f for f in faults if f not in docking_outage(scenario)]
        spent = sum((f.end.astimezone(UTC) - f.start.astimezone(UTC) + (f.by or timedelta(0))
                     for f in faults), timedelta(0))
        assert spent <= scenario.bank.recon_max_wait - scenario.platform.retry_max, scenario.id
        for fault in faults:
            if fault.kind == "error" and fault.status is not None and \
                    400 <= fault.status < 500 and fault.status not in (408, 409, 429):
                assert fault.link in ("borrower->platform", "recon"), scenario.id


def test_some_worlds_go_beyond_the_wait_and_declare_the_harm() -> None:
    """About one world in twelve (only borrowers who repay by script can be caught) has the
    repayment API and the reconciliation file down together from before an on-time repayment
    of the installment until after the bank's wait ran out at the batch of its first late day;
    it declares the false text and record in any scope, and runs on at least 5 days after the
    link is back. In some (China) the borrower disputes the false record and the link stays
    down beyond the correction limit after that, but less than 30 days from the repayment."""
    beyond = [scenario for scenario in worlds() if scenario.expect.violations]
    assert WORLDS * 0.04 <= len(beyond) <= WORLDS * 0.2
    long = 0
    for scenario in beyond:
        profile = jurisdiction(scenario.jurisdiction)
        docking = docking_outage(scenario)
        api = next(f for f in docking if f.link == "platform->bank")
        assert any(f.link == "recon" and f.end == api.end for f in docking), scenario.id
        # a repayment of all that is due in the app, at most 2 hours after the link went down
        paid = [s for s in scenario.steps if isinstance(s.action, Repay)
                and api.start < s.at <= api.start + timedelta(hours=2)
                and (s.action.via, s.action.amount, s.action.short_by) == ("platform", None, None)]
        caught = []
        for step in paid:
            repay = step.action
            assert isinstance(repay, Repay)
            loan = next(b.loan for b in scenario.borrowers if b.id == repay.borrower)
            end = due_end(loan, repay.installment, scenario.terms, profile)
            first_late = end.astimezone(profile.tz).date()
            batch = datetime.combine(first_late + timedelta(days=1), scenario.bank.batch_at,
                                     tzinfo=profile.tz)
            caught.append(step.at < end and api.end.astimezone(UTC) > (
                batch + scenario.bank.recon_max_wait).astimezone(UTC))
        assert any(caught), scenario.id
        disputes = [s for s in scenario.steps if isinstance(s.action, Dispute)
                    and api.start < s.at < api.end]
        if api.end - api.start > timedelta(days=10):  # outlasting a dispute's limit
            long += 1
            assert disputes and scenario.platform.retry_max == timedelta(hours=12)
            assert api.end > disputes[0].at + profile.correction_limit
            assert api.end - paid[0].at < timedelta(days=30)
        assert scenario.until - api.end >= timedelta(days=5)
        declared = [entry.invariant for entry in scenario.expect.violations]
        assert declared == ["no_false_overdue", "no_false_overdue_sms"]
        assert all(not e.borrowers and not e.installments and e.count is None
                   for e in scenario.expect.violations)
    assert long >= 1
