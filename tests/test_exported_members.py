"""The public API is short, sorted and exactly what the README's "Python API" documents."""

import inspect
import re
from pathlib import Path

import simulator
from simulator.core.errors import LendsimError

README = Path(__file__).resolve().parents[1] / "README.md"

#: The README's "Python API" table, written out by hand in sorted order: changing the public
#: API means changing the README and this list together.
DOCUMENTED = [
    "DEFECTS",
    "INVARIANTS",
    "LendsimError",
    "Scenario",
    "ScenarioError",
    "ScenarioResult",
    "UnknownDefectError",
    "World",
    "discover",
    "load_scenario",
    "load_scenario_text",
    "run_scenario",
    "system_world",
]


def readme_api_names() -> list[str]:
    """The names in the first column of the README's "Python API" table."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Python API\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return [name for row in rows
            for name in re.findall(r"`([A-Za-z_]\w*)", row.split(" | ")[0])]


def test_all_is_the_documented_api() -> None:
    """`__all__` is exactly the documented public names, in sorted order, without repeats."""
    assert simulator.__all__ == DOCUMENTED


def test_the_readme_documents_exactly_the_list() -> None:
    """The README's "Python API" table names each public name once, and no other."""
    names = readme_api_names()
    assert sorted(names) == DOCUMENTED


def test_all_names_exist_and_nothing_public_is_missing() -> None:
    """Every name in `__all__` exists, and every public attribute that is not a module is listed."""
    for name in simulator.__all__:
        assert hasattr(simulator, name), name
    public = {
        name for name, value in vars(simulator).items()
        if not name.startswith("_") and type(value).__name__ != "module"
    }
    assert public == set(DOCUMENTED)


def test_each_name_is_what_the_readme_says() -> None:
    """The loaders and runners are functions, the models classes, and the three errors are
    LendsimErrors; INVARIANTS and DEFECTS are a tuple and a mapping of names."""
    for name in ("discover", "load_scenario", "load_scenario_text", "run_scenario",
                 "system_world"):
        assert inspect.isfunction(getattr(simulator, name)), name
    for name in ("Scenario", "ScenarioResult", "World"):
        assert inspect.isclass(getattr(simulator, name)), name
    for name in ("LendsimError", "ScenarioError", "UnknownDefectError"):
        assert issubclass(getattr(simulator, name), LendsimError), name
    assert isinstance(simulator.INVARIANTS, tuple)
    assert all(isinstance(name, str) for name in simulator.INVARIANTS)
    assert all(isinstance(name, str) and "." in name for name in simulator.DEFECTS)
