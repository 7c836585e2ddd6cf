"""The ``lendsim`` command (README, "Command line").

One function per command; the options several commands share are defined once
below. Exit status: 0 when every scenario passes (or every contract conforms,
or every defect is caught, precisely), 1 when any fails, 2 for bad input (a malformed
scenario file, an unknown defect or borrower, a missing path), 130 when Ctrl-C
stopped the work — bad input gets a one-line message naming the place, never a
traceback. Progress goes to stderr, and only on a terminal.
"""

from __future__ import annotations

import sys
import textwrap
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from simulator.core.errors import LendsimError
from simulator.faces import cli_common as common
from simulator.faces.batch import Job, run_batch, start_workers_early
from simulator.faces.cli_common import (
    INTERRUPTED,
    Borrowers,
    Defects,
    HtmlFile,
    Jobs,
    JsonFile,
    JunitFile,
    Keyword,
    Paths,
    Strict,
    Utc,
    default_paths,
)
from simulator.faces.cli_explore import register as register_explore
from simulator.faces.cli_help import CONTEXT, Command, Group
from simulator.faces.cli_systems import Profile, Timeout, system_run
from simulator.faces.cli_systems import register as register_systems
from simulator.faces.progress import Meter
from simulator.scenarios.defects import DEFECTS, validate_defects
from simulator.sut.timeouts import DEFAULT_TIMEOUT
from simulator.world.pool import Interrupted

# Each command imports the rest of what it uses (reports, explanations, the engine, the
# matrix) itself: ``lendsim --version`` imports none of it, and ``lendsim run`` starts its
# worker processes (which import the engine) before it loads the scenarios.

__all__ = ["app", "main"]

app = typer.Typer(
    name="lendsim",
    cls=Group,
    help="Lender-integration simulator: run time-travelling scenarios against a simulated "
         "bank, credit bureau and platform, and prove no borrower is falsely reported overdue.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings=CONTEXT,
)

def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("lendsim")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "unknown"


def _show_version(value: bool) -> None:
    if value:
        common.console.print(f"lendsim {_version()}", markup=False)
        raise typer.Exit(0)


@app.callback()
def _root(version_: Annotated[bool, typer.Option(
        "--version", is_eager=True, callback=_show_version,
        help="Print lendsim's version and exit.")] = False) -> None:
    """Lender-integration simulator: run time-travelling scenarios against a simulated bank,
    credit bureau and platform, and prove no borrower is falsely reported overdue."""
    common.console.width = common.page_width()


