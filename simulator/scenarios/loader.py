"""Scenario files: YAML text → a validated :class:`~simulator.scenarios.model.Scenario`.

A file is read only up to :func:`max_scenario_bytes` (1 MiB unless the environment
variable ``LENDSIM_MAX_SCENARIO_BYTES`` says otherwise), then in three stages, each
naming the file, the line and the key (``steps[2].fault.for``) of every mistake
it finds (:class:`~simulator.core.errors.ScenarioErrors` when there are several):

1. **YAML** with positions, without floats and with alias expansion limited
   (:mod:`~simulator.scenarios.yaml_lines`); a YAML error stops the file;
2. **schema**, ``contracts/scenario.schema.json`` (:mod:`~simulator.scenarios.schema_check`):
   every mistake, one per line;
3. **meaning**: references, instants within the run, loan timelines, money in minor
   units, generated borrowers (:mod:`~simulator.scenarios.build`): every mistake.

A YAML file without a top-level ``scenario:`` key is not a scenario
(:class:`~simulator.core.errors.NotAScenario`); :func:`load_all` skips it, with a
note, when it was found in a folder, and reports every mistake of every file at once.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from simulator.core.errors import NotAScenario, ScenarioError, ScenarioErrors
from simulator.scenarios.build import ScenarioBuilder
from simulator.scenarios.model import Scenario
from simulator.scenarios.schema_check import validate_document
from simulator.scenarios.yaml_lines import parse_yaml

__all__ = ["DEFAULT_MAX_BYTES", "Loaded", "discover", "load_all", "load_scenario",
           "load_scenario_text", "max_scenario_bytes"]

_SUFFIXES = (".yaml", ".yml")
#: the largest scenario file read, unless ``LENDSIM_MAX_SCENARIO_BYTES`` says otherwise
DEFAULT_MAX_BYTES = 1 << 20
_LIMIT_VARIABLE = "LENDSIM_MAX_SCENARIO_BYTES"


def max_scenario_bytes() -> int:
    """The size limit of a scenario file: ``LENDSIM_MAX_SCENARIO_BYTES`` or 1 MiB."""
    given = os.environ.get(_LIMIT_VARIABLE)
    if given is None:
        return DEFAULT_MAX_BYTES
    if not given.strip().isdigit() or int(given) < 1:
        raise ScenarioError(f"{_LIMIT_VARIABLE} must be a positive number of bytes "
                            f"(got {given!r})")
    return int(given)




def load_scenario_text(text: str, file: str | Path | None = None) -> Scenario:
    """The scenario in ``text``; ``file`` names it in errors and in ``Scenario.file``.

    Raises :class:`ScenarioError` (file, line and key) for any mistake in it.
    """
    name = str(file) if file is not None else None
    try:
        document = parse_yaml(text, name)
        if "scenario" not in document:
            raise NotAScenario("not a scenario: it has no top-level 'scenario:' key",
                               file=name, line=1)
        validate_document(document, name)
        return ScenarioBuilder(document, name).build()
    except RecursionError:
        raise ScenarioError("the scenario is nested too deeply (or refers to itself)",
                            file=name) from None


def load_scenario(path: Path) -> Scenario:
    """The scenario in the file ``path`` (UTF-8 YAML, at most :func:`max_scenario_bytes`)."""
    limit = max_scenario_bytes()
    try:
        with Path(path).open("rb") as stream:
            raw = stream.read(limit + 1)
    except OSError as exc:
        raise ScenarioError(f"cannot read the scenario: {exc.strerror or exc}",
                            file=path) from None
    if len(raw) > limit:
        raise ScenarioError(f"the file is over {limit:,} bytes, the limit of a scenario "
                            f"(set {_LIMIT_VARIABLE} to allow more)", file=path)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"the file is not UTF-8 text (byte 0x{raw[exc.start]:02x} at "
                            f"offset {exc.start})", file=path,
                            line=raw.count(b"\n", 0, exc.start) + 1) from None
    return load_scenario_text(text, file=path)


def discover(paths: Iterable[Path]) -> list[Path]:
    """Scenario files among ``paths``: ``*.yaml``/``*.yml`` under folders, recursively.

    Each folder's files come sorted; files named directly are taken whatever
    their suffix; hidden files and folders (``.git``) are skipped; a file
    reached twice is listed once. A path that does not exist is a
    :class:`ScenarioError`.
    """
    found: dict[Path, None] = {}
    for given in paths:
        path = Path(given)
        if path.is_dir():
            below: list[Path] = []
            for folder, folders, files in os.walk(path):
                folders[:] = [name for name in folders if not name.startswith(".")]
                below.extend(Path(folder, name) for name in files
                             if name.endswith(_SUFFIXES) and not name.startswith("."))
            found.update(dict.fromkeys(sorted(below, key=lambda p: p.parts)))
        elif path.is_file():
            found[path] = None
        else:
            raise ScenarioError("no such scenario file or folder", file=path)
    return list(found)


@dataclass
class Loaded:
    """What :func:`load_all` found: the scenarios, and the YAML files skipped as not
    scenarios (each a note naming the file)."""

    scenarios: list[Scenario] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def load_all(paths: Iterable[Path]) -> Loaded:
    """Every scenario under ``paths`` (see :func:`discover`), reporting every mistake of
    every file at once (:class:`ScenarioErrors`). A YAML file found in a folder that is
    not a scenario is skipped with a note; one named directly is an error."""
    paths = list(paths)
    named = {Path(path) for path in paths}
    loaded = Loaded()
    errors: list[ScenarioError] = []
    for file in discover(paths):
        try:
            loaded.scenarios.append(load_scenario(file))
            loaded.files.append(file)
        except NotAScenario as error:
            if file in named:
                errors.append(error)
            else:
                loaded.skipped.append(f"skipped {file}: not a scenario (no top-level "
                                      "'scenario:' key)")
        except ScenarioError as error:
            errors.append(error)
    if errors:
        raise errors[0] if len(errors) == 1 else ScenarioErrors(errors)
    return loaded
