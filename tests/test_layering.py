"""The layering of ARCHITECTURE.md holds: folders are layers, no folder imports one above it,
the parties and the checks never import each other, and no module imports itself in a cycle."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "simulator"

#: Each layer (a folder of ``simulator/``) and the layers it may import, besides itself.
#: ``root`` is ``simulator/__init__.py``, the public API, on top of everything.
LAYERS: dict[str, frozenset[str]] = {
    "core": frozenset(),
    "scenarios": frozenset({"core"}),
    "wire": frozenset({"core"}),
    "engine": frozenset({"core"}),
    "parties": frozenset({"core", "scenarios", "engine"}),
    "checks": frozenset({"core", "scenarios", "engine"}),
    "world": frozenset({"core", "scenarios", "wire", "engine", "parties", "checks"}),
    "serve": frozenset({"core", "scenarios", "wire", "engine", "parties", "checks", "world"}),
    "sut": frozenset({"core", "scenarios", "wire", "engine", "parties", "checks", "world",
                      "serve"}),
    "explore": frozenset({"core", "scenarios", "wire", "engine", "parties", "checks", "world",
                          "sut"}),
    "faces": frozenset({"core", "scenarios", "wire", "engine", "parties", "checks", "world",
                        "serve", "sut", "explore"}),
    "root": frozenset({"core", "scenarios", "wire", "engine", "parties", "checks", "world",
                       "serve", "sut", "explore", "faces"}),
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else "root"


def _imports(path: Path) -> Iterator[tuple[str, bool]]:
    """(module imported, at import time?) for every import of a ``simulator`` module;
    imports under ``if TYPE_CHECKING:`` are not made at import time."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typing_only.update(id(child) for item in node.body for child in ast.walk(item))
    local_scopes: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            local_scopes.update(id(child) for child in ast.walk(node) if child is not node)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        at_import = id(node) not in typing_only and id(node) not in local_scopes
        for name in names:
            if name.split(".")[0] == "simulator":
                yield name, at_import


MODULES = sorted(PACKAGE.rglob("*.py"))
KNOWN = {_module_name(path) for path in MODULES}


def _resolve(name: str) -> str | None:
    """The module a dotted import name refers to (``simulator.core.clock.Clock`` → the module)."""
    while name and name not in KNOWN:
        name = name.rpartition(".")[0]
    return name or None


def test_every_folder_is_a_known_layer() -> None:
    """Each subpackage of simulator/ is one of the layers the table lists."""
    folders = {path.parent.name for path in PACKAGE.glob("*/__init__.py")}
    assert folders <= set(LAYERS), f"unknown layers: {sorted(folders - set(LAYERS))}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_imports_only_its_layer_and_those_below(path: Path) -> None:
    """A module imports simulator modules of its own layer and the layers below it only."""
    layer = _layer(_module_name(path))
    allowed = LAYERS[layer] | {layer}
    found = {module for name, _ in _imports(path) if (module := _resolve(name)) is not None}
    upward = sorted(module for module in found if _layer(module) not in allowed)
    assert upward == [], f"{path.relative_to(PACKAGE)} ({layer}) must not import {upward}"


def test_parties_and_checks_never_import_each_other() -> None:
    """The truth is computed without any party code (a planted defect cannot corrupt it), and
    no party can read the truth."""
    for path in MODULES:
        layer = _layer(_module_name(path))
        other = {"parties": "checks", "checks": "parties"}.get(layer)
        if other is None:
            continue
        found = {_layer(m) for name, _ in _imports(path) if (m := _resolve(name)) is not None}
        assert other not in found, f"{path.relative_to(PACKAGE)} imports {other}"


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in MODULES:
        module = _module_name(path)
        graph[module] = {found for name, at_import in _imports(path) if at_import
                         and (found := _resolve(name)) is not None and found != module}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of import-time imports, if there is one (depth-first search)."""
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return [*stack[stack.index(target):], target]
            if target not in state and (found := visit(target)) is not None:
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)) is not None:
            return found
    return None


def test_no_import_cycles() -> None:
    """No module imports itself through others at import time."""
    cycle = _cycle(_graph())
    assert cycle is None, " → ".join(cycle or ())


def test_the_cycle_finder_finds_a_cycle() -> None:
    """The check above can fail: a three-module loop is found."""
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_the_layer_check_can_fail(tmp_path: Path) -> None:
    """An upward import is reported: a core module importing the world is caught."""
    fake = PACKAGE / "core" / "clock.py"
    source = tmp_path / "clock.py"
    source.write_text("from simulator.world.world import World\n", encoding="utf-8")
    found = {module for name, _ in _imports(source) if (module := _resolve(name)) is not None}
    assert {_layer(m) for m in found} - LAYERS[_layer(_module_name(fake))] - {"core"} == {"world"}
