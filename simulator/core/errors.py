"""The exceptions lendsim raises for mistakes a user can make.

Every error a user can cause derives from :class:`LendsimError`; the CLI turns
them into a one-line message and exit status 2, never a traceback::

    LendsimError
    ├── ScenarioError        a scenario file is malformed (names file:line and key)
    │   ├── ScenarioErrors   several of them, of a file or a folder, one per line
    │   └── NotAScenario     a YAML file with no top-level ``scenario:`` key
    ├── UnknownDefectError   a defect name is not in the catalogue
    ├── UnknownInvariantError an invariant name is not in the catalogue
    └── ContractError        a payload does not conform to its contract
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "ContractError",
    "LendsimError",
    "NotAScenario",
    "ScenarioError",
    "ScenarioErrors",
    "UnknownDefectError",
    "UnknownInvariantError",
]


class LendsimError(Exception):
    """Base of every error caused by what a user gave lendsim."""


class ScenarioError(LendsimError):
    """A scenario file (or scenario data) is malformed.

    ``where`` is ``file:line`` when the position is known, and ``key`` the
    dotted path of the offending key (``steps[2].fault.for``).
    """

    def __init__(
        self, message: str, *, file: Path | str | None = None, line: int | None = None,
        key: str | None = None,
    ) -> None:
        self.message = message
        self.file = str(file) if file is not None else None
        self.line = line
        self.key = key
        super().__init__(self.__str__())

    @property
    def where(self) -> str:
        if self.file is None:
            return "<scenario>" if self.line is None else f"<scenario>:{self.line}"
        return self.file if self.line is None else f"{self.file}:{self.line}"

    def __str__(self) -> str:
        key = f" {self.key}:" if self.key else ""
        return f"{self.where}:{key} {self.message}"


class ScenarioErrors(ScenarioError):
    """Every mistake found in a scenario file, or in the files of a folder, in order; shown
    one per line (``file:line: key: message``)."""

    errors: list[ScenarioError]

    def __init__(self, errors: list[ScenarioError]) -> None:
        flat: list[ScenarioError] = []
        for error in errors:
            flat.extend(error.errors if isinstance(error, ScenarioErrors) else [error])
        if not flat:
            raise ValueError("ScenarioErrors needs at least one error")
        self.errors = flat
        first = flat[0]
        super().__init__(first.message, file=first.file, line=first.line, key=first.key)

    def __str__(self) -> str:
        return "\n".join(ScenarioError.__str__(error) for error in self.errors)


class NotAScenario(ScenarioError):
    """A YAML file that is not a scenario (no top-level ``scenario:`` key): skipped with a
    note when found in a folder, an error when named."""


class UnknownDefectError(LendsimError):
    """A defect name that is not in the catalogue (see ``lendsim defects``)."""


class UnknownInvariantError(LendsimError):
    """An invariant name that is not one of the invariants lendsim checks."""


class ContractError(LendsimError):
    """A payload crossing a link or an HTTP face does not conform to its contract.

    ``party`` and ``operation`` name the operation (an ``operationId``),
    ``where`` the part of the exchange (``request``, ``response 201``,
    ``header Idempotency-Key``) and ``path`` the JSON path of the offending
    field (``$.messages[0].phone``); the message says what was expected and
    never shows personal data.
    """

    def __init__(
        self, message: str, *, party: str | None = None, operation: str | None = None,
        where: str | None = None, path: str | None = None,
    ) -> None:
        self.message = message
        self.party = party
        self.operation = operation
        self.where = where
        self.path = path
        super().__init__(message)
