"""The ``lendsim`` command (README, "Command line").

Exit status: 0 when every scenario passes, 1 when any fails, 2 for bad input
(a malformed scenario file, an unknown defect, a missing path) — bad input
gets a one-line message naming the place, never a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from simulator.core.durations import parse_duration
from simulator.core.errors import LendsimError
from simulator.core.locator import data_path
from simulator.core.privacy import redact
from simulator.faces.reports import (
    check_report_path,
    html_report,
    junit_report,
    print_matrix,
    print_summary,
    write_json,
    write_report,
)
from simulator.scenarios.defects import DEFECTS, validate_defects
from simulator.scenarios.loader import load_all, load_scenario
from simulator.world.matrix import defect_matrix
from simulator.world.runner import ScenarioResult, run_scenario

__all__ = ["app", "main"]

app = typer.Typer(
    name="lendsim",
    help="Lender-integration simulator: run time-travelling scenarios against a simulated "
         "bank, credit bureau and platform, and prove no borrower is falsely reported overdue.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Reports piped to a file or CI log get a wide page rather than rich's 80 columns.
_console = Console(highlight=False, width=None if sys.stdout.isatty() else 132)
_errors = Console(stderr=True, highlight=False)


def default_paths() -> list[Path]:
    """``scenarios/`` in the current folder, else the built-in library."""
    local = Path("scenarios")
    return [local] if local.is_dir() else [data_path("scenarios")]


def _fail_input(error: LendsimError) -> typer.Exit:
    """Bad input: each mistake on a line of its own (every one of a file or folder), exit 2."""
    for line in str(error).split("\n"):
        _errors.print(f"[bold red]error:[/] {escape(redact(line))}", markup=True,
                      soft_wrap=True)
    return typer.Exit(2)


@app.command()
def run(
    paths: Annotated[list[Path] | None, typer.Argument(
        help="Scenario files or folders (default: scenarios/, else the built-in library).",
        show_default=False)] = None,
    defect: Annotated[list[str] | None, typer.Option(
        "--defect", help="Plant this defect in every run (repeatable; see `lendsim defects`).",
        show_default=False)] = None,
    json_file: Annotated[Path | None, typer.Option(
        "--json", help="Write a JSON report here.", show_default=False)] = None,
    junit_file: Annotated[Path | None, typer.Option(
        "--junit", help="Write a JUnit XML report here.", show_default=False)] = None,
    html_file: Annotated[Path | None, typer.Option(
        "--html", help="Write an HTML report here.", show_default=False)] = None,
    quiet: Annotated[bool, typer.Option(
        "--quiet", "-q", help="Print only failures and the closing count.")] = False,
    strict_contracts: Annotated[bool, typer.Option(
        "--strict-contracts", help="Check every request and response between parties against "
                                   "contracts/; a violation fails the scenario.")] = False,
) -> None:
    """Run scenarios and check every invariant; exit 0 if all pass, 1 if any fails."""
    try:
        for option, report in (("--json", json_file), ("--junit", junit_file),
                               ("--html", html_file)):
            if report is not None:
                check_report_path(option, report)
        defects = validate_defects(defect or ())
        loaded = load_all(paths or default_paths())
    except LendsimError as error:
        raise _fail_input(error) from None
    for note in loaded.skipped:
        _errors.print(f"note: {redact(note)}", markup=False, soft_wrap=True)
    scenarios = loaded.scenarios
    if not scenarios:
        where = ", ".join(str(p) for p in paths or default_paths())
        raise _fail_input(LendsimError(
            f"no scenario files found in {where} (looked for *.yaml and *.yml)"))
    results: list[ScenarioResult] = []
    try:
        for scenario in scenarios:
            results.append(run_scenario(scenario, defects, strict_contracts=strict_contracts))
    except LendsimError as error:
        raise _fail_input(error) from None
    print_summary(results, _console, table_too=not quiet)
    try:
        if json_file is not None:
            write_json(json_file, results)
        if junit_file is not None:
            write_report(junit_file, junit_report(results))
        if html_file is not None:
            write_report(html_file, html_report(results))
    except LendsimError as error:
        raise _fail_input(error) from None
    raise typer.Exit(0 if all(r.passed for r in results) else 1)


@app.command()
def defects(
    matrix: Annotated[bool, typer.Option(
        "--matrix", help="Run the library once per defect and show which scenarios catch it; "
                         "exit 1 if any defect is caught by none.")] = False,
    paths: Annotated[list[Path] | None, typer.Argument(
        help="With --matrix: scenario files or folders (default: the library).",
        show_default=False)] = None,
    jobs: Annotated[int, typer.Option(
        "--jobs", "-j", min=0, help="With --matrix: worker processes (0: one per core).")] = 0,
    only: Annotated[list[str] | None, typer.Option(
        "--defect", help="With --matrix: only these defects (repeatable; default: all).",
        show_default=False)] = None,
) -> None:
    """List the defect catalogue, or with --matrix prove the library catches every defect."""
    if not matrix:
        width = max(len(name) for name in DEFECTS)
        for name, item in DEFECTS.items():
            _console.print(f"{name:<{width}}  {item.mistake}", markup=False)
        return
    try:
        chosen = validate_defects(only) if only else None
        loaded = load_all(paths or default_paths())
    except LendsimError as error:
        raise _fail_input(error) from None
    for note in loaded.skipped:
        _errors.print(f"note: {redact(note)}", markup=False, soft_wrap=True)
    files = loaded.files
    result = defect_matrix(files, chosen, jobs=jobs or None)
    print_matrix(result, _console)
    raise typer.Exit(0 if result.complete else 1)


@app.command()
def explore(
    runs: Annotated[int | None, typer.Option(
        "--runs", min=1, help="Run this many random worlds (default 1000).",
        show_default=False)] = None,
    duration: Annotated[str | None, typer.Option(
        "--time", help="Instead of --runs: run worlds for this long (30m, 2h).",
        show_default=False)] = None,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of the campaign.")] = 0,
    jobs: Annotated[int, typer.Option(
        "--jobs", "-j", min=0, help="Worker processes (0: one per core; 1: this process).")
    ] = 0,
    dask: Annotated[str | None, typer.Option(
        "--dask", help="Run on the Dask cluster whose scheduler is at this address "
                       "(needs pip install 'lendsim[explore]').", show_default=False)] = None,
    defect: Annotated[list[str] | None, typer.Option(
        "--defect", help="Plant this defect in every world (repeatable).",
        show_default=False)] = None,
    out: Annotated[Path, typer.Option(
        "--out", help="Write each shrunk scenario into this folder.")] = Path("explore-out"),
    json_file: Annotated[Path | None, typer.Option(
        "--json", help="Write the campaign and every finding as JSON here.",
        show_default=False)] = None,
    shrink_runs: Annotated[int, typer.Option(
        "--shrink-runs", min=0, help="At most this many runs to shrink each finding (0: do "
                                     "not shrink).")] = 400,
) -> None:
    """Run random worlds with swarm faults; shrink each violation to a minimal scenario.

    Exit 0 when every invariant held in every run, 1 on a finding, 2 for bad input."""
    from simulator.explore.campaign import explore as run_campaign
    from simulator.explore.executors import backend_for
    from simulator.faces.explore_report import (
        ProgressPrinter,
        print_campaign,
        write_campaign_json,
    )

    try:
        if runs is not None and duration is not None:
            raise LendsimError("give --runs or --time, not both")
        if dask is not None and jobs:
            raise LendsimError("-j/--jobs is for a local pool; with --dask the cluster's "
                               "workers run the worlds")
        limit = parse_duration(duration, what="--time") if duration is not None else None
        if json_file is not None:
            check_report_path("--json", json_file)
        if out.exists() and not out.is_dir():
            raise LendsimError(f"--out {out}: not a folder")
        chosen = validate_defects(defect or ())
        backend = backend_for(jobs, dask)
    except ValueError as error:
        raise _fail_input(LendsimError(str(error))) from None
    except LendsimError as error:
        raise _fail_input(error) from None
    try:
        campaign = run_campaign(
            backend, seed=seed, runs=(runs or 1000) if limit is None else None, limit=limit,
            defects=chosen, out=out, shrink_budget=shrink_runs,
            report=ProgressPrinter(_errors))
    except LendsimError as error:
        raise _fail_input(error) from None
    finally:
        backend.close()
    print_campaign(campaign, _console)
    if json_file is not None:
        try:
            write_campaign_json(json_file, campaign)
        except LendsimError as error:
            raise _fail_input(error) from None
    raise typer.Exit(0 if campaign.clean else 1)


_LOOPBACK = ("127.0.0.1", "::1", "localhost")


@app.command()
def serve(
    scenario: Annotated[Path | None, typer.Argument(
        help="A scenario file for the world (default: an empty world).",
        show_default=False)] = None,
    host: Annotated[str, typer.Option(
        "--host", help="Address to listen on (loopback unless you mean otherwise).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port.")] = 8765,
    jurisdiction: Annotated[str, typer.Option(
        "--jurisdiction", help="Of an empty world: CN or US.")] = "CN",
    start: Annotated[str | None, typer.Option(
        "--start", help="Of an empty world: its first instant (local time unless an offset "
                        "is given; default 2026-01-01T09:00).", show_default=False)] = None,
    defect: Annotated[list[str] | None, typer.Option(
        "--defect", help="Plant this defect in the world (repeatable).",
        show_default=False)] = None,
    keys: Annotated[Path | None, typer.Option(
        "--keys", help='Partner keys, a JSON file {"key id": "secret"} (default: the test '
                       "keyring).", show_default=False)] = None,
    state: Annotated[Path | None, typer.Option(
        "--state", help="Keep the world in this folder (party databases, clock, faults, "
                        "replay cache) so it survives a restart, even kill -9; a world found "
                        "there is resumed (default: in memory).", show_default=False)] = None,
) -> None:
    """Serve a world over HTTP: the sandbox at /, each party under /<party> (signed requests)."""
    import uvicorn

    from simulator.serve.logs import log_config
    from simulator.serve.sandbox import Sandbox
    from simulator.wire.signing import Keyring

    try:
        chosen = validate_defects(defect or ())
        keyring = Keyring.from_file(keys) if keys is not None else Keyring.for_testing()
        if state is not None and state.exists() and not state.is_dir():
            raise LendsimError(f"--state {state}: not a folder")
        sandbox = Sandbox(load_scenario(scenario) if scenario is not None else None,
                          jurisdiction=jurisdiction, start=start, defects=chosen,
                          keyring=keyring, state=state)
    except LendsimError as error:
        raise _fail_input(error) from None
    if host not in _LOOPBACK:
        _errors.print(f"warning: serving on {host}: anyone who reaches it can move the clock "
                      "and read the world", markup=False)
    _console.print(f"lendsim sandbox on http://{host}:{port}/ — signing keys: "
                   f"{', '.join(keyring.key_ids)}", markup=False)
    try:
        uvicorn.run(sandbox.app, host=host, port=port, log_level="info",
                    log_config=log_config())
    finally:
        sandbox.close()


contracts_app = typer.Typer(help="Contract tests of the HTTP faces.", no_args_is_help=True)
app.add_typer(contracts_app, name="contracts")


@contracts_app.command("test")
def contracts_test(
    party: Annotated[list[str] | None, typer.Option(
        "--party", help="bank, platform, bureau, sms or sandbox (repeatable; default: all).",
        show_default=False)] = None,
    url: Annotated[str | None, typer.Option(
        "--url", help="A live server laid out like `lendsim serve` (default: in process).",
        show_default=False)] = None,
    junit_file: Annotated[Path | None, typer.Option(
        "--junit", help="Write a JUnit XML report here.", show_default=False)] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the generated requests.")] = 0,
    max_examples: Annotated[int, typer.Option(
        "--max-examples", help="Generated requests per operation and phase.")] = 10,
    defect: Annotated[list[str] | None, typer.Option(
        "--defect", help="In process: plant this defect in the world (repeatable).",
        show_default=False)] = None,
    keys: Annotated[Path | None, typer.Option(
        "--keys", help='Sign with keys from this JSON file {"key id": "secret"} (default: '
                       "the test keyring).", show_default=False)] = None,
    key_id: Annotated[str, typer.Option("--key-id", help="The key to sign with.")] = "partner",
) -> None:
    """Check each HTTP face against its contract; exit 0 if all conform, 1 if not, 2 bad input.

    Schemathesis (examples, boundary values, random, stateful) plus lendsim's own checks.

    Requests are signed with a partner key; the report shows each reproduction unsigned."""
    from simulator.wire.contracts import DOCUMENTS
    from simulator.wire.signing import Keyring

    try:
        from simulator.faces.contract_suite import run_contract_suite
    except ModuleNotFoundError as missing:  # an install without lendsim's dependencies
        raise _fail_input(LendsimError(
            f"lendsim contracts test needs the {missing.name} package, one of lendsim's "
            "dependencies: reinstall lendsim (pip install lendsim)")) from None
    try:
        if junit_file is not None:
            check_report_path("--junit", junit_file)
        chosen = validate_defects(defect or ())
        if url is not None and chosen:
            raise LendsimError("--defect plants defects in lendsim's own world; "
                               "it cannot go with --url")
        keyring = Keyring.from_file(keys) if keys is not None else Keyring.for_testing()
        report = run_contract_suite(tuple(party or DOCUMENTS), url=url, seed=seed,
                                    max_examples=max_examples, keyring=keyring,
                                    key_id=key_id, defects=chosen)
    except LendsimError as error:
        raise _fail_input(error) from None
    _console.print(report.text(), markup=False, soft_wrap=True)
    if junit_file is not None:
        try:
            write_report(junit_file, report.junit())
        except LendsimError as error:
            raise _fail_input(error) from None
    raise typer.Exit(0 if report.passed else 1)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
