"""A :class:`~simulator.scenarios.model.Scenario` written back as a scenario file.

The text is what a person would write (README, "Scenario reference"): only the keys
that differ from their defaults, loans and steps on one line each, local times
(with an offset only where the local time alone would be ambiguous, in the hour a
daylight-saving change repeats), money in major units, durations as ``30m``/``1d12h``.
:func:`~simulator.scenarios.loader.load_scenario_text` reads it back as the same
scenario. Personal data is never written: the loader derives the same names and
numbers from each borrower's handle and the seed.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, tzinfo

from simulator.core.calendars import jurisdiction as jurisdiction_of
from simulator.core.durations import format_duration, parse_instant
from simulator.scenarios.model import (
    INVARIANTS,
    BankPolicy,
    BureauExpectation,
    Check,
    ContractTerms,
    Dispute,
    Expect,
    ExpectedViolation,
    Fault,
    PlatformPolicy,
    Repay,
    Scenario,
    Step,
)

__all__ = ["scenario_yaml"]


def _money(minor: int) -> str:
    sign = "-" if minor < 0 else ""
    whole, cents = divmod(abs(minor), 100)
    return f"{sign}{whole}.{cents:02d}"


def _instant(instant: datetime, tz: tzinfo) -> str:
    """Local time, ``HH:MM`` (``:SS`` if needed); with the offset if the local time alone
    reads back as another instant."""
    local = instant.astimezone(tz)
    text = local.strftime("%Y-%m-%dT%H:%M" if local.second == 0 else "%Y-%m-%dT%H:%M:%S")
    if local.microsecond:
        text = local.isoformat(timespec="microseconds")[:26]
    if parse_instant(text, tz).astimezone(UTC) != instant.astimezone(UTC):
        text += local.strftime("%z")[:3] + ":" + local.strftime("%z")[3:]
    return text


def _day_or_instant(instant: datetime, tz: tzinfo) -> str:
    """``2026-03-01`` for a local midnight, else as :func:`_instant`."""
    text = _instant(instant, tz)
    return text[:10] if text.endswith("T00:00") else text


def _flow(items: dict[str, object]) -> str:
    """``{a: 1, b: x}`` — a YAML flow mapping of plain scalars."""
    return "{" + ", ".join(f"{key}: {value}" for key, value in items.items()) + "}"


def _text(value: str) -> str:
    """A string as a YAML scalar (JSON quoting is valid YAML)."""
    return json.dumps(value, ensure_ascii=False)


def _world(scenario: Scenario) -> list[str]:
    bank: dict[str, object] = {}
    terms, defaults = scenario.terms, ContractTerms()
    if terms.grace_days != defaults.grace_days:
        bank["grace_days"] = terms.grace_days
    if terms.arrears_tolerance != defaults.arrears_tolerance:
        bank["arrears_tolerance"] = _money(terms.arrears_tolerance)
    if terms.holiday_shift != defaults.holiday_shift:
        bank["holiday_shift"] = terms.holiday_shift
    policy, default_policy = scenario.bank, BankPolicy()
    if policy.batch_at != default_policy.batch_at:
        bank["batch_at"] = f'"{policy.batch_at:%H:%M}"'
    if policy.recon_max_wait != default_policy.recon_max_wait:
        bank["recon_max_wait"] = format_duration(policy.recon_max_wait)
    platform: dict[str, object] = {name: format_duration(getattr(scenario.platform, name))
                for name in ("forward_after", "retry_first", "retry_max")
                if getattr(scenario.platform, name) != getattr(PlatformPolicy(), name)}
    lines = []
    if bank:
        lines.append(f"  bank: {_flow(bank)}")
    if platform:
        lines.append(f"  platform: {_flow(platform)}")
    if scenario.defects:
        lines.append(f"  defects: [{', '.join(scenario.defects)}]")
    return ["world:", *lines] if lines else []


def _borrowers(scenario: Scenario) -> list[str]:
    lines = ["borrowers:"]
    for borrower in scenario.borrowers:
        loan = borrower.loan
        terms: dict[str, object] = {"principal": _money(loan.principal),
                                    "annual_rate": loan.annual_rate, "months": loan.months}
        if loan.method != "equal_installment":
            terms["method"] = loan.method
        terms["disbursed"] = loan.disbursed.isoformat()
        lines.append(f"  - id: {borrower.id}")
        lines.append(f"    loan: {_flow(terms)}")
        pays = borrower.pays
        if pays.kind != "manual":
            lines.append(f"    pays: {pays.kind}" + (f":{pays.days}" if pays.days else ""))
    return lines


def _action(action: Repay | Fault | Dispute | Check, at: datetime, tz: tzinfo) -> str:
    if isinstance(action, Repay):
        fields: dict[str, object] = {"borrower": action.borrower,
                                     "installment": action.installment}
        if action.via != "platform":
            fields["via"] = action.via
        if action.amount is not None:
            fields["amount"] = _money(action.amount)
        if action.short_by is not None:
            fields["short_by"] = _money(action.short_by)
        return f"repay: {_flow(fields)}"
    if isinstance(action, Fault):
        fields = {"kind": action.kind}
        fields.update({"link": action.link} if action.link else {"party": action.party})
        fields["for"] = format_duration(action.end.astimezone(UTC) - at.astimezone(UTC))
        if action.by is not None:
            fields["by"] = format_duration(action.by)
        if action.kind == "error":
            if action.status != 503:
                fields["status"] = action.status
            if action.rate is not None and action.rate != 1:
                fields["rate"] = action.rate.normalize()
        if action.may_not_fire:
            fields["may_not_fire"] = "true"
        return f"fault: {_flow(fields)}"
    if isinstance(action, Dispute):
        return f"dispute: {_flow({'borrower': action.borrower, 'period': action.period})}"
    return f"check: {{bureau: [{', '.join(_expectation(e) for e in action.bureau)}]}}"


def _expectation(expectation: BureauExpectation) -> str:
    return _flow({"borrower": expectation.borrower, "period": expectation.period,
                  "status": expectation.status})


def _expected(entry: ExpectedViolation) -> str:
    if not (entry.borrowers or entry.installments or entry.count is not None):
        return entry.invariant
    fields: dict[str, object] = {"invariant": entry.invariant}
    if entry.borrowers:
        fields["borrowers"] = f"[{', '.join(entry.borrowers)}]"
    if entry.installments:
        fields["installments"] = f"[{', '.join(str(n) for n in entry.installments)}]"
    if entry.count is not None:
        fields["count"] = entry.count
    return _flow(fields)


def _expect(expect: Expect) -> list[str]:
    if expect == Expect():
        return []
    lines = ["expect:"]
    if expect.invariants != INVARIANTS:
        lines.append(f"  invariants: [{', '.join(expect.invariants)}]")
    if expect.violations:
        lines.append("  violations:")
        lines.extend(f"    - {_expected(entry)}" for entry in expect.violations)
    if expect.bureau:
        lines.append("  bureau:")
        lines.extend(f"    - {_expectation(entry)}" for entry in expect.bureau)
    return lines


def _steps(steps: tuple[Step, ...], tz: tzinfo) -> list[str]:
    if not steps:
        return []
    lines = ["steps:"]
    for step in steps:
        lines.append(f"  - at: {_instant(step.at, tz)}")
        lines.append(f"    {_action(step.action, step.at, tz)}")
    return lines


def scenario_yaml(scenario: Scenario, *, comment: str | None = None) -> str:
    """The scenario file's text (``comment`` lines go at the top, each after ``# ``)."""
    tz = jurisdiction_of(scenario.jurisdiction).tz
    lines = [f"# {line}" for line in (comment or "").splitlines()]
    lines += [f"scenario: {scenario.id}", f"summary: {_text(scenario.summary)}"]
    if scenario.tags:
        lines.append(f"tags: [{', '.join(scenario.tags)}]")
    lines += [f"jurisdiction: {scenario.jurisdiction}", f"seed: {scenario.seed}",
              f"start: {_instant(scenario.start, tz)}",
              f"until: {_day_or_instant(scenario.until, tz)}"]
    lines += _world(scenario)
    lines += _borrowers(scenario)
    lines += _steps(scenario.steps, tz)
    lines += _expect(scenario.expect)
    return "\n".join(lines) + "\n"
