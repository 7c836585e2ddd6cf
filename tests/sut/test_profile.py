"""A system's profile (simulator.sut.profile) and which scenarios apply to it
(simulator.sut.applicability): promises judged against the law, mistakes named by line and
key, skips and adapted expectations with their reasons."""

from __future__ import annotations

from datetime import time, timedelta
from pathlib import Path

import pytest

from simulator.core.calendars import jurisdiction
from simulator.core.errors import LendsimError
from simulator.scenarios.loader import load_scenario
from simulator.sut.applicability import fit
from simulator.sut.profile import Profile, load_profile

LIBRARY = Path(__file__).parents[2] / "scenarios"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "profile.yaml"
    path.write_text(text)
    return path


def test_a_full_profile_reads_back_every_promise(tmp_path: Path) -> None:
    """Every key of the README's example profile is read, durations and amounts exactly."""
    profile = load_profile(write(tmp_path, (
        "role: bank\njurisdictions: [CN]\ncrash: true\nday_end: \"00:30\"\nrecon_wait: 2d\n"
        "reports_within: 1d\ncorrects_within: 20d\n"
        "terms: {grace_days: 3, arrears_tolerance: 1.05, holiday_shift: [none]}\n")))
    assert (profile.role, profile.jurisdictions, profile.crash) == ("bank", ("CN",), True)
    assert profile.day_end == time(0, 30)
    assert profile.recon_wait == timedelta(days=2)
    assert (profile.reports_within, profile.corrects_within) == (timedelta(days=1),
                                                                 timedelta(days=20))
    assert (profile.grace_days, profile.arrears_tolerance, profile.holiday_shifts) == \
        (3, 105, ("none",))
    assert profile.beyond_the_law() == []


def test_limits_are_the_tighter_of_promise_and_law() -> None:
    """A promise tighter than the law narrows the bound; an undeclared one is the law's."""
    cn = jurisdiction("CN")
    limits = Profile("bank", recon_wait=timedelta(hours=6)).limits(cn)
    assert limits.recon_wait == timedelta(hours=6)
    assert limits.reporting == cn.reporting_cycle
    assert limits.correction == cn.correction_limit


def test_promises_beyond_the_law_are_each_named() -> None:
    """Each promise looser than a legal limit in a served jurisdiction is worded once."""
    profile = Profile("bank", jurisdictions=("CN", "US"), reports_within=timedelta(days=2),
                      recon_wait=timedelta(days=4))
    assert profile.beyond_the_law() == [
        "recon_wait 4d is beyond the legal limit in CN, 3d",
        "reports_within 2d is beyond the legal limit in CN, 1d",
        "recon_wait 4d is beyond the legal limit in US, 3d",
    ]


@pytest.mark.parametrize(("text", "expected"), [
    ("role: bureau\n", "bank or platform"),
    ("role: bank\nrecon_wait: two days\n", "a duration like 30m, 6h or 3d"),
    ("role: bank\nday_end: \"25:00\"\n", "HH:MM"),
    ("role: bank\nsurprise: 1\n", "surprise"),
    ("role: bank\nterms: {arrears_tolerance: 0.001}\n", "at most 2 decimals"),
    ("role: bank\njurisdictions: [CN, CN]\n", "jurisdictions"),
    ("role: [bank\n", "invalid YAML"),
    ("jurisdictions: [CN]\n", "role"),
])
def test_a_malformed_profile_names_the_place(tmp_path: Path, text: str, expected: str) -> None:
    """Each mistake raises a clear error naming the file and what was expected."""
    with pytest.raises(LendsimError) as caught:
        load_profile(write(tmp_path, text))
    message = str(caught.value)
    assert "profile.yaml" in message and expected in message, message


def test_a_profile_that_is_not_text_is_refused(tmp_path: Path) -> None:
    """A binary file is refused as not UTF-8, never parsed."""
    path = tmp_path / "profile.yaml"
    path.write_bytes(b"\xff\xfe\x00role")
    with pytest.raises(LendsimError, match="not UTF-8"):
        load_profile(path)


def library(name: str):  # type: ignore[no-untyped-def]
    return load_scenario(LIBRARY / name)


def test_a_scenario_planting_a_defect_in_the_role_is_skipped() -> None:
    """The defective-bank incident plants a bank defect: it does not apply to a bank."""
    found = fit(library("incident/docking-failure-defective-bank.yaml"), Profile("bank"))
    assert found.skip is not None and "bank.reports_without_reconciliation" in found.skip
    assert fit(library("incident/docking-failure-defective-bank.yaml"),
               Profile("platform")).skip is None


def test_crashes_jurisdictions_and_terms_decide_applicability() -> None:
    """A crash scenario is skipped when the profile says no crash; a US scenario for a CN-only
    system; a grace period beyond the profile's terms."""
    crash = library("crashes/platform-crash-before-forward.yaml")
    assert "does not crash" in (fit(crash, Profile("platform", crash=False)).skip or "")
    assert fit(crash, Profile("platform")).skip is None
    us = library("reporting/us-never-pays-reported.yaml")
    assert "is in US" in (fit(us, Profile("bank", jurisdictions=("CN",))).skip or "")
    grace = library("boundaries/cn-last-second-of-grace-after-holiday-shift.yaml")
    tight = Profile("bank", grace_days=grace.terms.grace_days - 1)
    assert f"{grace.terms.grace_days} grace days" in (fit(grace, tight).skip or "")
    assert fit(grace, Profile("bank", grace_days=grace.terms.grace_days)).skip is None


def test_bureau_timing_is_judged_only_when_the_profile_matches_the_reference_bank() -> None:
    """Bureau expectations at an instant assume the reference bank's day-end and wait: kept
    when the profile declares both, set aside with the reason otherwise."""
    scenario = library("reporting/cn-reported-from-one-day-late.yaml")
    assert scenario.expect.bureau, "the scenario must carry bureau expectations"
    undeclared = fit(scenario, Profile("bank"))
    assert undeclared.skip is None and undeclared.scenario.expect.bureau == ()
    assert "does not declare day_end and recon_wait" in undeclared.notes[0]
    matching = Profile("bank", day_end=scenario.bank.batch_at,
                       recon_wait=scenario.bank.recon_max_wait)
    kept = fit(scenario, matching)
    assert kept.scenario is scenario and kept.notes == ()
