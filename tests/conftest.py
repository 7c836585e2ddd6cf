"""Shared test configuration: hypothesis profiles.

``dev`` (the default) keeps the suite quick; ``ci`` runs more examples::

    HYPOTHESIS_PROFILE=ci python3 -m pytest
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import settings

from tests.support.worlds import MakeWorld, world_factory

settings.register_profile("dev", max_examples=50, deadline=None)
settings.register_profile("ci", max_examples=300, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def pytest_configure(config: pytest.Config) -> None:
    """Let hypothesis report a failing example under ``filterwarnings = error``.

    On failure hypothesis imports libcst, whose import of ``mypy_extensions.TypedDict``
    warns; as an error that turns every falsified property into an INTERNALERROR.
    """
    config.addinivalue_line(
        "filterwarnings",
        "ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning",
    )


@pytest.fixture
def make_world() -> Iterator[MakeWorld]:
    """A factory: ``make_world(jurisdiction="US", defects=[...], steps=[...])`` → a new World
    (its party databases are closed at teardown)."""
    yield from world_factory()


@pytest.fixture(params=["CN", "US"], ids=["CN", "US"])
def jurisdiction(request: pytest.FixtureRequest) -> str:
    """Both jurisdictions, for behaviour that must not depend on the rule profile."""
    return str(request.param)
