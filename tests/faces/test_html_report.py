"""The HTML report: one self-contained page with the summary, every violation and timelines."""

from __future__ import annotations

import re
from datetime import datetime
from html.parser import HTMLParser

import pytest

from simulator.faces.batch import Done
from simulator.faces.html_report import RunFacts, html_report
from tests.support.explained import ID_NUMBER, explained_run

PLANTED = "bank.reports_without_reconciliation"


class Page(HTMLParser):
    """Every id, every link target and every resource reference of a page."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.links: list[str] = []
        self.fetches: list[str] = []
        self.tags: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name == "id" and value:
                self.ids.append(value)
            if name == "href" and value:
                self.links.append(value)
            if name in ("src", "srcset", "data", "poster") or (
                    name == "href" and tag in ("link", "use", "image")):
                self.fetches.append(f"{tag} {name}={value}")


@pytest.fixture(scope="module")
def runs() -> list[Done]:
    """A failing explained run (the incident with its defect) and a passing one."""
    return [explained_run(), explained_run(defects=(), scenario="incident-small-correct")]


@pytest.fixture(scope="module")
def page(runs: list[Done]) -> str:
    """The report of both runs, with a system under test named."""
    facts = RunFacts(datetime(2026, 5, 4, 9, 30).astimezone(), 12.5, (PLANTED,), workers=2,
                     sut="acme-bank 4.2 at https://sandbox.acme.example", version="9.9.9")
    return html_report([r for r, _ in runs], [e for _, e in runs], facts)


def test_page_is_self_contained(page: str) -> None:
    """Nothing is fetched: no src, no stylesheet or image link, no CSS url() or @import; the
    only address is the SVG namespace (and the system under test's name, as text)."""
    parsed = Page(page)
    assert parsed.fetches == []
    assert "url(" not in page and "@import" not in page
    addresses = set(re.findall(r"https?://[^\s\"'<]+", page))
    assert addresses <= {"http://www.w3.org/2000/svg", "https://sandbox.acme.example"}
    assert "script" in parsed.tags and "style" in parsed.tags


def test_every_link_inside_the_page_has_a_target(page: str) -> None:
    """Each in-page link (marks, flags, timelines, evidence) points at an element that exists,
    and no id is used twice."""
    parsed = Page(page)
    assert len(parsed.ids) == len(set(parsed.ids))
    targets = set(parsed.ids)
    local = [link[1:] for link in parsed.links if link.startswith("#")]
    assert local and all(link in targets for link in local), \
        sorted(set(local) - targets)[:5]


def test_summary_has_counts_time_defects_and_the_system_under_test(page: str) -> None:
    """The summary says how many passed and failed, the run time, the planted defect, the
    system under test and lendsim's version."""
    assert "1 of 2 scenario(s) failed" in page
    assert "2: 1 passed, 1 failed" in page
    assert "12.5 s wall" in page and "in 2 process(es)" in page
    assert f"<dt>planted defects</dt><dd>{PLANTED}</dd>" in page
    assert "<dt>system under test</dt><dd>acme-bank 4.2 at https://sandbox.acme.example</dd>" \
        in page
    assert "9.9.9" in page


def test_every_violation_is_listed_with_its_evidence(runs: list[Done], page: str) -> None:
    """All violations appear (not cut to a few), each with its journal entries in local time."""
    result, _ = runs[0]
    violated = {name: found for name, found in result.violations.items() if found}
    assert set(violated) == {"no_false_overdue", "no_false_overdue_sms"}
    for name, found in violated.items():
        listed = re.findall(rf'<li id="s0-v-{name}-\d+">', page)
        assert len(listed) == len(found) == 4
    assert "+08:00 credit_file.changed" in page
    assert "… and" not in page


def test_violating_borrowers_have_drawn_timelines(runs: list[Done], page: str) -> None:
    """Each borrower named in a violation has an SVG timeline with flags and marks."""
    result, _ = runs[0]
    named = {v.borrower for found in result.violations.values() for v in found}
    assert named == {"alice", "b0001", "b0002", "b0003"}
    for borrower in named:
        drawing = re.search(rf'<svg class="timeline"[^>]*data-borrower="{borrower}".*?</svg>',
                            page, re.S)
        assert drawing is not None, borrower
        assert 'class="flag unexpected"' in drawing.group(0)
        assert drawing.group(0).count('class="mark') >= 5


def test_passing_run_shows_its_protagonist(page: str) -> None:
    """The passing scenario, with no violation, still draws the borrower its steps name."""
    section = page[page.index('<section class="scenario pass" id="s1">'):]
    assert 'data-borrower="alice"' in section
    assert 'class="flag' not in section.split("</section>")[0]


def test_expected_violations_are_labelled() -> None:
    """A scenario that declares its violations shows them as expected, in the table and in its
    section, and passes."""
    result, explanation = explained_run(
        scenario="incident-expected", expected=("no_false_overdue", "no_false_overdue_sms"))
    assert result.passed
    page = html_report([result], [explanation])
    assert page.count('<span class="tag-exp">expected</span>') == 4  # table ×2, sections ×2
    assert '<span class="tag-bad">' not in page


def test_no_personal_data(page: str) -> None:
    """The ID number shows only masked."""
    assert ID_NUMBER not in page
    assert "1101**********1234" in page


def test_picked_borrower_is_drawn() -> None:
    """A borrower picked with --borrower gets a timeline even in a passing run."""
    result, explanation = explained_run(defects=(), picks=("b0002",))
    page = html_report([result], [explanation])
    assert 'data-borrower="b0002"' in page


def test_a_passing_run_with_expected_violations_draws_fewer_timelines() -> None:
    """All of a passing run's violations are expected: at most TIMELINES_WHEN_EXPECTED
    timelines are drawn, the scenario's own borrower first; the page lists the others."""
    from simulator.faces.explain import TIMELINES_WHEN_EXPECTED, choose_borrowers

    result, explanation = explained_run(
        scenario="incident-crowd", expected=("no_false_overdue", "no_false_overdue_sms"),
        crowd=12)
    assert result.passed and explanation is not None
    chosen, named = choose_borrowers(result, limit=50)
    assert len(named) == 13 and named[0] == "alice"
    assert chosen == named[:TIMELINES_WHEN_EXPECTED] == \
        [t.borrower for t in explanation.timelines]
    page = html_report([result], [explanation])
    assert page.count('<svg class="timeline"') == TIMELINES_WHEN_EXPECTED
    assert "also named in violations: b0010, b0011, b0012" in page