@app.command(cls=Command)
def run(
    paths: Paths = None,
    defect: Defects = None,
    json_file: JsonFile = None,
    junit_file: JunitFile = None,
    html_file: HtmlFile = None,
    quiet: Annotated[bool, typer.Option(
        "--quiet", "-q", help="Print only failures and the closing count.")] = False,
    strict_contracts: Strict = False,
    jobs: Jobs = 0,
    keyword: Keyword = None,
    borrower: Borrowers = None,
    utc: Utc = False,
    sut: Annotated[str | None, typer.Option(
        "--sut", metavar="ROLE=TARGET", show_default=False,
        help="Put your own bank or platform in the world: ROLE=python:pkg.mod:app, "
             "ROLE=http://host:port/prefix or ROLE=command:… with {port}.")] = None,
    profile: Profile = None,
    timeout: Timeout = DEFAULT_TIMEOUT,
    shards: Annotated[int, typer.Option(
        "--shards", metavar="N", show_default=False,
        help="Split each scenario by borrower into N worlds run in parallel on -j processes "
             "(one verdict; for scenarios with many borrowers).")] = 1,
) -> None:
    """Run scenarios and check every invariant; exit 0 if all pass, 1 if any fails."""
    started = datetime.now().astimezone()
    try:
        common.check_reports(json_file=json_file, junit_file=junit_file, html_file=html_file)
        workers = common.workers(jobs)
        defects = validate_defects(defect or ())
        system = system_run(sut, profile, timeout, defects) if sut is not None else None
        if system is None and profile is not None:
            raise LendsimError("--profile describes a system under test: give --sut too")
        if shards < 1:
            raise LendsimError(f"--shards must be 1 or more (got {shards})")
        if shards > 1 and sut is not None:
            raise LendsimError("--shards splits a world among reference parties; a system "
                               "under test keeps one state: not with --sut")
        if shards > 1 and html_file is not None:
            raise LendsimError("--html draws timelines from one world's journal: not with "
                               "--shards")
        start_workers_early(workers)
        scenarios = common.load_scenarios(paths, keyword)
        picks = tuple(borrower or ())
        if picks:  # (the explanations import the engine: only when asked for)
            from simulator.faces.explain import unknown_borrowers

            unheard = [p for p in picks
                       if all(p in unknown_borrowers(s, (p,)) for s in scenarios)]
            if unheard:
                raise LendsimError(f"--borrower: no scenario has a borrower "
                                   f"{', '.join(map(repr, unheard))}")
        work = [Job(s, defects, strict_contracts, html_file is not None, picks, utc,
                    system=system, shards=shards, shard_workers=jobs) for s in scenarios]
        with Meter(common.status, len(work), "running", unit="scenarios") as meter:
            batch = run_batch(work, workers=workers, meter=meter)
    except LendsimError as error:
        raise common.fail_input(error) from None
    except KeyboardInterrupt:
        raise common.interrupted_early() from None
    from simulator.faces.html_report import RunFacts, html_report
    from simulator.faces.reports import junit_report, print_summary, write_json

    zone = common.zone(utc)
    print_summary(batch.results, common.console, table_too=not quiet, zone=zone,
                  interrupted=batch.total if batch.interrupted else None)
    if batch.interrupted:
        raise typer.Exit(INTERRUPTED)
    if json_file is not None:
        try:
            write_json(json_file, batch.results, zone=zone)
        except LendsimError as error:
            raise common.fail_input(error) from None
    if junit_file is not None:
        common.write(junit_file, junit_report(batch.results, defects=defects, zone=zone))
    if html_file is not None:
        facts = RunFacts(started, batch.seconds, defects, batch.workers, version=_version(),
                         zone=zone)
        common.write(html_file, html_report(batch.results, batch.explanations, facts))
    raise typer.Exit(1 if any(r.failed for r in batch.results) else 0)


@app.command(cls=Command)
def explain(
    scenario: Annotated[str, typer.Argument(
        help="A scenario file, or the id of a scenario in scenarios/ (else the library).",
        metavar="SCENARIO", show_default=False)],
    borrower: Borrowers = None,
    defect: Defects = None,
    html_file: HtmlFile = None,
    strict_contracts: Strict = False,
    utc: Utc = False,
) -> None:
    """Run one scenario and show a borrower's timeline; exit 0 if it passes, 1 if not."""
    from simulator.faces.explain import unknown_borrowers
    from simulator.faces.explain_command import explain_scenario, find_scenario, handles
    from simulator.faces.html_report import RunFacts, html_report

    started = datetime.now().astimezone()
    try:
        common.check_reports(html_file=html_file)
        defects = validate_defects(defect or ())
        chosen = find_scenario(scenario, default_paths())
        picks = tuple(borrower or ())
        missing = unknown_borrowers(chosen, picks)
        if missing:
            raise LendsimError(f"{chosen.id}: no borrower {', '.join(map(repr, missing))} "
                               f"(its borrowers: {handles(chosen)})")
        with Meter(common.status, 1, f"running {chosen.id}", unit="scenario") as meter:
            outcome = explain_scenario(chosen, defects, picks, strict_contracts=strict_contracts,
                                       utc=utc, meter=meter, console=common.console,
                                       drawing=html_file is not None)
    except LendsimError as error:
        raise common.fail_input(error) from None
    if outcome is None:
        common.console.print("\n[bold red]interrupted[/]", highlight=False)
        raise typer.Exit(INTERRUPTED)
    result, explanation, seconds = outcome
    if html_file is not None:
        facts = RunFacts(started, seconds, defects, 1, version=_version(), zone=common.zone(utc))
        common.write(html_file, html_report([result], [explanation], facts))
    raise typer.Exit(0 if result.passed else 1)


