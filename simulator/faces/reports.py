"""Reports of a batch of scenario runs: the terminal summary, JSON and JUnit XML (the HTML
report is :mod:`simulator.faces.html_report`), and the defect matrix's table and JUnit.

Violations name borrowers by handle with a masked ID number, and journal
entries carry no personal data by construction (the tests check both); the
messages still pass through :func:`simulator.core.privacy.redact` on the way out.
Instants are in each scenario's local time with their offset; given a ``zone``
(``--utc``), every instant in the text is shown in that zone instead.

Terminal tables fit 80 columns: on a narrow terminal the columns that only add
detail are left out, and names are never cut. Colour is never the only channel:
expected violations are in parentheses, a matrix's unexplained invariant carries
a ``*``, and a legend names a colour only when there is colour.
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import tzinfo
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from simulator.core.errors import LendsimError
from simulator.core.instants import rezone
from simulator.core.privacy import redact
from simulator.faces.html_report import html_report
from simulator.scenarios.defects import DEFECTS
from simulator.world.matrix import Matrix
from simulator.world.runner import ScenarioResult

__all__ = [
    "check_report_path",
    "failure_text",
    "html_report",
    "json_report",
    "junit_report",
    "matrix_junit",
    "print_matrix",
    "print_summary",
    "write_json",
    "write_report",
]

_EVIDENCE_SHOWN = 6
#: below this width the summary table leaves out events and digest (JSON and JUnit keep them)
_WIDE = 100
#: … and the matrix table its examples
_WIDE_MATRIX = 110


def _zoned(data: Any, zone: tzinfo | None) -> Any:
    """``data`` with every instant in its strings shown in ``zone`` (unchanged for None)."""
    if zone is None:
        return data
    if isinstance(data, str):
        return rezone(data, zone)
    if isinstance(data, list):
        return [_zoned(item, zone) for item in data]
    if isinstance(data, dict):
        return {key: _zoned(value, zone) for key, value in data.items()}
    return data


def json_report(results: Sequence[ScenarioResult], *,
                zone: tzinfo | None = None) -> dict[str, Any]:
    """``{"scenarios": [...], "passed": N, "failed": N, "skipped": N}`` (README, "Command
    line")."""
    return {"scenarios": [_zoned(r.as_dict(), zone) for r in results],
            "passed": sum(r.passed for r in results),
            "failed": sum(r.failed for r in results),
            "skipped": sum(r.skipped is not None for r in results)}


def failure_text(result: ScenarioResult, *, per_invariant: int = 3,
                 zone: tzinfo | None = None) -> str:
    """Why a scenario failed: each reason, then a few violations with their journal entries."""
    lines = []
    if result.skipped is not None:
        return f"skipped: the scenario {result.skipped}"
    if result.error:
        lines.append(redact(f"{result.error_label}: {result.error}"))
        lines.extend(f"  {redact(line)}" for line in result.details)
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
    text = "\n".join(lines)
    return rezone(text, zone) if zone is not None else text


def _properties(parent: ET.Element, values: dict[str, str]) -> None:
    properties = ET.SubElement(parent, "properties")
    for name, value in values.items():
        ET.SubElement(properties, "property", name=name, value=value)


def junit_report(results: Sequence[ScenarioResult], *, defects: Sequence[str] = (),
                 zone: tzinfo | None = None) -> str:
    """JUnit XML: one test case per scenario, failures carrying their evidence.

    The planted defects are properties of the suite (with ``defects`` from the command
    line) and of each case; each case's output lists its expected violations.
    """
    failed = sum(r.failed for r in results)
    suite = ET.Element("testsuite", name="lendsim", tests=str(len(results)),
                       failures=str(failed), errors="0",
                       skipped=str(sum(r.skipped is not None for r in results)),
                       time=f"{sum(r.seconds for r in results):.3f}")
    planted = sorted({d for r in results for d in r.defects} | set(defects))
    _properties(suite, {"defects": ", ".join(planted) or "none"})
    for result in results:
        case = ET.SubElement(suite, "testcase", classname=str(result.scenario.file or "lendsim"),
                             name=result.id, time=f"{result.seconds:.3f}")
        _properties(case, {"defects": ", ".join(result.defects) or "none",
                           "digest": result.digest, "seed": str(result.scenario.seed)})
        if result.skipped is not None:
            ET.SubElement(case, "skipped", message=redact(f"the scenario {result.skipped}"))
        elif not result.passed:
            reasons = result.reasons()
            message = redact(reasons[0]) if reasons else "failed"
            failure = ET.SubElement(case, "failure", message=rezone(message, zone)
                                    if zone is not None else message)
            failure.text = failure_text(result, zone=zone)
        expected = [f"{name} ×{len(result.violations[name])}" for name in result.violated
                    if name not in result.unexpected]
        out = ET.SubElement(case, "system-out")
        out.text = (f"digest {result.digest}; {result.events} events; defects planted: "
                    f"{', '.join(result.defects) or 'none'}; expected violations: "
                    f"{', '.join(expected) or 'none'}")
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


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


def write_json(path: Path, results: Sequence[ScenarioResult], *,
               zone: tzinfo | None = None) -> None:
    write_report(path, json.dumps(json_report(results, zone=zone), indent=2,
                                  ensure_ascii=False) + "\n")


def print_summary(results: Sequence[ScenarioResult], console: Console, *,
                  table_too: bool = True, zone: tzinfo | None = None,
                  interrupted: int | None = None) -> None:
    """A table of every scenario, then what failed and why, then the closing count
    (``interrupted``: how many scenarios were to run, when Ctrl-C stopped the batch)."""
    if table_too and results:
        _print_table(results, console)
    for result in results:
        if result.failed:
            console.print(f"\n[bold red]FAIL[/] {result.id} ({result.scenario.file})",
                          highlight=False)
            console.print(failure_text(result, zone=zone), highlight=False, markup=False,
                          soft_wrap=True)
    passed = sum(r.passed for r in results)
    failed = sum(r.failed for r in results)
    skipped = len(results) - passed - failed
    if skipped and not table_too:
        console.print(f"\n{skipped} scenario(s) do not apply to the system under test "
                      "(the table says why)", highlight=False)
    if interrupted is not None:
        console.print(f"\n[bold red]interrupted[/] after {len(results)} of {interrupted} "
                      "scenario(s); no report file written", highlight=False)
    colour = "green" if not failed and interrupted is None else "red"
    closing = f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else "")
    console.print(f"\n[{colour}]{closing}[/]", highlight=False)


