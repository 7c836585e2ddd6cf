"""The example systems under test know nothing of lendsim: no module of theirs imports
``simulator``, and each has the profile and README its folder promises."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SYSTEMS = ("platform_flask", "bank_starlette")


@pytest.mark.parametrize("system", SYSTEMS)
def test_an_example_imports_nothing_of_lendsim(system: str) -> None:
    """No module of the example imports simulator (or anything under it)."""
    found = []
    for path in sorted((EXAMPLES / system).glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            found += [f"{path.name}: {n}" for n in names if n.split(".")[0] == "simulator"]
    assert found == []


@pytest.mark.parametrize(("system", "role"), [("platform_flask", "platform"),
                                               ("bank_starlette", "bank")])
def test_an_example_has_a_profile_of_its_role_and_a_readme(system: str, role: str) -> None:
    """profile.yaml names the example's role and parses as YAML; README.md documents the bug
    switch."""
    profile = yaml.safe_load((EXAMPLES / system / "profile.yaml").read_text(encoding="utf-8"))
    assert profile["role"] == role
    schema = EXAMPLES.parent / "contracts" / "profile.schema.json"
    if schema.exists():
        Draft202012Validator(json.loads(schema.read_text(encoding="utf-8"))).validate(profile)
    assert "EXAMPLE_BUG=1" in (EXAMPLES / system / "README.md").read_text(encoding="utf-8")


def test_the_examples_sign_alike() -> None:
    """Each example carries its own copy of the request signing (a user copies one folder
    and nothing else), and the copies are the same file: a fix to one is made to both."""
    copies = {(EXAMPLES / system / "signing.py").read_text(encoding="utf-8")
              for system in SYSTEMS}
    assert len(copies) == 1
