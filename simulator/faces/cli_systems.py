"""The commands about systems under test: ``lendsim check`` and ``lendsim serve-party``
(README, "Test your own bank or platform")."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from simulator.core.errors import LendsimError
from simulator.core.privacy import redact
from simulator.core.topology import ROLES
from simulator.faces import cli_common as common
from simulator.faces.cli_common import INTERRUPTED, HtmlFile, Jobs, JsonFile, JunitFile, Keyword
from simulator.faces.cli_help import Command
from simulator.faces.progress import Meter
from simulator.sut.timeouts import DEFAULT_TIMEOUT

__all__ = ["Profile", "Timeout", "register", "system_run"]

if TYPE_CHECKING:  # the systems' layer is imported by the commands that use it
    from simulator.faces.check import CheckReport
    from simulator.sut.runs import SystemRun
    from simulator.sut.targets import TargetSpec

Profile = Annotated[Path | None, typer.Option(
    "--profile", metavar="FILE", show_default=False,
    help="What the system promises (YAML; README, \"Test your own bank or platform\"); "
         "default: nothing beyond the law.")]
Timeout = Annotated[float, typer.Option(
    "--timeout", metavar="SECONDS", help="How long to wait for the system's answer to one "
                                         "call or clock move (real time).")]


def system_run(sut: str | TargetSpec, profile: Path | None, timeout: float,
               defects: tuple[str, ...] = (), *, where: str = "--sut") -> SystemRun:
    """``--sut ROLE=TARGET`` (or a target already parsed) with its profile, checked (bad
    input raises naming the option ``where``)."""
    from simulator.sut.profile import Profile as SystemProfile
    from simulator.sut.profile import load_profile
    from simulator.sut.runs import SystemRun
    from simulator.sut.targets import parse_system

    spec = parse_system(sut, where=where) if isinstance(sut, str) else sut
    if timeout <= 0:
        raise LendsimError(f"--timeout must be above 0 seconds (got {timeout:g})")
    planted = [d for d in defects if d.startswith(f"{spec.role}.")]
    if planted:
        raise LendsimError(f"--defect {planted[0]}: the {spec.role} is the system under test; "
                           "defects are planted in reference parties only")
    chosen = load_profile(profile, role=spec.role) if profile is not None else \
        SystemProfile.default(spec.role)
    return SystemRun(spec, chosen, timeout)

def serve_party(
    role: Annotated[str, typer.Argument(help="bank or platform.", metavar="ROLE",
                                        show_default=False)],
    port: Annotated[int, typer.Option("--port", min=1, max=65535, metavar="N",
                                      help="Port.")] = 8770,
    host: Annotated[str, typer.Option(
        "--host", metavar="ADDR", help="Address to listen on.")] = "127.0.0.1",
    defect: Annotated[list[str] | None, typer.Option(
        "--defect", metavar="NAME", show_default=False,
        help="Plant this defect in the party (repeatable; see `lendsim defects`).")] = None,
) -> None:
    """Serve the reference bank or platform alone, as a system under test.

    It answers its contract and the control contract under /lendsim/; peers: LENDSIM_*_URL.
    """
    import uvicorn

    from simulator.serve.logs import log_config
    from simulator.sut.reference import ReferenceSystem

    try:
        system = ReferenceSystem(role, defects=tuple(defect or ()))
    except LendsimError as error:
        raise common.fail_input(error) from None
    common.errors.print(f"lendsim reference {role} on http://{host}:{port}/ (control under "
                  "/lendsim/)", markup=False)
    try:
        uvicorn.run(system.app(), host=host, port=port, log_level="warning",
                    log_config=log_config())
    finally:
        system.close()


def check(
    role: Annotated[str, typer.Option("--role", metavar="ROLE",
                                      help="bank or platform.", show_default=False)],
    target: Annotated[str, typer.Option(
        "--target", metavar="TARGET", show_default=False,
        help="python:pkg.mod:app, http://host:port/prefix, or command:… with {port}.")],
    paths: Annotated[list[Path] | None, typer.Argument(
        help="Scenario files or folders (default: the built-in library).",
        show_default=False, metavar="PATH")] = None,
    profile: Profile = None,
    html_file: HtmlFile = None,
    junit_file: JunitFile = None,
    json_file: JsonFile = None,
    jobs: Jobs = 0,
    keyword: Keyword = None,
    timeout: Timeout = DEFAULT_TIMEOUT,
    max_examples: Annotated[int, typer.Option(
        "--max-examples", metavar="N", help="Generated requests per operation and phase in "
                                             "the contract suite.")] = 5,
) -> None:
    """Onboarding check of your bank or platform; exit 0 only when all passes.

    It checks the control contract, the contract suite and every applicable library scenario.
    """
    from simulator.core.locator import data_path
    from simulator.faces.check import run_check
    from simulator.sut.targets import parse_target

    try:
        common.check_reports(html_file=html_file, junit_file=junit_file, json_file=json_file)
        if max_examples < 1:
            raise LendsimError(f"--max-examples must be at least 1 (got {max_examples})")
        workers = common.workers(jobs)
        if role not in ROLES:
            raise LendsimError(f"--role: expected {' or '.join(ROLES)} (got {role!r})")
        system = system_run(parse_target(role, target), profile, timeout)
        scenarios = common.load_scenarios(paths or [data_path("scenarios")], keyword)
        with Meter(common.status, len(scenarios), "checking", unit="scenarios") as meter:
            report = run_check(system, scenarios, workers=workers, meter=meter,
                               max_examples=max_examples)
    except LendsimError as error:
        raise common.fail_input(error) from None
    except KeyboardInterrupt:
        raise common.interrupted_early() from None
    _print(report)
    if report.interrupted:
        raise typer.Exit(INTERRUPTED)
    for path, text in ((json_file, report.json), (junit_file, report.junit),
                       (html_file, report.html)):
        if path is not None:
            common.write(path, text())
    raise typer.Exit(0 if report.passed else 1)


def _print(report: CheckReport) -> None:
    console = common.console
    console.print(f"lendsim check {report.system.spec.text}", markup=False)
    group = ""
    for requirement in report.requirements:
        if requirement.group != group:
            group = requirement.group
            console.print(f"\n[bold]{group}[/]")
        style = {"pass": "green", "skip": "yellow"}.get(requirement.status, "bold red")
        console.print(f"[{style}]{requirement.status:<4}[/] {requirement.name}",
                      highlight=False, soft_wrap=True)
        if requirement.status != "pass":
            for line in requirement.evidence[:12]:
                console.print(f"       {redact(line)}", markup=False, soft_wrap=True)
            if requirement.status == "FAIL":
                console.print(f"       reproduce: {requirement.reproduce}", markup=False,
                              soft_wrap=True)
    counts = report.counts()
    colour = "green" if report.passed else "red"
    console.print(f"\n[{colour}]{counts['pass']} passed, {counts['FAIL']} failed, "
                  f"{counts['skip']} skipped[/] in {report.seconds:.1f} s", highlight=False)


def register(app: typer.Typer) -> None:
    """Add the commands to ``lendsim``."""
    app.command("check", cls=Command)(check)
    app.command("serve-party", cls=Command)(serve_party)
