"""The example bank (examples/bank_starlette), started by lendsim as a command: clean, it
passes library scenarios; with its bug switch on, lendsim names the invariant the bug
breaks."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.support.example_systems import EXAMPLES, run_with

TARGET = f"command:{sys.executable} examples/bank_starlette/app.py --port {{port}}"
PROFILE = EXAMPLES / "bank_starlette" / "profile.yaml"


def test_the_bank_passes_reporting_and_idempotency_scenarios(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A delinquency reported from one day late and a repayment retried after a lost answer
    both pass with the example bank in the bank's role, and each bank lendsim stopped
    removed its database folder."""
    monkeypatch.delenv("EXAMPLE_BUG", raising=False)
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # where the started bank keeps its database
    results = run_with("bank", TARGET, PROFILE, [
        "reporting/cn-reported-from-one-day-late.yaml",
        "ambiguity/timeout-after-commit-retry-same-key.yaml",
    ])
    assert [v.reasons() for v in results] == [[]] * 2
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_bank_that_ignores_the_idempotency_key_posts_a_retry_twice(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """With EXAMPLE_BUG=1 the platform's retry after a lost answer is posted again: lendsim
    fails the scenario with exactly_once_posting."""
    monkeypatch.setenv("EXAMPLE_BUG", "1")
    (result,) = run_with("bank", TARGET, PROFILE,
                         ["ambiguity/timeout-after-commit-retry-same-key.yaml"])
    assert result.error is None and result.failed
    assert "exactly_once_posting" in result.unexpected
