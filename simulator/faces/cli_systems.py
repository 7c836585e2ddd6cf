"""The commands about systems under test: ``lendsim check`` and ``lendsim serve-party``
(README, "Test your own bank or platform")."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from simulator.core.errors import LendsimError
from simulator.faces.cli_help import Command

__all__ = ["register"]

_console = Console(highlight=False)
_errors = Console(stderr=True, highlight=False)


def _bad_input(error: LendsimError) -> typer.Exit:
    _errors.print(f"error: {error}", markup=False)
    return typer.Exit(2)


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
    """Serve the reference bank or platform alone, as a system under test: its contract,
    the control contract under /lendsim/, peers from LENDSIM_*_URL or each reset."""
    import uvicorn

    from simulator.serve.logs import log_config
    from simulator.sut.reference import ReferenceSystem

    try:
        system = ReferenceSystem(role, defects=tuple(defect or ()))
    except LendsimError as error:
        raise _bad_input(error) from None
    _errors.print(f"lendsim reference {role} on http://{host}:{port}/ (control under "
                  "/lendsim/)", markup=False)
    try:
        uvicorn.run(system.app(), host=host, port=port, log_level="warning",
                    log_config=log_config())
    finally:
        system.close()


def register(app: typer.Typer) -> None:
    """Add the commands to ``lendsim``."""
    app.command("serve-party", cls=Command)(serve_party)
