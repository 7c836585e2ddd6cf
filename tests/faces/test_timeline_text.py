"""A timeline as terminal text: 80 columns, local days with their offset, flags in place."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

import pytest

from simulator.faces.batch import Job, run_job
from simulator.faces.explain import Explanation
from simulator.faces.timeline_text import offset_of, render_text
from simulator.scenarios.loader import load_scenario_text
from tests.support.explained import explained_run
from tests.support.scenario_text import borrower, repay, scenario_text

NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture(scope="module")
def explanation() -> Explanation:
    """The small incident with its defect planted, explained."""
    _, explained = explained_run()
    assert explained is not None
    return explained


@pytest.fixture(scope="module")
def lines(explanation: Explanation) -> list[str]:
    """Alice's timeline as plain lines, 80 columns wide."""
    return [line.plain for line in render_text(explanation.timelines[0], width=80)]


def test_every_line_fits_80_columns(lines: list[str]) -> None:
    """No line is longer than 80 columns; nothing is cut (long text wraps under itself)."""
    assert all(len(line) <= 80 for line in lines), max(lines, key=len)
    words = [word for line in lines for word in line.split() if not word.startswith("#")]
    assert "acts without the reconciliation file: 4 text(s), 4 report(s)" in " ".join(words)


def test_days_start_with_their_date_and_offset(lines: list[str]) -> None:
    """A day's marks come under a header naming the date, the weekday and +08:00."""
    assert " 2026-02-01 Sun +08:00" in lines
    assert " 2026-02-02 Mon +08:00" in lines


def test_marks_show_local_time_lane_and_entry(lines: list[str]) -> None:
    """The repayment reads at 21:00 on the borrower lane with its journal entry's number."""
    [line] = [line for line in lines if "repays in the app" in line]
    assert line.startswith("  21:00 borrower ")
    assert line.rstrip().split()[-1].startswith("#")


def test_violations_follow_the_entry_that_shows_them(lines: list[str]) -> None:
    """The ▲ no_false_overdue line comes right under the overdue credit-file change the world
    saw, which carries ! in the gutter; so does the text for no_false_overdue_sms."""
    record = next(i for i, line in enumerate(lines)
                  if "credit file now: installment 1" in line)
    assert lines[record][18] == "!"
    after = [line.strip() for line in lines[record + 1:record + 4]]
    assert any(line.startswith("▲ no_false_overdue:") for line in after), after
    text = next(i for i, line in enumerate(lines) if "text from bank: overdue_warning" in line)
    assert any("▲ no_false_overdue_sms:" in line for line in lines[text + 1:text + 4])


def test_fault_windows_mark_the_lanes_they_cover(lines: list[str]) -> None:
    """Lines of platform marks during the outage carry ┃; the borrower's repayment does not
    (the outage is on platform->bank, not borrower->platform)."""
    refused = next(line for line in lines if "→ refused (outage)" in line)
    assert refused[17] == "┃"
    repaid = next(line for line in lines if "repays in the app" in line)
    assert repaid[17] == " "


def test_offset_of_a_day_names_a_daylight_saving_change() -> None:
    """New York's offset is -05:00 in winter, -04:00 in summer, and both on the day it turns."""
    assert offset_of(date(2026, 1, 15), NEW_YORK) == "-05:00"
    assert offset_of(date(2026, 7, 15), NEW_YORK) == "-04:00"
    assert offset_of(date(2026, 3, 8), NEW_YORK) == "-05:00→-04:00"
    assert offset_of(date(2026, 11, 1), NEW_YORK) == "-04:00→-05:00"


def test_lines_on_a_daylight_saving_day_carry_their_offset() -> None:
    """On the day New York falls back, each line names its offset: 01:00 happens twice."""
    text = scenario_text(jurisdiction="US", start="2026-10-01T09:00", until="2026-11-10",
                         borrowers=[borrower("dana", disbursed="2026-10-01")],
                         steps=[repay("2026-11-01T23:30", borrower="dana")])
    _, explained = run_job(Job(load_scenario_text(text), explain=True))
    assert explained is not None
    lines = [line.plain for line in render_text(explained.timelines[0])]
    start = lines.index(" 2026-11-01 Sun -04:00→-05:00")
    day = lines[start + 1:lines.index(" 2026-11-02 Mon -05:00")]
    marks = [line for line in day if line.startswith("  ") and line[2:4].isdigit()]
    assert marks and all("[-04:00]" in line or "[-05:00]" in line for line in marks)
