"""Reports of a batch of scenario runs: the terminal summary, JSON, JUnit XML and HTML.

Violations name borrowers by handle with a masked ID number, and journal
entries carry no personal data by construction (the tests check both); the
messages still pass through :func:`simulator.core.privacy.redact` on the way out.
"""

from __future__ import annotations

import html
import json
import os
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from simulator.core.errors import LendsimError
from simulator.core.privacy import redact
from simulator.world.matrix import Matrix
from simulator.world.runner import ScenarioResult

__all__ = [
    "check_report_path",
    "failure_text",
    "html_report",
    "json_report",
    "junit_report",
    "print_matrix",
    "print_summary",
    "write_json",
    "write_report",
]

_EVIDENCE_SHOWN = 6


def json_report(results: Sequence[ScenarioResult]) -> dict[str, Any]:
    """``{"scenarios": [...], "passed": N, "failed": N}`` (README, "Command line")."""
    passed = sum(r.passed for r in results)
    return {"scenarios": [r.as_dict() for r in results], "passed": passed,
            "failed": len(results) - passed}


def failure_text(result: ScenarioResult, *, per_invariant: int = 3) -> str:
    """Why a scenario failed: each reason, then a few violations with their journal entries."""
    lines = []
    if result.error:
        lines.append(redact(f"contract violated: {result.error}"))
    for name, found in result.unexpected_violations.items():
        lines.append(f"{name} violated {len(found)} time(s)")
        for violation in found[:per_invariant]:
            who = ""
            if violation.borrower is not None:
                who = f"{violation.borrower} ({violation.subject})"
                if violation.installment is not None:
                    who += f" installment {violation.installment}"
                who += ": "
            cause = f" [cause: {violation.cause}]" if violation.cause else ""
            lines.append(redact(f"  - {who}{violation.message}{cause}"))
            lines.extend(f"      {result.evidence[seq]}"
                         for seq in violation.evidence[:_EVIDENCE_SHOWN] if seq in result.evidence)
        if len(found) > per_invariant:
            lines.append(f"  … and {len(found) - per_invariant} more")
    lines.extend(result.unmet_expectations())
    return "\n".join(lines)


def junit_report(results: Sequence[ScenarioResult]) -> str:
    """JUnit XML: one test case per scenario, failures carrying their evidence."""
    failed = sum(not r.passed for r in results)
    suite = ET.Element("testsuite", name="lendsim", tests=str(len(results)),
                       failures=str(failed), errors="0",
                       time=f"{sum(r.seconds for r in results):.3f}")
    for result in results:
        case = ET.SubElement(suite, "testcase", classname=str(result.scenario.file or "lendsim"),
                             name=result.id, time=f"{result.seconds:.3f}")
        if not result.passed:
            reasons = result.reasons()
            failure = ET.SubElement(case, "failure", message=redact(reasons[0]) if reasons
                                    else "failed")
            failure.text = failure_text(result)
        out = ET.SubElement(case, "system-out")
        out.text = f"digest {result.digest}; {result.events} events"
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def html_report(results: Sequence[ScenarioResult]) -> str:
    """A single self-contained HTML page."""
    rows = []
    for result in results:
        status = "pass" if result.passed else "FAIL"
        detail = html.escape(failure_text(result)) if not result.passed else ""
        rows.append(
            f"<tr class='{status.lower()}'><td>{html.escape(result.id)}</td>"
            f"<td>{status}</td><td>{html.escape(', '.join(result.violated) or '—')}</td>"
            f"<td>{result.events}</td><td><code>{result.digest[:16]}</code></td>"
            f"<td><pre>{detail}</pre></td></tr>")
    passed = sum(r.passed for r in results)
    return (
        "<!doctype html><meta charset='utf-8'><title>lendsim report</title>"
        "<style>body{font-family:sans-serif}td{vertical-align:top;padding:4px 8px}"
        ".fail{background:#fdd}.pass{background:#efe}pre{margin:0;white-space:pre-wrap}</style>"
        f"<h1>lendsim: {passed} passed, {len(results) - passed} failed</h1>"
        "<table><tr><th>scenario</th><th>result</th><th>violated</th><th>events</th>"
        "<th>digest</th><th>why</th></tr>" + "".join(rows) + "</table>\n")


