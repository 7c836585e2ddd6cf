"""A pytest plugin: every scenario file under a ``scenarios`` folder is a test item.

``pytest scenarios/`` runs the library; a failure shows why the scenario
failed and the journal entries that prove it, so CI gets JUnit XML through
``--junitxml`` for free. ``--lendsim-defect NAME`` plants a defect in every
scenario, like ``lendsim run --defect``; ``--lendsim-strict-contracts`` checks
every payload against its contract, like ``lendsim run --strict-contracts``;
``--lendsim-sut ROLE=TARGET`` (with ``--lendsim-profile FILE``) puts your own bank or
platform in every scenario, like ``lendsim run --sut``: a scenario that does not
apply to it is reported as skipped, with the reason.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from simulator.core.errors import LendsimError
from simulator.core.privacy import redact
from simulator.faces.cli_systems import system_run
from simulator.faces.reports import failure_text
from simulator.scenarios.defects import validate_defects
from simulator.scenarios.loader import load_scenario
from simulator.sut.runs import run_with_system
from simulator.sut.targets import DEFAULT_TIMEOUT
from simulator.world.runner import run_scenario

__all__ = ["ScenarioFile", "ScenarioItem"]

_SCENARIO_KEY = re.compile(r"^scenario\s*:", re.MULTILINE)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("lendsim")
    group.addoption("--lendsim-defect", action="append", default=[], metavar="NAME",
                    help="plant this defect in every scenario run (repeatable)")
    group.addoption("--lendsim-strict-contracts", action="store_true", default=False,
                    help="check every payload between parties against contracts/")
    group.addoption("--lendsim-sut", default=None, metavar="ROLE=TARGET",
                    help="put your own bank or platform in every scenario run")
    group.addoption("--lendsim-profile", default=None, metavar="FILE",
                    help="what the system under test promises (YAML)")


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    if file_path.suffix not in (".yaml", ".yml") or "scenarios" not in file_path.parent.parts:
        return None
    try:
        head = file_path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    if not _SCENARIO_KEY.search(head):
        return None
    collector: ScenarioFile = ScenarioFile.from_parent(parent, path=file_path)
    return collector


class ScenarioFile(pytest.File):
    """A scenario YAML file; it holds one item, the scenario."""

    def collect(self) -> Iterator[ScenarioItem]:
        yield ScenarioItem.from_parent(self, name=self.path.stem)


class ScenarioFailure(Exception):
    """A scenario ran and failed its expectations, or could not be loaded."""


class ScenarioItem(pytest.Item):
    """Load, run and judge one scenario."""

    def runtest(self) -> None:
        try:
            defects = validate_defects(self.config.getoption("--lendsim-defect"),
                                       where="--lendsim-defect")
            scenario = load_scenario(self.path)
            strict = self.config.getoption("--lendsim-strict-contracts")
            sut = self.config.getoption("--lendsim-sut")
            if sut is not None:
                profile = self.config.getoption("--lendsim-profile")
                system = system_run(sut, Path(profile) if profile else None, DEFAULT_TIMEOUT,
                                    defects)
                result = run_with_system(scenario, system, defects, strict_contracts=strict)
            else:
                result = run_scenario(scenario, defects, strict_contracts=strict)
        except LendsimError as error:
            raise ScenarioFailure(redact(str(error))) from None
        self.user_properties.append(("digest", result.digest))
        if result.skipped is not None:
            pytest.skip(f"the scenario {result.skipped}")
        if not result.passed:
            raise ScenarioFailure(failure_text(result))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> str:
        if isinstance(excinfo.value, ScenarioFailure):
            return f"scenario {self.name} failed:\n{excinfo.value}"
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"scenario: {self.name}"
