"""What the ``lendsim`` commands share: the consoles, the options several take, and the
steps every command that runs scenarios goes through (loading them, checking report paths,
bad input as one line per mistake and exit 2)."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Sequence
from datetime import UTC, tzinfo
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from simulator.core.errors import LendsimError
from simulator.core.locator import data_path
from simulator.core.privacy import redact
from simulator.scenarios.model import Scenario
from simulator.scenarios.select import selector
from simulator.world.pool import default_jobs

# Reports and the loader are imported where they are used: a command pays for what it uses
# (``lendsim --version`` for neither), and ``lendsim run`` starts its workers first.

__all__ = [
    "INTERRUPTED", "Borrowers", "Defects", "HtmlFile", "Jobs", "JsonFile", "JunitFile",
    "Keyword", "Paths", "Strict", "Utc", "check_reports", "console", "default_paths", "errors",
    "fail_input", "interrupted_early", "load_scenarios", "page_width", "scenario_files",
    "status", "workers", "write", "zone",
]

#: the exit status after Ctrl-C (128 + SIGINT)
INTERRUPTED = 130

#: the width of a page piped to a file or CI log (a terminal's own width is used on one)
_PIPED_WIDTH = 132
console = Console(highlight=False)
errors = Console(stderr=True, highlight=False)
#: where progress bars go (stderr: stdout stays the report)
status = Console(stderr=True, highlight=False)


# -- options more than one command takes ---------------------------------------------------
Paths = Annotated[list[Path] | None, typer.Argument(
    help="Scenario files or folders (default: scenarios/, else the built-in library).",
    show_default=False, metavar="PATH")]
Defects = Annotated[list[str] | None, typer.Option(
    "--defect", metavar="NAME", show_default=False,
    help="Plant this defect (repeatable; see `lendsim defects`).")]
Jobs = Annotated[int, typer.Option(
    "--jobs", "-j", metavar="N", show_default=False,
    help="Worker processes (default: one per core).")]
Borrowers = Annotated[list[str] | None, typer.Option(
    "--borrower", metavar="ID", show_default=False,
    help="Also draw this borrower's timeline (repeatable).")]
Utc = Annotated[bool, typer.Option("--utc", help="Show instants in UTC, not local time.")]
JsonFile = Annotated[Path | None, typer.Option(
    "--json", metavar="FILE", help="Write a JSON report here.", show_default=False)]
JunitFile = Annotated[Path | None, typer.Option(
    "--junit", metavar="FILE", help="Write a JUnit XML report here.", show_default=False)]
HtmlFile = Annotated[Path | None, typer.Option(
    "--html", metavar="FILE", help="Write the HTML report here.", show_default=False)]
Strict = Annotated[bool, typer.Option(
    "--strict-contracts", help="Check every request and response between parties against "
                               "contracts/; a violation fails the scenario.")]


Keyword = Annotated[str | None, typer.Option(
    "-k", metavar="EXPR", show_default=False,
    help="Only scenarios whose id contains a word, or with it as a tag or folder; words "
         "combine with and, or, not, ( ).")]


def page_width() -> int:
    """``$COLUMNS`` if set, else the terminal's width, else a wide page for logs and files."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if sys.stdout.isatty():
        return shutil.get_terminal_size().columns
    return _PIPED_WIDTH


def default_paths() -> list[Path]:
    """``scenarios/`` in the current folder, else the built-in library."""
    local = Path("scenarios")
    return [local] if local.is_dir() else [data_path("scenarios")]


def fail_input(error: LendsimError) -> typer.Exit:
    """Bad input: each mistake on a line of its own (every one of a file or folder), exit 2."""
    for line in str(error).split("\n"):
        errors.print(f"[bold red]error:[/] {escape(redact(line))}", markup=True,
                      soft_wrap=True)
    return typer.Exit(2)


def check_reports(**reports: Path | None) -> None:
    """Refuse report paths that cannot be written before anything runs (``json_file=…``)."""
    for name, path in reports.items():
        if path is not None:
            from simulator.faces.reports import check_report_path

            check_report_path(f"--{name.removesuffix('_file')}", path)


def write(path: Path, text: str) -> None:
    """Write a report; a path that turned out unwritable is bad input (exit 2)."""
    from simulator.faces.reports import write_report

    try:
        write_report(path, text)
    except LendsimError as error:
        raise fail_input(error) from None


def scenario_files(paths: Sequence[Path] | None) -> list[Path]:
    """The scenario files under ``paths``, every one of them valid (else every mistake is
    raised at once); non-scenario YAML is skipped with a note."""
    from simulator.scenarios.loader import load_all

    loaded = load_all(list(paths or default_paths()))
    for note in loaded.skipped:
        errors.print(f"note: {redact(note)}", markup=False, soft_wrap=True)
    return list(loaded.files)


def workers(jobs: int) -> int:
    """``-j N``: N worker processes; 0 (the default) one per core."""
    if jobs < 0:
        raise LendsimError(f"-j/--jobs must be 0 (one per core) or more (got {jobs})")
    return jobs or default_jobs()


def interrupted_early() -> typer.Exit:
    """Ctrl-C before any scenario ran (while loading them)."""
    console.print("\n[bold red]interrupted[/] before any scenario ran\n\n0 passed, 0 failed",
                   highlight=False)
    return typer.Exit(INTERRUPTED)


def zone(utc: bool) -> tzinfo | None:
    return UTC if utc else None


def load_scenarios(paths: Sequence[Path] | None, expression: str | None) -> list[Scenario]:
    """The scenarios under ``paths`` that ``expression`` (``-k``) selects; bad input raises."""
    from simulator.scenarios.loader import load_all

    where = list(paths or default_paths())
    chosen = selector(expression) if expression is not None else None
    loaded = load_all(where)
    for note in loaded.skipped:
        errors.print(f"note: {redact(note)}", markup=False, soft_wrap=True)
    scenarios = list(loaded.scenarios)
    if not scenarios:
        raise LendsimError(f"no scenario files found in {', '.join(map(str, where))} "
                           "(looked for *.yaml and *.yml)")
    if chosen is not None:
        scenarios = [s for s in scenarios if chosen(s)]
        if not scenarios:
            raise LendsimError(f"-k {expression!r} selects none of the scenarios in "
                               f"{', '.join(map(str, where))}")
    return scenarios


