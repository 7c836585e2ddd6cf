"""A system's profile: what a user's bank or platform promises, judged against the law.

A profile is a small YAML file (schema ``contracts/profile.schema.json``;
README, "Test your own bank or platform")::

    role: bank
    jurisdictions: [CN]
    crash: true
    day_end: "00:30"
    recon_wait: 2d
    reports_within: 1d
    corrects_within: 20d
    terms: {grace_days: 3, arrears_tolerance: 1.00, holiday_shift: [none]}

The invariants judge a system by the tighter of its promise and the
jurisdiction's legal limit (:meth:`Profile.limits`); a promise beyond a legal
limit is itself a finding (:meth:`Profile.beyond_the_law`). What a profile does
not declare is judged by the legal limits, and every loan term is assumed to be
honoured. Without a profile file a system gets :meth:`Profile.default`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from simulator.checks.facts import Limits
from simulator.core.calendars import Jurisdiction
from simulator.core.calendars import jurisdiction as jurisdiction_of
from simulator.core.durations import format_duration, parse_clock_time, parse_duration
from simulator.core.errors import LendsimError, ScenarioError
from simulator.scenarios.schema_check import validate_document
from simulator.scenarios.yaml_lines import parse_yaml

__all__ = ["Profile", "load_profile"]

#: a profile is a few lines; anything larger is not one
_MAX_BYTES = 64 * 1024


@dataclass(frozen=True)
class Profile:
    """What a system in ``role`` promises; ``None``: not declared."""

    role: str
    jurisdictions: tuple[str, ...] = ("CN", "US")
    crash: bool | None = None
    day_end: time | None = None
    recon_wait: timedelta | None = None
    reports_within: timedelta | None = None
    corrects_within: timedelta | None = None
    forwards_within: timedelta | None = None
    grace_days: int | None = None
    #: the largest arrears tolerance honoured, in minor units
    arrears_tolerance: int | None = None
    holiday_shifts: tuple[str, ...] | None = None
    file: str | None = None

    @classmethod
    def default(cls, role: str) -> Profile:
        """No promise beyond the law."""
        return cls(role)

    def _promises(self, jurisdiction: Jurisdiction) -> list[tuple[str, timedelta | None,
                                                                  timedelta]]:
        return [
            ("recon_wait", self.recon_wait, jurisdiction.recon_wait_limit),
            ("reports_within", self.reports_within, jurisdiction.reporting_cycle),
            ("corrects_within", self.corrects_within, jurisdiction.correction_limit),
            ("forwards_within", self.forwards_within, jurisdiction.in_transit_limit),
        ]

    def beyond_the_law(self) -> list[str]:
        """Each promise beyond a legal limit of a jurisdiction it serves, worded."""
        found = []
        for code in self.jurisdictions:
            for name, promised, legal in self._promises(jurisdiction_of(code)):
                if promised is not None and promised > legal:
                    found.append(f"{name} {format_duration(promised)} is beyond the legal "
                                 f"limit in {code}, {format_duration(legal)}")
        return found

    def limits(self, jurisdiction: Jurisdiction) -> Limits:
        """The bounds a run in ``jurisdiction`` is judged by: each promise, never looser than
        the law."""
        def tighter(promised: timedelta | None, legal: timedelta) -> timedelta:
            return legal if promised is None else min(promised, legal)

        return Limits(
            recon_wait=tighter(self.recon_wait, jurisdiction.recon_wait_limit),
            in_transit=tighter(self.forwards_within, jurisdiction.in_transit_limit),
            reporting=tighter(self.reports_within, jurisdiction.reporting_cycle),
            correction=tighter(self.corrects_within, jurisdiction.correction_limit))

    def describe(self) -> list[str]:
        """The declared promises, one per line (for a report)."""
        lines = [f"role {self.role}", f"jurisdictions {', '.join(self.jurisdictions)}"]
        if self.crash is not None:
            lines.append(f"crash {'supported' if self.crash else 'not supported'}")
        if self.day_end is not None:
            lines.append(f"day_end {self.day_end.strftime('%H:%M')}")
        for name in ("recon_wait", "reports_within", "corrects_within", "forwards_within"):
            value = getattr(self, name)
            if value is not None:
                lines.append(f"{name} {format_duration(value)}")
        if self.grace_days is not None:
            lines.append(f"grace_days up to {self.grace_days}")
        if self.arrears_tolerance is not None:
            lines.append(f"arrears_tolerance up to {self.arrears_tolerance} minor units")
        if self.holiday_shifts is not None:
            lines.append(f"holiday_shift {', '.join(self.holiday_shifts)}")
        return lines


def load_profile(path: Path, *, role: str | None = None) -> Profile:
    """The profile in the YAML file ``path``; a mistake raises a
    :class:`~simulator.core.errors.ScenarioError` naming the line and key. ``role``: the
    role it must be for (``--role``)."""
    name = str(path)
    try:
        with Path(path).open("rb") as stream:
            raw = stream.read(_MAX_BYTES + 1)
    except OSError as error:
        raise LendsimError(f"{name}: cannot read the profile ({error.strerror})") from None
    if len(raw) > _MAX_BYTES:
        raise LendsimError(f"{name}: over {_MAX_BYTES:,} bytes: not a profile")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise LendsimError(f"{name}: the profile is not UTF-8 text") from None
    document = parse_yaml(text, name)
    validate_document(document, name, schema="profile.schema.json")
    profile = _build(document, name)
    if role is not None and profile.role != role:
        raise ScenarioError(f"the profile is for the {profile.role}, not the {role}",
                            file=name, line=1, key="role")
    return profile


def _build(document: dict[str, Any], name: str) -> Profile:
    def duration(key: str) -> timedelta | None:
        value = document.get(key)
        return None if value is None else parse_duration(value, what=key)

    terms = document.get("terms") or {}
    tolerance = terms.get("arrears_tolerance")
    minor: int | None = None
    if tolerance is not None:
        amount = Decimal(str(tolerance))
        exponent = amount.as_tuple().exponent
        if isinstance(exponent, int) and exponent < -2:
            raise ScenarioError("'arrears_tolerance' must have at most 2 decimals",
                                file=name, key="terms.arrears_tolerance")
        minor = int(amount.scaleb(2))
    shifts = terms.get("holiday_shift")
    return Profile(
        role=str(document["role"]),
        jurisdictions=tuple(document.get("jurisdictions") or ("CN", "US")),
        crash=document.get("crash"),
        day_end=parse_clock_time(document["day_end"], what="day_end")
        if document.get("day_end") is not None else None,
        recon_wait=duration("recon_wait"), reports_within=duration("reports_within"),
        corrects_within=duration("corrects_within"),
        forwards_within=duration("forwards_within"),
        grace_days=terms.get("grace_days"), arrears_tolerance=minor,
        holiday_shifts=tuple(shifts) if shifts is not None else None, file=name)
