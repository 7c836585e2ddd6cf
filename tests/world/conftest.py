"""Fixtures of the world tests: the incident's defective-bank run, shared (tests only read it)."""

from __future__ import annotations

import pytest

from simulator.core.locator import data_path
from tests.support.watched import Watched, watch


@pytest.fixture(scope="session")
def defective_incident() -> Watched:
    """``incident/docking-failure-defective-bank.yaml`` run once for the tests that read it
    (its verdict, its report, its journal)."""
    return watch(data_path("scenarios") / "incident" / "docking-failure-defective-bank.yaml")
