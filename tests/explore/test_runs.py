"""One explored run: violations and escaped exceptions are findings; journals compared."""

from __future__ import annotations

import pytest

from simulator.explore.generate import generate_world
from simulator.explore.runs import EXCEPTION, first_difference, play
from simulator.parties.platform import Platform


def test_a_clean_world_has_no_finding() -> None:
    """A generated world on the reference parties violates nothing (run 0 of seed 3)."""
    played = play(generate_world(3, 0))
    assert played.violated == () and played.error is None and played.events > 0


def test_a_planted_defect_is_a_finding_with_its_first_message() -> None:
    """With bank.utc_cutoff planted, run 4 of seed 3 violates no_false_overdue; the finding
    counts the violations and keeps the first one's message."""
    played = play(generate_world(3, 4), ("bank.utc_cutoff",))
    assert "no_false_overdue" in played.violated
    assert played.counts["no_false_overdue"] >= 1
    assert "before its due end" in played.first["no_false_overdue"]


def test_an_exception_escaping_the_world_is_a_finding_with_its_place(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A party that raises (here the platform's nightly file) does not stop the campaign: the
    run's finding names the exception and the line of lendsim it escaped from."""
    def broken(self: Platform) -> None:
        raise RuntimeError("the nightly file broke")

    monkeypatch.setattr(Platform, "_daily_reconciliation", broken)
    played = play(generate_world(3, 0))
    assert played.violated == (EXCEPTION,)
    assert played.error is not None and "RuntimeError" in played.error
    assert "the nightly file broke" in played.error
    # the innermost frame in lendsim's own code: the scheduler that called the broken timer
    assert played.error_site is not None
    assert played.error_site.startswith("RuntimeError@simulator/core/clock.py:")


@pytest.mark.parametrize(("first", "second", "expected"), [
    pytest.param(["a", "b", "c"], ["a", "x", "c"], (2, "b", "x"), id="differs"),
    pytest.param(["a", "b"], ["a", "b", "c"], (3, None, "c"), id="second-longer"),
    pytest.param(["a"], [], (1, "a", None), id="second-empty"),
])
def test_first_difference_names_the_entry_where_journals_part(
    first: list[str], second: list[str], expected: tuple[int, str | None, str | None],
) -> None:
    """Sequence numbers count from 1; a journal that ended is shown as None."""
    assert first_difference(first, second) == expected