def _print_table(results: Sequence[ScenarioResult], console: Console) -> None:
    wide = console.width >= _WIDE
    table = Table(box=None, show_edge=False, pad_edge=False, header_style="bold")
    table.add_column("result", no_wrap=True)
    table.add_column("scenario", no_wrap=True)
    table.add_column("violated (expected)", overflow="fold")
    if wide:
        table.add_column("events", justify="right", no_wrap=True)
        table.add_column("digest", no_wrap=True)
    for result in results:
        violated = ", ".join(
            f"[bold red]{name}[/]" if name in result.unexpected else f"({name})"
            for name in result.violated) or "—"
        if result.error:
            violated = "[bold red]system[/]" if result.stopped_by == "system" else \
                "[bold red]contract[/]"
        if result.skipped is not None:
            violated = escape(f"does not apply: it {result.skipped}")
        status = {"pass": "[green]pass[/]", "skip": "[yellow]skip[/]"}.get(result.status,
                                                                          "[bold red]FAIL[/]")
        row = [status, result.id, violated]
        if wide:
            row += [str(result.events), result.digest[:12]]
        table.add_row(*row)
    console.print(table)


def print_matrix(matrix: Matrix, console: Console) -> None:
    """Which scenarios catch each defect, and with which invariants."""
    wide = console.width >= _WIDE_MATRIX
    table = Table(box=None, show_edge=False, pad_edge=False, header_style="bold")
    table.add_column("defect", no_wrap=True)
    table.add_column("caught by", justify="right", no_wrap=True)
    table.add_column("invariants that fired", overflow="fold")
    if wide:
        table.add_column("for example", overflow="fold")
    noise = False
    for defect, catches in matrix.caught.items():
        fired = sorted({name for c in catches for name in c.invariants})
        noisy = sorted({name for c in catches for name in c.unexplained})
        noise = noise or bool(noisy)
        shown = ", ".join(f"[yellow]{n}*[/]" if n in noisy else n for n in fired) or "—"
        by_invariant = [c for c in catches if c.by_invariant]
        if len(by_invariant) < len(catches):
            shown += f" (+{len(catches) - len(by_invariant)} by expectation only)"
        row = [defect, f"{len(by_invariant)}" if by_invariant else "[bold red]0[/]", shown]
        if wide:
            row.append("\n".join(c.scenario for c in (by_invariant or catches)[:2]))
        table.add_row(*row)
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
                  f"that explains them, over {len(matrix.scenarios)} scenarios[/]",
                  highlight=False)
    if noise:
        sign = "yellow and *" if console.color_system is not None else "*"
        console.print(f"{sign}: an invariant the defect does not explain also fired",
                      highlight=False, markup=False)


def matrix_junit(matrix: Matrix) -> str:
    """JUnit XML of a matrix: a suite ``baseline`` (each scenario passes with no defect)
    and a suite ``defects`` (each defect is caught by some scenario)."""
    root = ET.Element("testsuites", name="lendsim defect matrix")
    baseline = ET.SubElement(root, "testsuite", name="baseline",
                             tests=str(len(matrix.scenarios)),
                             failures=str(len(matrix.baseline_failures)), errors="0")
    for scenario in matrix.scenarios:
        case = ET.SubElement(baseline, "testcase", classname="baseline", name=scenario)
        if scenario in matrix.baseline_failures:
            ET.SubElement(case, "failure", message=f"{scenario} fails with no defect planted")
    defects = ET.SubElement(root, "testsuite", name="defects", tests=str(len(matrix.caught)),
                            failures=str(len(matrix.uncaught)), errors="0")
    for defect, catches in matrix.caught.items():
        case = ET.SubElement(defects, "testcase", classname="defects", name=defect)
        if defect in matrix.uncaught:
            failure = ET.SubElement(case, "failure",
                                    message=f"no invariant that explains {defect} fails")
            failure.text = DEFECTS[defect].mistake
            if not catches:
                continue
        out = ET.SubElement(case, "system-out")
        out.text = "\n".join(
            f"caught by {c.scenario}: {', '.join(c.invariants) or 'its expectations'}"
            + (f" (unexplained: {', '.join(c.unexplained)})" if c.unexplained else "")
            for c in catches)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
