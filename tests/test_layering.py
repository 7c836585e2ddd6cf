"""The layering of ARCHITECTURE.md holds: no module imports a layer it must not."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "simulator"

FOUNDATIONS = {"errors", "privacy", "rng", "clock", "calendars", "amortization", "durations",
               "locator", "headers"}
MODEL = {"scenario", "defects"}
#: module -> the simulator modules it may import (parties/* counted as "parties")
ALLOWED: dict[str, set[str]] = {
    **{name: FOUNDATIONS for name in FOUNDATIONS},
    **{name: FOUNDATIONS | MODEL for name in MODEL},
    "contracts": FOUNDATIONS,
    "signing": FOUNDATIONS,
    "http": FOUNDATIONS | {"contracts", "signing", "links", "journal"},
    "journal": {"clock"},
    "links": {"clock", "journal"},
    "parties": FOUNDATIONS | MODEL | {"journal", "links", "parties"},
    "oracle": FOUNDATIONS | MODEL,
    "invariants": FOUNDATIONS | MODEL | {"journal", "oracle"},
}


def _layer(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return "parties" if relative.parts[0] == "parties" else relative.stem


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = [node.module or ""] if isinstance(node, ast.ImportFrom) else (
            [alias.name for alias in node.names] if isinstance(node, ast.Import) else [])
        for name in names:
            parts = name.split(".")
            if parts[0] == "simulator" and len(parts) > 1:
                found.add(parts[1])
    return found


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if _layer(p) in ALLOWED)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_imports_only_lower_layers(path: Path) -> None:
    """Each layered module imports only the simulator modules its layer allows."""
    forbidden = _imports(path) - ALLOWED[_layer(path)]
    assert forbidden == set(), f"{path.name} must not import {sorted(forbidden)}"


def test_the_oracle_shares_no_code_with_the_parties() -> None:
    """The truth is computed without any party code, so a planted defect cannot corrupt it."""
    assert "parties" not in _imports(PACKAGE / "oracle.py")
