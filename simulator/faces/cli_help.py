"""How the command line's help reads: ``-h`` as well as ``--help``, and no type noise.

Typer shows a type beside every option (``--quiet <bool>``, ``--defect
<list[str]>``). Here a flag shows nothing beside it, an option shows its
metavar (``--defect NAME``, ``--json FILE``), and an argument only its name.
:class:`Command` and :class:`Group` do this for every command they build.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperCommand, TyperGroup

__all__ = ["CONTEXT", "Command", "Group"]

#: every command answers ``-h`` and ``--help``
CONTEXT: dict[str, Any] = {"help_option_names": ["-h", "--help"]}


def _plain(param: Any) -> None:
    """Show a flag bare, an option by its metavar, an argument by its name."""
    if not hasattr(param, "display_type_rich"):
        return
    metavar = getattr(param, "metavar", None)
    is_flag = bool(getattr(param, "is_flag", False) or getattr(param, "count", False))
    is_option = getattr(param, "param_type_name", "") == "option"
    shown = metavar if is_option and metavar and not is_flag else None

    def display_type_rich(ctx: Any = None) -> str | None:
        return shown

    param.display_type_rich = display_type_rich
    param.display_type = lambda ctx=None: shown or ""


class Command(TyperCommand):
    """A command whose help shows no type noise."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            _plain(param)

    def get_params(self, ctx: Any) -> Any:
        params = super().get_params(ctx)
        for param in params:
            _plain(param)
        return params


class Group(TyperGroup):
    """A group (``lendsim``, ``lendsim contracts``) whose help shows no type noise."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            _plain(param)

    def get_params(self, ctx: Any) -> Any:
        params = super().get_params(ctx)
        for param in params:
            _plain(param)
        return params
