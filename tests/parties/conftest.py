"""Fixtures for the party tests: a world factory and the jurisdiction axis."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.worlds import MakeWorld, world_factory


@pytest.fixture
def make_world() -> Iterator[MakeWorld]:
    """A factory: ``make_world(jurisdiction="US", defects=[...], steps=[...])`` → a new World
    (its party databases are closed at teardown)."""
    yield from world_factory()


@pytest.fixture(params=["CN", "US"], ids=["CN", "US"])
def jurisdiction(request: pytest.FixtureRequest) -> str:
    """Both jurisdictions, for behaviour that must not depend on the rule profile."""
    return str(request.param)
