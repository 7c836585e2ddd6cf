"""Which library scenarios apply to a system under test, and how they are judged.

A scenario runs against a system in a role unless (README, "Test your own bank
or platform"):

* it plants a defect in that role (the defect is the reference party's);
* it crashes the role and the system does not crash on request (its profile
  says so, or ``POST /lendsim/crash`` answers 404 during the run);
* its jurisdiction is not one the system serves, or it books loan terms the
  system does not offer.

Each skip says why. A scenario that applies is judged by every invariant, with
the bounds of the system's profile; two things are adapted:

* bureau expectations at an instant (``check`` steps, ``expect.bureau``) assume
  the reference party's timing. For a bank they apply only when the profile's
  ``day_end`` and ``recon_wait`` are the scenario's reference bank's; for a
  platform only when the scenario leaves the reference platform's policy at its
  defaults. Otherwise they are set aside, with the reason;
* violations the scenario declares are what its reference parties do; a system
  may do better, so they are tolerated, not required (and a fault that affected
  nothing — the system called at other times — is noted, not failed).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from simulator.core.durations import format_duration
from simulator.scenarios.model import Check, PlatformPolicy, Scenario
from simulator.sut.profile import Profile

__all__ = ["Fit", "fit"]


@dataclass(frozen=True)
class Fit:
    """How a scenario fits a system: ``skip`` says why it does not apply; ``scenario`` is
    what runs (bureau expectations removed when they do not apply, ``notes`` says so)."""

    scenario: Scenario
    skip: str | None = None
    notes: tuple[str, ...] = ()


def fit(scenario: Scenario, profile: Profile, defects: tuple[str, ...] = ()) -> Fit:
    """How ``scenario`` (with ``defects`` planted too) applies to a system with
    ``profile``."""
    role = profile.role
    planted = sorted({d for d in (*scenario.defects, *defects) if d.startswith(f"{role}.")})
    if planted:
        return Fit(scenario, skip=f"plants {', '.join(planted)} in the {role}, which is the "
                                  "system under test")
    crashes = [step for step in scenario.steps
               if getattr(step.action, "kind", None) == "crash"
               and getattr(step.action, "party", None) == role]
    if crashes and profile.crash is False:
        return Fit(scenario, skip=f"crashes the {role}; the profile says it does not crash "
                                  "on request")
    if scenario.jurisdiction not in profile.jurisdictions:
        return Fit(scenario, skip=f"is in {scenario.jurisdiction}; the profile serves "
                                  f"{', '.join(profile.jurisdictions)}")
    beyond = _terms_beyond(scenario, profile)
    if beyond:
        return Fit(scenario, skip=f"books loans with {beyond}")
    reason = _bureau_timing(scenario, profile)
    if reason is None or not _has_bureau_expectations(scenario):
        return Fit(scenario)
    steps = tuple(step for step in scenario.steps if not isinstance(step.action, Check))
    adapted = replace(scenario, steps=steps, expect=replace(scenario.expect, bureau=()))
    return Fit(adapted, notes=(f"bureau expectations at an instant not judged: {reason}",))


def _terms_beyond(scenario: Scenario, profile: Profile) -> str | None:
    terms = scenario.terms
    if profile.grace_days is not None and terms.grace_days > profile.grace_days:
        return f"{terms.grace_days} grace days; the profile offers at most {profile.grace_days}"
    if profile.arrears_tolerance is not None and \
            terms.arrears_tolerance > profile.arrears_tolerance:
        return (f"an arrears tolerance of {terms.arrears_tolerance} minor units; the profile "
                f"offers at most {profile.arrears_tolerance}")
    if profile.holiday_shifts is not None and terms.holiday_shift not in profile.holiday_shifts:
        return (f"holiday shift {terms.holiday_shift}; the profile offers "
                f"{', '.join(profile.holiday_shifts)}")
    return None


def _has_bureau_expectations(scenario: Scenario) -> bool:
    return bool(scenario.expect.bureau) or any(isinstance(step.action, Check)
                                               for step in scenario.steps)


def _bureau_timing(scenario: Scenario, profile: Profile) -> str | None:
    """Why the scenario's bureau expectations at an instant do not apply, if they do not."""
    if profile.role == "platform":
        if scenario.platform != PlatformPolicy():
            return "they assume the scenario's own settings of the reference platform"
        return None
    reference = scenario.bank
    wanted = (f"the reference bank's day-end at {reference.batch_at.strftime('%H:%M')} with a "
              f"{format_duration(reference.recon_max_wait)} wait for the reconciliation file")
    if profile.day_end is None or profile.recon_wait is None:
        return f"they assume {wanted}; the profile does not declare day_end and recon_wait"
    if profile.day_end != reference.batch_at or profile.recon_wait != reference.recon_max_wait:
        return (f"they assume {wanted}; the profile declares {profile.day_end.strftime('%H:%M')}"
                f" and {format_duration(profile.recon_wait)}")
    return None