def check_report_path(option: str, path: Path) -> None:
    """Refuse, before anything runs, a report path that cannot be written: a folder, a
    file or folder that is not writable, a parent that is a file."""
    if path.is_dir():
        raise LendsimError(f"{option} {path}: is a folder; give the report a file name")
    if path.exists():
        if not os.access(path, os.W_OK):
            raise LendsimError(f"{option} {path}: the file is not writable")
        return
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise LendsimError(f"{option} {path}: {ancestor} is not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise LendsimError(f"{option} {path}: cannot create the file in {ancestor} "
                           "(not writable)")


def write_report(path: Path, text: str) -> None:
    """Write a report (making its folder); an error is a :class:`LendsimError` naming it."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as error:
        raise LendsimError(f"cannot write the report {path}: "
                           f"{error.strerror or error}") from None


def write_json(path: Path, results: Sequence[ScenarioResult]) -> None:
    write_report(path, json.dumps(json_report(results), indent=2, ensure_ascii=False) + "\n")


def print_summary(results: Sequence[ScenarioResult], console: Console, *,
                  table_too: bool = True) -> None:
    """A table of every scenario, then what failed and why, then the closing count."""
    if table_too:
        _print_table(results, console)
    for result in results:
        if not result.passed:
            console.print(f"\n[bold red]FAIL[/] {result.id} ({result.scenario.file})",
                          highlight=False)
            console.print(failure_text(result), highlight=False, markup=False, soft_wrap=True)
    passed = sum(r.passed for r in results)
    colour = "green" if passed == len(results) else "red"
    console.print(f"\n[{colour}]{passed} passed, {len(results) - passed} failed[/]",
                  highlight=False)


def _print_table(results: Sequence[ScenarioResult], console: Console) -> None:
    table = Table(title=None, show_edge=False, pad_edge=False)
    table.add_column("scenario")
    table.add_column("result")
    table.add_column("violated (expected)")
    table.add_column("events", justify="right")
    table.add_column("digest")
    for result in results:
        violated = ", ".join(
            f"[bold red]{name}[/]" if name in result.unexpected else name
            for name in result.violated) or "—"
        if result.error:
            violated = "[bold red]contract[/]"
        table.add_row(result.id, "[green]pass[/]" if result.passed else "[bold red]FAIL[/]",
                      violated, str(result.events), result.digest[:12])
    console.print(table)


def print_matrix(matrix: Matrix, console: Console) -> None:
    """Which scenarios catch each defect, and with which invariants."""
    table = Table(show_edge=False, pad_edge=False)
    table.add_column("defect", overflow="fold")
    table.add_column("by invariant", justify="right")
    table.add_column("by expectation only", justify="right")
    table.add_column("invariants that fired")
    table.add_column("for example")
    for defect, catches in matrix.caught.items():
        fired = sorted({name for c in catches for name in c.invariants})
        noisy = sorted({name for c in catches for name in c.unexplained})
        shown = ", ".join(f"[yellow]{n}[/]" if n in noisy else n for n in fired) or "—"
        by_invariant = [c for c in catches if c.by_invariant]
        examples = ", ".join(c.scenario for c in (by_invariant or catches)[:2])
        count = f"{len(by_invariant)}" if by_invariant else "[bold red]0[/]"
        table.add_row(defect, count, str(len(catches) - len(by_invariant)), shown, examples)
    console.print(table)
    for scenario in matrix.baseline_failures:
        console.print(f"[bold red]baseline failure:[/] {scenario} fails with no defect planted")
    for defect in matrix.uncaught:
        how = "only through an expectation" if defect in matrix.expectation_only else \
            "in no scenario"
        console.print(f"[bold red]uncaught:[/] no invariant that explains {defect} fails "
                      f"({how})")
    caught = len(matrix.caught) - len(matrix.uncaught)
    colour = "green" if matrix.complete else "red"
    console.print(f"\n[{colour}]{caught} of {len(matrix.caught)} defects caught by an invariant "
                  f"that explains them, over {len(matrix.scenarios)} scenarios[/] (yellow: an "
                  "invariant the defect does "
                  "not explain also fired)", highlight=False)