@app.command(cls=Command)
def defects(
    matrix: Annotated[bool, typer.Option(
        "--matrix", help="Run the library once per defect and show which scenarios catch it; "
                         "exit 1 if any defect is caught by none, or imprecisely (an invariant "
                         "that does not explain it fails too).")] = False,
    paths: Paths = None,
    jobs: Jobs = 0,
    only: Annotated[list[str] | None, typer.Option(
        "--defect", metavar="NAME", help="With --matrix: only these defects (repeatable).",
        show_default=False)] = None,
    json_file: JsonFile = None,
    junit_file: JunitFile = None,
) -> None:
    """List the defect catalogue, or with --matrix prove the library catches every defect."""
    if not matrix:
        _print_catalogue()
        return
    from simulator.faces.reports import matrix_junit, print_matrix
    from simulator.world.matrix import defect_matrix, matrix_jobs

    try:
        common.check_reports(json_file=json_file, junit_file=junit_file)
        workers = common.workers(jobs)
        chosen = validate_defects(only) if only else None
        files = common.scenario_files(paths)
        total = len(matrix_jobs(files, chosen))
        with Meter(common.status, total, "defect matrix", unit="runs") as meter:
            result = defect_matrix(files, chosen, jobs=workers,
                                   on_done=lambda *_: meter.advance(), tick=meter.tick)
    except LendsimError as error:
        raise common.fail_input(error) from None
    except Interrupted as stop:
        common.console.print(f"\n[bold red]interrupted[/] after {len(stop.done)} of {stop.total} "
                       "runs; no matrix drawn", highlight=False)
        raise typer.Exit(INTERRUPTED) from None
    print_matrix(result, common.console)
    if json_file is not None:
        import json

        common.write(json_file, json.dumps(result.as_dict(), indent=2) + "\n")
    if junit_file is not None:
        common.write(junit_file, matrix_junit(result))
    raise typer.Exit(0 if result.passed else 1)


def _print_catalogue() -> None:
    """One defect a line — its mistake wrapped under itself when the page is narrow."""
    width = max(len(name) for name in DEFECTS)
    room = max(common.console.width - width - 2, 20)
    for name, item in DEFECTS.items():
        lines = textwrap.wrap(item.mistake, room) or [""]
        common.console.print(f"{name:<{width}}  {lines[0]}", markup=False, soft_wrap=True)
        for line in lines[1:]:
            common.console.print(f"{'':<{width}}  {line}", markup=False, soft_wrap=True)


_LOOPBACK = ("127.0.0.1", "::1", "localhost")


@app.command(cls=Command)
def serve(
    scenario: Annotated[Path | None, typer.Argument(
        help="A scenario file for the world (default: an empty world).", metavar="SCENARIO",
        show_default=False)] = None,
    host: Annotated[str, typer.Option(
        "--host", metavar="ADDR", help="Address to listen on (loopback unless you mean "
                                       "otherwise).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, metavar="N",
                                      help="Port.")] = 8765,
    jurisdiction: Annotated[str, typer.Option(
        "--jurisdiction", metavar="CN|US", help="Of an empty world: CN or US.")] = "CN",
    start: Annotated[str | None, typer.Option(
        "--start", metavar="INSTANT", help="Of an empty world: its first instant (local time "
                                           "unless an offset is given; default "
                                           "2026-01-01T09:00).", show_default=False)] = None,
    defect: Defects = None,
    keys: Annotated[Path | None, typer.Option(
        "--keys", metavar="FILE", help='Partner keys, a JSON file {"key id": "secret"} '
                                       "(default: the test keyring).",
        show_default=False)] = None,
    state: Annotated[Path | None, typer.Option(
        "--state", metavar="DIR", help="Keep the world in this folder (party databases, clock, "
                                       "faults, replay cache) so it survives a restart, even "
                                       "kill -9; a world found there is resumed (default: in "
                                       "memory).", show_default=False)] = None,
) -> None:
    """Serve a world over HTTP: the sandbox at /, each party under /<party> (signed requests)."""
    import uvicorn

    from simulator.scenarios.loader import load_scenario
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
                          keyring=keyring, state=state, own_process=True)
    except LendsimError as error:
        raise common.fail_input(error) from None
    if host not in _LOOPBACK:
        common.errors.print(f"warning: serving on {host}: anyone who reaches it can move the clock "
                      "and read the world", markup=False)
    common.console.print(f"lendsim sandbox on http://{host}:{port}/ — signing keys: "
                   f"{', '.join(keyring.key_ids)}", markup=False)
    try:
        uvicorn.run(sandbox.app, host=host, port=port, log_level="info",
                    log_config=log_config())
    finally:
        sandbox.close()


