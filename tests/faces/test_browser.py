"""The HTML report in a real browser: Chromium from the system packages, driven by Playwright.

The page must load with no console error and no request beyond itself, and draw the
timeline of a violating borrower; a screenshot goes to ``artifacts/`` (or
``$LENDSIM_ARTIFACTS``) for CI to keep. Without Chromium the tests are skipped — unless
``LENDSIM_BROWSER=required`` (set by ``.ci/run``), when that is a failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from simulator.faces.cli import app
from tests.support.explained import ID_NUMBER, INCIDENT_STEPS
from tests.support.scenario_text import borrower, generated, write_scenario

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: Chromium as CI runs it: headless, no sandbox (root in a container), nothing phoning home
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(os.environ.get("LENDSIM_ARTIFACTS")
                 or Path(__file__).resolve().parents[2] / "artifacts")
PLANTED = "bank.reports_without_reconciliation"


def _unavailable(why: str) -> None:
    if os.environ.get("LENDSIM_BROWSER") == "required":
        pytest.fail(f"the browser test must run here: {why}")
    pytest.skip(why)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium from the system packages, headless."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -e '.[test]')")
    if not Path(CHROMIUM).exists():
        _unavailable("Chromium is not installed (apt-get install -y chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


class Opened:
    """A page, with every console error, page error and request it made."""

    def __init__(self, browser: Any, url: str) -> None:
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page = browser.new_page(viewport={"width": 1280, "height": 900})
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error"
                     else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.goto(url, wait_until="load")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The HTML report ``lendsim run --html`` writes for the incident with its defect."""
    folder = tmp_path_factory.mktemp("browser")
    scenario = write_scenario(
        folder / "scenarios" / "incident-in-a-browser.yaml", scenario="incident-in-a-browser",
        until="2026-03-05", steps=INCIDENT_STEPS,
        borrowers=[borrower(id_number=ID_NUMBER, principal="1200.00"), generated(3)])
    page = folder / "report.html"
    result = CliRunner().invoke(app, ["run", str(scenario), "--defect", PLANTED,
                                      "--html", str(page), "-j", "1"])
    assert result.exit_code == 1, result.output
    return page


def test_report_loads_cleanly_and_draws_the_violating_borrowers_timeline(
        browser: Any, report: Path) -> None:
    """No console error and no request beyond the file; alice's timeline is drawn with its
    lanes, marks and violation flags; following a flag opens its row; screenshots are kept."""
    opened = Opened(browser, report.as_uri())
    page = opened.page
    drawing = page.locator('svg.timeline[data-borrower="alice"]')
    drawing.wait_for(state="visible")
    box = drawing.bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 150
    assert drawing.locator(".lane-name").count() == 7  # six lanes and the violations row
    assert drawing.locator("g.mark").count() > 10
    flags = drawing.locator("g.flag.unexpected")
    assert flags.count() == 2
    flag_box = flags.first.bounding_box()
    assert flag_box is not None and flag_box["width"] > 0
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report.png"))
    drawing.screenshot(path=str(ARTIFACTS / "timeline-alice.png"))
    flags.first.click()
    target = page.locator(":target")
    target.wait_for(state="visible")
    assert "no_false_overdue" in target.inner_text()
    assert opened.errors == []
    assert all(url.startswith(("file:", "data:", "about:")) for url in opened.requests), \
        opened.requests
    assert (ARTIFACTS / "report.png").stat().st_size > 10_000


def test_a_folded_violation_opens_when_linked(browser: Any, report: Path) -> None:
    """Following a link to a violation inside a closed section opens it (the page's script)."""
    opened = Opened(browser, report.as_uri() + "#s0-v-no_false_overdue_sms-0")
    item = opened.page.locator("#s0-v-no_false_overdue_sms-0")
    item.wait_for(state="visible")
    assert "overdue warning" in item.inner_text()
    assert opened.errors == []


def test_the_check_would_see_a_console_error(browser: Any, tmp_path: Path) -> None:
    """The console watch is real: a page that logs an error is caught."""
    broken = tmp_path / "broken.html"
    broken.write_text("<!doctype html><title>x</title><script>console.error('boom');"
                      "undefinedFunction();</script>", encoding="utf-8")
    opened = Opened(browser, broken.as_uri())
    assert any("boom" in error for error in opened.errors)
    assert any("undefinedFunction" in error for error in opened.errors)
