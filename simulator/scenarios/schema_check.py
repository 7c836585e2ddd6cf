"""A scenario document checked against its schema (loading, stage 2).

:func:`validate_document` checks a document against
``contracts/scenario.schema.json`` (JSON Schema 2020-12), whose ``x-expected``
and ``x-messages`` annotations word the messages, and reports the first
mistake in file order as a :class:`~simulator.core.errors.ScenarioError`.
"""

from __future__ import annotations

import functools
import json
from decimal import Decimal
from typing import Any, cast

from jsonschema import Draft202012Validator, ValidationError

from simulator.core.errors import ScenarioError, ScenarioErrors
from simulator.core.locator import contract_path
from simulator.scenarios.positions import (
    Location,
    YamlMapping,
    key_path,
    line_of,
    show_value,
    value_name,
)

__all__ = ["validate_document"]


@functools.cache
def _validator(name: str = "scenario.schema.json") -> Draft202012Validator:
    """The schema's validator, built once per process, its references inlined."""
    with contract_path(name).open(encoding="utf-8") as stream:
        schema = json.load(stream, parse_float=Decimal)
    return Draft202012Validator(_inline_references(schema))


_LOCAL = "#/$defs/"


def _inline_references(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with each subschema that is only ``{"$ref": "#/$defs/name"}`` replaced
    by that definition itself (the same object, so an error names the same subschema):
    about a third of the checking time goes to looking references up. A reference
    beside other keywords, or inside the definition it names, is left to the validator."""
    definitions: dict[str, Any] = schema.get("$defs", {})
    inlined: dict[str, Any] = {}

    def definition(name: str, within: frozenset[str]) -> Any:
        if name not in inlined:
            inlined[name] = inline(definitions[name], within | {name})
        return inlined[name]

    def inline(node: Any, within: frozenset[str]) -> Any:
        if isinstance(node, dict):
            target = node.get("$ref")
            if (len(node) == 1 and isinstance(target, str) and target.startswith(_LOCAL)
                    and target[len(_LOCAL):] in definitions
                    and target[len(_LOCAL):] not in within):
                return definition(target[len(_LOCAL):], within)
            for key, value in node.items():
                if key != "$defs":
                    node[key] = inline(value, within)
        elif isinstance(node, list):
            node[:] = [inline(item, within) for item in node]
        return node

    for name in definitions:
        definitions[name] = definition(name, frozenset())
    return cast(dict[str, Any], inline(schema, frozenset()))


_TYPE_WORDS = {
    "object": "a mapping",
    "array": "a list",
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
}
_BOUND_WORDS = {
    "minimum": "at least",
    "exclusiveMinimum": "more than",
    "maximum": "at most",
    "exclusiveMaximum": "less than",
}
#: Errors that say something is missing: not reported while the same mapping
#: has an unknown key, which is likely the missing one misspelt.
_MISSING = {"required", "minProperties"}


class _Fields(dict[str, str]):
    """Fields for an ``x-messages`` template; an unknown ``{name}`` stays as written."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _location(error: ValidationError) -> Location:
    """Where an error is: for an unknown key, the key itself."""
    path = tuple(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        extra = _extra_keys(error)
        if extra:
            return (*path, extra[0])
    if error.validator == "uniqueItems" and isinstance(error.instance, list):
        return (*path, _first_repeated(error.instance)[0])
    return path


def _extra_keys(error: ValidationError) -> list[str]:
    schema = cast(dict[str, Any], error.schema)
    known = schema.get("properties", {})
    return [key for key in cast(dict[str, Any], error.instance) if key not in known]


def _is_missing(error: ValidationError) -> bool:
    if error.validator == "oneOf":
        return bool(error.context)  # none matched, rather than several
    return error.validator in _MISSING


def _reportable(errors: list[ValidationError]) -> list[tuple[ValidationError, Location]]:
    """The errors worth reporting, with where they are: "missing 'link'" gives way to
    "unknown key 'lnk'" in the same mapping (likely the missing one misspelt)."""
    located = [(error, _location(error)) for error in errors]
    with_unknown_keys = {tuple(error.absolute_path) for error, _ in located
                         if error.validator == "additionalProperties"}
    return [(error, location) for error, location in located
            if not (_is_missing(error) and location in with_unknown_keys)]


def _choose(reportable: list[tuple[ValidationError, Location]],
            document: YamlMapping) -> tuple[ValidationError, Location]:
    """The error to report among some: the first in file order, the deepest first on one
    line."""
    return min(reportable, key=lambda pair: (line_of(document, pair[1]), -len(pair[1])))


def _first_repeated(items: list[Any]) -> tuple[int, Any]:
    """(index, item) of the first item equal to an earlier one."""
    seen: list[Any] = []  # a list: items may be unhashable mappings
    for index, item in enumerate(items):
        if item in seen:
            return index, item
        seen.append(item)
    return len(items), None


def _message(error: ValidationError, location: Location) -> str:
    schema: dict[str, Any] = error.schema if isinstance(error.schema, dict) else {}
    keyword: Any = error.validator  # None for a `false` subschema
    validator = str(keyword)
    name = value_name(location)
    instance: Any = error.instance
    custom = schema.get("x-messages", {}).get(validator)
    if custom is not None:
        fields = _Fields({key: str(value) for key, value in instance.items()}
                         if isinstance(instance, dict) else {})
        text = str(custom).format_map(fields)
        if validator == "oneOf":
            text += " (got neither)" if error.context else " (got both)"
        return text
    expected: str | None = schema.get("x-expected")
    value: Any = error.validator_value
    if validator == "additionalProperties":
        known = ", ".join(schema.get("properties", {}))
        return f"unknown key {location[-1]!r} (expected one of: {known})"
    if validator == "required":
        missing = [key for key in value if key not in instance]
        return f"missing required key {missing[0]!r}"
    if validator == "type" and expected is None:
        types = value if isinstance(value, list) else [value]
        expected = " or ".join(_TYPE_WORDS.get(str(t), str(t)) for t in types)
    elif validator == "enum" and expected is None:
        expected = "one of " + ", ".join(str(choice) for choice in value)
    elif validator in _BOUND_WORDS and expected is None:
        expected = f"{_BOUND_WORDS[validator]} {show_value(value)}"
    elif validator == "minLength":
        return f"{name!r} must not be empty"
    elif validator == "maxLength":
        return f"{name!r} must be at most {value} characters (got {len(instance)})"
    elif validator == "minItems":
        return f"{name!r} must list at least {value} item{'s' if value != 1 else ''}"
    elif validator == "uniqueItems":
        repeated = show_value(_first_repeated(instance)[1])
        return f"{value_name(location[:-1])!r} lists {repeated} twice"
    elif validator == "maxProperties":
        return f"{name!r} must have at most {value} keys"
    elif validator == "minProperties":
        return f"{name!r} must have at least {value} keys"
    elif keyword is None:
        return f"{name!r} is not allowed here"
    if expected is not None:
        return f"{name!r} must be {expected} (got {show_value(instance)})"
    return f"{name!r}: {error.message}"


def validate_document(document: YamlMapping, file: str | None, *,
                      schema: str = "scenario.schema.json") -> None:
    """Raise every mistake against the schema (a file in ``contracts/``), one per line, in
    file order."""
    errors = list(_validator(schema).iter_errors(document))
    if not errors:
        return
    by_line: dict[int, list[tuple[ValidationError, Location]]] = {}
    for error, location in _reportable(errors):
        by_line.setdefault(line_of(document, location), []).append((error, location))
    found = []
    for line in sorted(by_line):
        error, location = _choose(by_line[line], document)
        found.append(ScenarioError(_message(error, location), file=file,
                                   line=line_of(document, location), key=key_path(location)))
    raise found[0] if len(found) == 1 else ScenarioErrors(found)