contracts_app = typer.Typer(cls=Group, help="Contract tests of the HTTP faces.",
                            no_args_is_help=True, context_settings=CONTEXT)
app.add_typer(contracts_app, name="contracts")


@contracts_app.command("test", cls=Command)
def contracts_test(
    party: Annotated[list[str] | None, typer.Option(
        "--party", metavar="NAME", help="bank, platform, bureau, sms or sandbox (repeatable; "
                                        "default: all).", show_default=False)] = None,
    url: Annotated[str | None, typer.Option(
        "--url", metavar="BASE_URL", help="A live server laid out like `lendsim serve` "
                                          "(default: in process).", show_default=False)] = None,
    junit_file: JunitFile = None,
    seed: Annotated[int, typer.Option("--seed", metavar="N",
                                      help="Seed of the generated requests.")] = 0,
    max_examples: Annotated[int, typer.Option(
        "--max-examples", metavar="N", help="Generated requests per operation and phase.")] = 10,
    defect: Defects = None,
    keys: Annotated[Path | None, typer.Option(
        "--keys", metavar="FILE", help='Sign with keys from this JSON file {"key id": '
                                       '"secret"} (default: the test keyring).',
        show_default=False)] = None,
    key_id: Annotated[str, typer.Option("--key-id", metavar="ID",
                                        help="The key to sign with.")] = "partner",
) -> None:
    """Check each HTTP face against its contract; exit 0 if all conform, 1 if not, 2 bad input.

    Schemathesis (examples, boundary values, random, stateful) plus lendsim's own checks.

    Requests are signed with a partner key; the report shows each reproduction unsigned."""
    from simulator.wire.contracts import SERVED
    from simulator.wire.signing import Keyring

    try:
        from simulator.faces.contract_suite import run_contract_suite
        from simulator.faces.contract_suite.report import PartyReport
    except ModuleNotFoundError as missing:  # an install without lendsim's dependencies
        raise common.fail_input(LendsimError(
            f"lendsim contracts test needs the {missing.name} package, one of lendsim's "
            "dependencies: reinstall lendsim (pip install lendsim)")) from None
    parties = tuple(party or SERVED)
    try:
        common.check_reports(junit_file=junit_file)
        chosen = validate_defects(defect or ())
        if url is not None and chosen:
            raise LendsimError("--defect plants defects in lendsim's own world; "
                               "it cannot go with --url")
        keyring = Keyring.from_file(keys) if keys is not None else Keyring.for_testing()
        finished: list[PartyReport] = []

        def done(party_report: PartyReport) -> None:
            finished.append(party_report)
            meter.advance()

        with Meter(common.status, len(parties), "contract suite", unit="contracts") as meter:
            report = run_contract_suite(parties, url=url, seed=seed, max_examples=max_examples,
                                        keyring=keyring, key_id=key_id, defects=chosen,
                                        on_party=done)
    except LendsimError as error:
        raise common.fail_input(error) from None
    except KeyboardInterrupt:
        verdicts = ", ".join(f"{r.party} {'pass' if r.passed else 'FAIL'}" for r in finished)
        common.console.print(f"\n[bold red]interrupted[/] after {len(finished)} of {len(parties)} "
                       f"contract(s){': ' + verdicts if verdicts else ''}; no report file "
                       "written", highlight=False)
        raise typer.Exit(INTERRUPTED) from None
    common.console.print(report.text(), markup=False, soft_wrap=True)
    if junit_file is not None:
        common.write(junit_file, report.junit())
    raise typer.Exit(0 if report.passed else 1)


register_systems(app)
register_explore(app)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        common.errors.print("interrupted", markup=False)
        sys.exit(INTERRUPTED)


if __name__ == "__main__":
    main()
