"""Retry pauses: capped exponential backoff for any number of failed tries."""

from __future__ import annotations

from datetime import timedelta

import pytest

from simulator.parties.outbox import backoff


@pytest.mark.parametrize(("first", "cap"), [(1, 3600), (30, 600), (300, 1800), (3600, 86_400)])
def test_backoff_doubles_up_to_the_cap_for_any_number_of_tries(first: int, cap: int) -> None:
    """The pause after try n is first × 2^(n-1) seconds, at most the cap, also after a day of
    failures (a 5-minute first pause once overflowed the 37th try)."""
    for attempts in range(1, 200):
        expected = min(first * 2 ** (attempts - 1), cap)  # Python integers never overflow
        assert backoff(attempts, timedelta(seconds=first), timedelta(seconds=cap)) == \
            timedelta(seconds=expected), attempts


def test_backoff_counts_failed_tries_from_one() -> None:
    """Zero failed tries is a caller's mistake, named as such."""
    with pytest.raises(ValueError, match="from 1"):
        backoff(0, timedelta(minutes=1), timedelta(hours=1))
