"""Scenario files: YAML text → a validated :class:`~simulator.scenarios.model.Scenario`.

Three stages, each reporting the first mistake as a :class:`ScenarioError`
that names the file, the line and the key (``steps[2].fault.for``):

1. **YAML** with positions and without floats (:mod:`~simulator.scenarios.yaml_lines`);
2. **schema**, ``contracts/scenario.schema.json`` (:mod:`~simulator.scenarios.messages`);
3. **meaning**: references, instants within the run, money in minor units,
   generated borrowers (:mod:`~simulator.scenarios.build`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from simulator.core.errors import ScenarioError
from simulator.scenarios.build import ScenarioBuilder
from simulator.scenarios.model import Scenario
from simulator.scenarios.schema_check import validate_document
from simulator.scenarios.yaml_lines import parse_yaml

__all__ = ["discover", "load_scenario", "load_scenario_text"]

_SUFFIXES = (".yaml", ".yml")




def load_scenario_text(text: str, file: str | Path | None = None) -> Scenario:
    """The scenario in ``text``; ``file`` names it in errors and in ``Scenario.file``.

    Raises :class:`ScenarioError` (file, line and key) for any mistake in it.
    """
    name = str(file) if file is not None else None
    try:
        document = parse_yaml(text, name)
        validate_document(document, name)
        return ScenarioBuilder(document, name).build()
    except RecursionError:
        raise ScenarioError("the scenario is nested too deeply (or refers to itself)",
                            file=name) from None


def load_scenario(path: Path) -> Scenario:
    """The scenario in the file ``path`` (UTF-8 YAML)."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ScenarioError(f"cannot read the scenario: {exc.strerror or exc}",
                            file=path) from None
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
