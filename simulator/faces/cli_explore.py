"""The ``lendsim explore`` command (README, "Explore"): random worlds with swarm faults on
this process, a local pool or a Dask cluster, each finding shrunk to a scenario file.

Exit 0 when every invariant held in every run, 1 on a finding, 2 for bad input, 130
when Ctrl-C stopped the campaign.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from simulator.core.durations import parse_duration
from simulator.core.errors import LendsimError
from simulator.faces import cli_common as common
from simulator.faces.cli_common import INTERRUPTED, Defects, JsonFile
from simulator.faces.cli_help import Command
from simulator.faces.cli_systems import Profile, Timeout, system_run
from simulator.scenarios.defects import validate_defects
from simulator.sut.timeouts import DEFAULT_TIMEOUT

__all__ = ["explore", "register"]


def explore(
    runs: Annotated[int | None, typer.Option(
        "--runs", metavar="N", help="Run this many random worlds (default 1000).",
        show_default=False)] = None,
    duration: Annotated[str | None, typer.Option(
        "--time", metavar="DURATION", help="Instead of --runs: run worlds for this long "
                                           "(30m, 2h).", show_default=False)] = None,
    seed: Annotated[int, typer.Option("--seed", metavar="S",
                                      help="Seed of the campaign.")] = 0,
    jobs: Annotated[int, typer.Option(
        "--jobs", "-j", metavar="N", show_default=False,
        help="Worker processes (default: one per core; 1: this process).")] = 0,
    dask: Annotated[str | None, typer.Option(
        "--dask", metavar="ADDRESS", show_default=False,
        help="Run on the Dask cluster whose scheduler is at this address (needs "
             "pip install 'lendsim\\[explore]').")] = None,
    defect: Defects = None,
    sut: Annotated[str | None, typer.Option(
        "--sut", metavar="ROLE=TARGET", show_default=False,
        help="Explore with your own bank or platform in the world, as with `lendsim run "
             "--sut`.")] = None,
    profile: Profile = None,
    timeout: Timeout = DEFAULT_TIMEOUT,
    out: Annotated[Path, typer.Option(
        "--out", metavar="DIR", help="Write each shrunk scenario into this folder.")
    ] = Path("explore-out"),
    json_file: JsonFile = None,
    shrink_runs: Annotated[int, typer.Option(
        "--shrink-runs", metavar="N",
        help="At most this many runs to shrink each finding (0: do not shrink).")] = 400,
) -> None:
    """Run random worlds with swarm faults; exit 0 if every invariant held, 1 on a finding.

    Each violation is shrunk to a minimal scenario written under --out."""
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
        for option, value, least in (("--runs", runs, 1), ("--seed", seed, 0),
                                     ("-j/--jobs", jobs, 0), ("--shrink-runs", shrink_runs, 0)):
            if value is not None and value < least:
                raise LendsimError(f"{option} must be {least} or more (got {value})")
        if dask is not None and jobs:
            raise LendsimError("-j/--jobs is for a local pool; with --dask the cluster's "
                               "workers run the worlds")
        limit = parse_duration(duration, what="--time") if duration is not None else None
        common.check_reports(json_file=json_file)
        if out.exists() and not out.is_dir():
            raise LendsimError(f"--out {out}: not a folder")
        chosen = validate_defects(defect or ())
        system = system_run(sut, profile, timeout, chosen) if sut is not None else None
        if system is None and profile is not None:
            raise LendsimError("--profile describes a system under test: give --sut too")
        backend = backend_for(jobs, dask)
    except ValueError as error:
        raise common.fail_input(LendsimError(str(error))) from None
    except LendsimError as error:
        raise common.fail_input(error) from None
    try:
        campaign = run_campaign(
            backend, seed=seed, runs=(runs or 1000) if limit is None else None, limit=limit,
            defects=chosen, out=out, shrink_budget=shrink_runs,
            report=ProgressPrinter(common.errors), system=system)
    except LendsimError as error:
        raise common.fail_input(error) from None
    except KeyboardInterrupt:
        common.console.print("\n[bold red]interrupted[/]: no campaign summary", highlight=False)
        raise typer.Exit(INTERRUPTED) from None
    finally:
        backend.close()
    rerun = " ".join((*((f"--sut {sut}",) if sut is not None else ()),
                      *((f"--profile {profile}",) if profile is not None else ())))
    print_campaign(campaign, common.console, rerun=rerun)
    if json_file is not None:
        try:
            write_campaign_json(json_file, campaign)
        except LendsimError as error:
            raise common.fail_input(error) from None
    raise typer.Exit(0 if campaign.clean else 1)


def register(app: typer.Typer) -> None:
    """Add ``lendsim explore`` to ``lendsim``."""
    app.command("explore", cls=Command)(explore)
