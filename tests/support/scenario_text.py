"""Scenario YAML for tests: a small valid scenario, with the parts a test overrides.

``scenario_text(**overrides)`` starts from :data:`BASE` — one CN borrower with a
three-month loan, two months of virtual time — and replaces top-level keys
(``None`` removes one). The builders (:func:`borrower`, :func:`repay`,
:func:`fault`, …) produce the pieces in the scenario format of README, "Scenario reference", so a
test reads like the scenario it runs::

    text = scenario_text(
        world=world(defects=["bank.reports_without_reconciliation"]),
        steps=[*docking_outage("2026-02-01T08:00", "3d"), repay("2026-02-01T21:00")],
    )

Money is written as YAML numbers with two decimals (never a ``float``),
instants and dates as text, exactly as a user writes them.
"""

from __future__ import annotations

import copy
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from simulator.scenarios.loader import load_scenario_text
from simulator.scenarios.model import Scenario

__all__ = [
    "BASE",
    "borrower",
    "check",
    "docking_outage",
    "fault",
    "generated",
    "line_of",
    "load",
    "money",
    "repay",
    "scenario_dict",
    "scenario_text",
    "world",
    "write_scenario",
]


#: A malformed scenario: line 7 misspells ``loan`` (the loader must name file:line and key).
MALFORMED = """\
scenario: malformed
summary: A key is misspelt.
start: 2026-01-01T09:00
until: 2026-03-01
borrowers:
  - id: alice
    laon: {principal: 1000.00, annual_rate: 0.12, months: 3, disbursed: 2026-01-01}
"""


class _Dumper(yaml.SafeDumper):
    """Writes a Decimal as a plain YAML number (``1000.00``), keeping its digits."""


def _represent_decimal(dumper: yaml.SafeDumper, value: Decimal) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:float", str(value))


_Dumper.add_representer(Decimal, _represent_decimal)


def money(amount: str | Decimal) -> Decimal:
    """An amount in major units, as a scenario writes it (``"12.50"``)."""
    return Decimal(amount)


def borrower(handle: str = "alice", *, principal: str = "1000.00", annual_rate: str = "0.12",
             months: int = 3, disbursed: str = "2026-01-01", pays: str = "manual",
             method: str | None = None, **extra: Any) -> dict[str, Any]:
    """A named borrower with one loan; ``extra`` adds keys such as ``id_number``."""
    loan: dict[str, Any] = {"principal": money(principal), "annual_rate": money(annual_rate),
                            "months": months}
    if method is not None:
        loan["method"] = method
    loan["disbursed"] = disbursed
    return {"id": handle, "loan": loan, "pays": pays, **extra}


def generated(count: int, *, principal: str = "500.00", annual_rate: str = "0.12",
              months: int = 3, disbursed: str = "2026-01-01", pays: str = "on_due_date",
              **extra: Any) -> dict[str, Any]:
    """A block of ``count`` generated borrowers (ids ``b0001``…)."""
    return {
        "count": count,
        "loan": {"principal": money(principal), "annual_rate": money(annual_rate),
                 "months": months, "disbursed": disbursed},
        "pays": pays,
        **extra,
    }


def repay(at: str, borrower: str = "alice", installment: int = 1,
          **extra: Any) -> dict[str, Any]:
    """A ``repay`` step (all that is due unless ``amount``/``short_by`` is given)."""
    return {"at": at, "repay": {"borrower": borrower, "installment": installment, **extra}}


def fault(at: str, kind: str, **extra: Any) -> dict[str, Any]:
    """A ``fault`` step: ``link=``/``party=`` and ``for_=`` (written ``for``) or ``until=``."""
    body: dict[str, Any] = {"kind": kind}
    for key, value in extra.items():
        body[key.rstrip("_")] = value
    return {"at": at, "fault": body}


def docking_outage(at: str, duration: str) -> list[dict[str, Any]]:
    """The incident's fault: the repayment API and the reconciliation file both down."""
    return [fault(at, "outage", link="platform->bank", for_=duration),
            fault(at, "outage", link="recon", for_=duration)]


def check(at: str, *expectations: tuple[str, str, str]) -> dict[str, Any]:
    """A ``check`` step listing ``(borrower, period, status)`` bureau expectations."""
    return {"at": at, "check": {"bureau": [
        {"borrower": who, "period": period, "status": status}
        for who, period, status in expectations]}}


def world(*, defects: list[str] | None = None, **parties: dict[str, Any]) -> dict[str, Any]:
    """The ``world`` key: ``bank={...}``, ``platform={...}`` and ``defects=[...]``."""
    result: dict[str, Any] = dict(parties)
    if defects is not None:
        result["defects"] = list(defects)
    return result


#: The smallest useful scenario: it loads, runs in a few hundredths of a second, passes.
BASE: dict[str, Any] = {
    "scenario": "test-scenario",
    "summary": "A scenario built by the test suite.",
    "jurisdiction": "CN",
    "seed": 1,
    "start": "2026-01-01T09:00",
    "until": "2026-03-01",
    "borrowers": [borrower()],
}


def scenario_dict(**overrides: Any) -> dict[str, Any]:
    """:data:`BASE` with top-level keys replaced (a value of ``None`` removes the key)."""
    data = copy.deepcopy(BASE)
    for key, value in overrides.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = copy.deepcopy(value)
    return data


def scenario_text(**overrides: Any) -> str:
    """The YAML text of :func:`scenario_dict` (keys in the order written)."""
    text: str = yaml.dump(scenario_dict(**overrides), Dumper=_Dumper, sort_keys=False,
                          allow_unicode=True, default_flow_style=None, width=120)
    return text


def load(**overrides: Any) -> Scenario:
    """The scenario of :func:`scenario_text`, loaded and validated."""
    return load_scenario_text(scenario_text(**overrides))


def write_scenario(path: Path, **overrides: Any) -> Path:
    """Write :func:`scenario_text` to ``path`` (creating folders) and return ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(scenario_text(**overrides), encoding="utf-8")
    return path


def line_of(text: str, needle: str) -> int:
    """The 1-based number of the first line of ``text`` containing ``needle``."""
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    raise ValueError(f"{needle!r} is not in the text")
