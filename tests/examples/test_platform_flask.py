"""The example platform (examples/platform_flask) under lendsim: clean, it passes library
scenarios; with its bug switch on, lendsim names the invariant the bug breaks."""

from __future__ import annotations

import pytest

from tests.support.example_systems import EXAMPLES, run_with

TARGET = "python:examples.platform_flask.app:create_app"
PROFILE = EXAMPLES / "platform_flask" / "profile.yaml"


def test_the_platform_passes_outage_crash_and_ambiguity_scenarios(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """An outage across the day-end batch, a crash with pending forwards and a timeout after
    commit all pass with the example platform in the platform's role."""
    monkeypatch.delenv("EXAMPLE_BUG", raising=False)
    results = run_with("platform", TARGET, PROFILE, [
        "outages/api-down-across-day-end-batch.yaml",
        "crashes/platform-crash-with-pending-forwards.yaml",
        "ambiguity/timeout-after-commit-retry-same-key.yaml",
    ])
    assert [v.reasons() for v in results] == [[]] * 3


def test_a_platform_that_drops_failed_forwards_loses_repayments(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """With EXAMPLE_BUG=1 a forward refused by the outage is marked forwarded: lendsim fails the
    scenario with exactly_once_posting for the repayment the bank never got."""
    monkeypatch.setenv("EXAMPLE_BUG", "1")
    (result,) = run_with("platform", TARGET, PROFILE,
                         ["outages/api-down-across-day-end-batch.yaml"])
    assert result.error is None and result.failed
    assert "exactly_once_posting" in result.unexpected
    lost = result.violations["exactly_once_posting"]
    assert any("never posted" in v.message for v in lost)
