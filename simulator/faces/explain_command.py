"""The work of ``lendsim explain``: find the scenario, run it, print its verdict and timelines.

A scenario is named by its file, or by its id when a file under the default
folders (``scenarios/``, else the built-in library) holds it. The verdict comes
first, then the key to the gutter signs, then one timeline per borrower asked
for — without ``--borrower``, the first borrower a violation names, or on a
passing run the borrower the scenario's steps name first.
"""

from __future__ import annotations

import re
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from simulator.core.errors import LendsimError
from simulator.core.privacy import redact
from simulator.faces.batch import Job, run_job
from simulator.faces.explain import TIMELINES_PER_SCENARIO, Explanation
from simulator.faces.progress import Meter
from simulator.faces.timeline_text import KEY, render_text
from simulator.scenarios.loader import discover, load_scenario
from simulator.scenarios.model import Scenario
from simulator.world.runner import ScenarioResult

__all__ = ["explain_scenario", "find_scenario", "handles"]

_ID_LINE = re.compile(r"^scenario\s*:\s*['\"]?([A-Za-z0-9_.-]+)", re.MULTILINE)


def find_scenario(name: str, roots: Sequence[Path]) -> Scenario:
    """The scenario in file ``name``, else the one with id ``name`` under ``roots``."""
    path = Path(name)
    if path.exists() or path.suffix in (".yaml", ".yml") or "/" in name:
        return load_scenario(path)
    files = discover([root for root in roots if root.exists()])
    for file in sorted(files, key=lambda f: f.stem != name):
        head = file.read_text(encoding="utf-8", errors="replace")
        found = _ID_LINE.search(head)
        if found is not None and found.group(1) == name:
            return load_scenario(file)
    where = ", ".join(str(root) for root in roots)
    raise LendsimError(f"no scenario file {name!r}, nor a scenario with that id in {where}")


def handles(scenario: Scenario, shown: int = 6) -> str:
    """``alice, b0001, b0002, … (201 borrowers)``."""
    ids = [b.id for b in scenario.borrowers]
    more = f", … ({len(ids)} borrowers)" if len(ids) > shown else ""
    return ", ".join(ids[:shown]) + more


def _say(console: Console, text: str, *, first: str = "  ", rest: str = "      ",
         style: str = "") -> None:
    """``text`` wrapped to the console's width, its later lines indented under it."""
    width = max(40, min(console.width, 120))
    for line in textwrap.wrap(text, width, initial_indent=first, subsequent_indent=rest,
                              break_long_words=False, break_on_hyphens=False):
        console.print(line, style=style, highlight=False, markup=False, soft_wrap=True)


def _verdict(result: ScenarioResult, console: Console) -> None:
    scenario = result.scenario
    planted = f" — defects planted: {', '.join(result.defects)}" if result.defects else ""
    _say(console, f"{'pass' if result.passed else 'FAIL'} {scenario.id}{planted}", first="",
         rest="  ", style="green" if result.passed else "bold red")
    console.print(f"  file {scenario.file or '(none)'}", highlight=False, markup=False,
                  soft_wrap=True)  # whole, as the user gave it
    _say(console, f"{result.events} journal entries, digest {result.digest[:16]}")
    for line in result.reasons():
        _say(console, redact(line))
    expected = [n for n in result.violated if n not in result.unexpected]
    if expected:
        _say(console, f"expected violations (declared by the scenario): {', '.join(expected)}")


def explain_scenario(scenario: Scenario, defects: tuple[str, ...], picks: tuple[str, ...], *,
                     strict_contracts: bool, utc: bool, meter: Meter, console: Console,
                     drawing: bool) -> tuple[ScenarioResult, Explanation, float] | None:
    """Run ``scenario`` and print its verdict and timelines; None when Ctrl-C stopped it.

    ``drawing``: the HTML report will be written too, so read the timelines of every
    borrower named in a violation, not only the ones printed.
    """
    began = time.perf_counter()
    limit = TIMELINES_PER_SCENARIO if drawing else (0 if picks else 1)
    job = Job(scenario, defects, strict_contracts, explain=True, picks=picks, utc=utc,
              limit=limit)
    try:
        result, explanation = run_job(job, meter.set)
    except KeyboardInterrupt:
        return None
    finally:
        meter.close()
    assert explanation is not None
    seconds = time.perf_counter() - began
    _verdict(result, console)
    shown = [t for t in explanation.timelines if t.borrower in picks] or \
        list(explanation.timelines[:1])
    width = max(60, min(console.width, 120))
    console.print(f"\n{KEY}", highlight=False, markup=False, style="dim")
    for timeline in shown:
        console.print()
        for line in render_text(timeline, width=width):
            console.print(line, soft_wrap=True, highlight=False)
    others = [b for b in explanation.named if b not in {t.borrower for t in shown}]
    if others:
        listed = ", ".join(others[:8]) + (", …" if len(others) > 8 else "")
        console.print()
        _say(console, f"also named in violations: {listed} ({len(others)} borrower(s)); "
                      "--borrower ID shows one", first="", rest="  ")
    return result, explanation, seconds
