"""Scenario files: YAML text → a validated :class:`~simulator.scenario.Scenario`.

Three stages, each reporting the first mistake as a :class:`ScenarioError`
that names the file, the line and the key (``steps[2].fault.for``):

1. **YAML** with a loader that records the line of every mapping key and
   sequence item and never produces a ``float``: a number with a fraction or
   an exponent becomes a :class:`~decimal.Decimal` from its text. Timestamps
   stay text (they are read later in the jurisdiction's time zone), and so do
   YAML 1.1 curiosities such as ``00:30`` (sexagesimal 30) and ``010``
   (octal 8). Duplicate keys are an error.
2. **Schema**: ``contracts/scenario.schema.json`` (JSON Schema 2020-12),
   whose ``x-expected`` / ``x-messages`` annotations word the messages.
3. **Meaning**: references between borrowers and steps, instants within the
   run, money in minor units, generated borrowers.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, timedelta, tzinfo
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal, cast

import yaml
from jsonschema import Draft202012Validator, ValidationError
from yaml.reader import ReaderError

from simulator.borrowers import default_personal_data, generate_borrowers
from simulator.calendars import add_months
from simulator.calendars import jurisdiction as jurisdiction_profile
from simulator.defects import DEFECTS
from simulator.durations import parse_clock_time, parse_duration, parse_instant
from simulator.errors import ScenarioError
from simulator.locator import contract_path
from simulator.rng import derive_seed
from simulator.scenario import (
    INVARIANTS,
    BankPolicy,
    Borrower,
    BureauExpectation,
    Check,
    Dispute,
    Expect,
    Fault,
    LoanTerms,
    Pays,
    PlatformPolicy,
    Repay,
    Scenario,
    Step,
)

__all__ = ["discover", "load_scenario", "load_scenario_text"]

#: Decimal places of the minor unit, per currency.
_MINOR_DIGITS = {"CNY": 2, "USD": 2}
_SUFFIXES = (".yaml", ".yml")

Location = tuple[str | int, ...]


# --------------------------------------------------------------------------
# 1. YAML with positions and without floats


class _Mapping(dict[str, Any]):
    """A YAML mapping that remembers the (1-based) line of each of its keys.

    ``repeated`` is the first key written twice in it, with both lines.
    """

    __slots__ = ("key_lines", "repeated")

    def __init__(self) -> None:
        super().__init__()
        self.key_lines: dict[str, int] = {}
        self.repeated: tuple[str, int, int] | None = None


class _Sequence(list[Any]):
    """A YAML sequence that remembers the (1-based) line of each of its items."""

    __slots__ = ("item_lines",)

    def __init__(self, item_lines: list[int]) -> None:
        super().__init__()
        self.item_lines = item_lines


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


class _Loader(yaml.SafeLoader):
    def __init__(self, text: str, file: str | None) -> None:
        super().__init__(text)
        self.file = file

    def problem(self, message: str, node: yaml.Node) -> ScenarioError:
        return ScenarioError(message, file=self.file, line=_line(node))


_MERGE_TAG = "tag:yaml.org,2002:merge"
_PLAIN_INT = re.compile(r"[-+]?(?:0|[1-9][0-9_]*)")


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> Iterator[_Mapping]:
    data = _Mapping()
    yield data
    first_seen: dict[str, int] = {}
    for key_node, _ in node.value:
        if key_node.tag != _MERGE_TAG and isinstance(key_node, yaml.ScalarNode):
            if key_node.value in first_seen and data.repeated is None:
                data.repeated = (key_node.value, _line(key_node), first_seen[key_node.value])
            first_seen.setdefault(key_node.value, _line(key_node))
    loader.flatten_mapping(node)  # merge keys (<<: *anchor) first, own keys override
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            shown = _show(key)
            if isinstance(key_node, yaml.ScalarNode) and shown != key_node.value:
                shown = f"{key_node.value}, which YAML reads as {shown}; quote it"
            raise loader.problem(f"keys must be names (got {shown})", key_node)
        data[key] = loader.construct_object(value_node, deep=False)
        data.key_lines[key] = _line(key_node)


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> Iterator[_Sequence]:
    data = _Sequence([_line(child) for child in node.value])
    yield data
    data.extend(loader.construct_object(child, deep=False) for child in node.value)


def _construct_int(loader: _Loader, node: yaml.ScalarNode) -> int | str:
    text = str(node.value)
    # Only plain decimal integers: 0x1F, 010 (octal!) and 1:30 (base 60!) stay text.
    return int(text.replace("_", "")) if _PLAIN_INT.fullmatch(text) else text


def _construct_decimal(loader: _Loader, node: yaml.ScalarNode) -> Decimal | str:
    text = str(node.value)
    if ":" in text:  # YAML 1.1 base-60 number, e.g. 1:30.5
        return text
    if text.lower().lstrip("+-") in (".inf", ".nan"):
        return text  # not a number lendsim can use: the schema names the key
    try:
        return Decimal(text.replace("_", ""))
    except InvalidOperation:
        return text


def _construct_text(loader: _Loader, node: yaml.ScalarNode) -> str:
    return str(node.value)


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
_Loader.add_constructor("tag:yaml.org,2002:seq", _construct_sequence)
_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)
_Loader.add_constructor("tag:yaml.org,2002:float", _construct_decimal)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _construct_text)


def _parse_yaml(text: str, file: str | None) -> _Mapping:
    loader: _Loader | None = None
    try:
        loader = _Loader(text, file)  # checks for unprintable characters at once
        document = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or "malformed"
        if "'\\t'" in problem:  # PyYAML quotes the tab it found
            problem += " (indent with spaces, not tabs)"
        if exc.context:
            problem = f"{exc.context}, {problem}"
        raise ScenarioError(f"invalid YAML: {problem}", file=file,
                            line=mark.line + 1 if mark else None) from None
    except ReaderError as exc:
        character = (f"U+{exc.character:04X}" if isinstance(exc.character, int)
                     else repr(exc.character))
        raise ScenarioError(f"invalid YAML: {exc.reason} (got {character})",
                            file=file, line=text.count("\n", 0, exc.position) + 1) from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"invalid YAML: {exc}", file=file) from None
    except RecursionError:
        raise ScenarioError("invalid YAML: nested too deeply", file=file) from None
    finally:
        if loader is not None:
            loader.dispose()
    if document is None:
        raise ScenarioError("the file is empty; a scenario is a mapping with keys such as "
                            "scenario, summary, start, until, borrowers", file=file, line=1)
    if not isinstance(document, _Mapping):
        raise ScenarioError(f"a scenario must be a mapping of keys such as scenario, summary, "
                            f"start, until, borrowers (got {_describe(document)})",
                            file=file, line=1)
    repeated = min(_repeated_keys(document, ()), default=None)
    if repeated is not None:
        line, location, first = repeated
        raise ScenarioError(f"duplicate key {location[-1]!r} (first at line {first})",
                            file=file, line=line, key=_key(location))
    return document


def _repeated_keys(node: object, location: Location,
                   seen: set[int] | None = None) -> Iterator[tuple[int, Location, int]]:
    """(line, location, first line) of each key written twice in one mapping."""
    seen = set() if seen is None else seen
    if id(node) in seen:  # an alias, or a structure that contains itself
        return
    seen.add(id(node))
    if isinstance(node, _Mapping):
        if node.repeated is not None:
            key, line, first = node.repeated
            yield line, (*location, key), first
        for key, value in node.items():
            yield from _repeated_keys(value, (*location, key), seen)
    elif isinstance(node, _Sequence):
        for index, value in enumerate(node):
            yield from _repeated_keys(value, (*location, index), seen)


# --------------------------------------------------------------------------
# Positions, names and values in messages


def _line_of(document: _Mapping, location: Location) -> int:
    """The line of the key or item at ``location`` (of its nearest existing ancestor)."""
    node: Any = document
    line = 1
    for part in location:
        if isinstance(node, _Mapping) and isinstance(part, str) and part in node:
            line, node = node.key_lines[part], node[part]
        elif isinstance(node, _Sequence) and isinstance(part, int) and part < len(node):
            line, node = node.item_lines[part], node[part]
        else:
            break
    return line


def _key(location: Location) -> str | None:
    """``("steps", 2, "fault", "for")`` → ``steps[2].fault.for``."""
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else part
    return text or None


def _name(location: Location) -> str:
    """How a message names the value at ``location``: ``for``, ``invariants[1]``."""
    if not location:
        return "the scenario"
    last = location[-1]
    if isinstance(last, int):
        return f"{_name(location[:-1])}[{last}]"
    return last


def _show(value: object, depth: int = 0) -> str:
    """A value as the user wrote it, shortened."""
    if value is None:
        text = "nothing"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int | Decimal):
        text = str(value)
    elif isinstance(value, str):
        text = repr(value)
    elif isinstance(value, dict):
        text = "{…}" if depth > 1 else "{" + ", ".join(
            f"{key}: {_show(item, depth + 1)}" for key, item in value.items()) + "}"
    elif isinstance(value, list):
        text = "[…]" if depth > 1 else "[" + ", ".join(_show(item, depth + 1)
                                                     for item in value) + "]"
    else:
        text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"


def _describe(value: object) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return _show(value)


# --------------------------------------------------------------------------
# 2. Schema


@functools.cache
def _validator() -> Draft202012Validator:
    with contract_path("scenario.schema.json").open(encoding="utf-8") as stream:
        schema = json.load(stream, parse_float=Decimal)
    return Draft202012Validator(schema)


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


def _choose(errors: list[ValidationError], document: _Mapping) -> ValidationError:
    """The error to report: the first in file order, the deepest first on one line.

    "Missing 'link'" gives way to "unknown key 'lnk'" in the same mapping.
    """
    located = [(error, _location(error)) for error in errors]
    with_unknown_keys = {tuple(error.absolute_path) for error, _ in located
                         if error.validator == "additionalProperties"}
    reportable = [
        (error, location) for error, location in located
        if not (_is_missing(error) and location in with_unknown_keys)
    ]
    return min(reportable, key=lambda pair: (_line_of(document, pair[1]), -len(pair[1])))[0]


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
    name = _name(location)
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
        expected = f"{_BOUND_WORDS[validator]} {_show(value)}"
    elif validator == "minLength":
        return f"{name!r} must not be empty"
    elif validator == "maxLength":
        return f"{name!r} must be at most {value} characters (got {len(instance)})"
    elif validator == "minItems":
        return f"{name!r} must list at least {value} item{'s' if value != 1 else ''}"
    elif validator == "uniqueItems":
        return f"{_name(location[:-1])!r} lists {_show(_first_repeated(instance)[1])} twice"
    elif validator == "maxProperties":
        return f"{name!r} must have at most {value} keys"
    elif validator == "minProperties":
        return f"{name!r} must have at least {value} keys"
    elif keyword is None:
        return f"{name!r} is not allowed here"
    if expected is not None:
        return f"{name!r} must be {expected} (got {_show(instance)})"
    return f"{name!r}: {error.message}"


def _validate(document: _Mapping, file: str | None) -> None:
    errors = list(_validator().iter_errors(document))
    if errors:
        error = _choose(errors, document)
        location = _location(error)
        raise ScenarioError(_message(error, location), file=file,
                            line=_line_of(document, location), key=_key(location))


# --------------------------------------------------------------------------
# 3. Meaning


class _Builder:
    """Turns a schema-valid document into the typed model, checking what a schema can't."""

    start: datetime
    until: datetime

    def __init__(self, document: _Mapping, file: str | None) -> None:
        self.document = document
        self.file = file
        code = document.get("jurisdiction", "CN")
        self.jurisdiction = jurisdiction_profile(code)
        self.tz: tzinfo = self.jurisdiction.tz
        self.minor_digits = _MINOR_DIGITS[self.jurisdiction.currency]
        self.seed: int = document.get("seed", 0)
        self.borrowers: dict[str, Borrower] = {}
        self.borrower_lines: dict[str, int] = {}
        #: how the known ids are listed in a message: named ids, generated ranges
        self.id_listing: list[str] = []

    # -- helpers --------------------------------------------------------

    def error(self, message: str, location: Location) -> ScenarioError:
        return ScenarioError(message, file=self.file, line=_line_of(self.document, location),
                             key=_key(location))

    def value(self, location: Location) -> Any:
        node: Any = self.document
        for part in location:
            node = node[part]
        return node

    def instant(self, location: Location) -> datetime:
        try:
            return parse_instant(self.value(location), self.tz, what=_name(location))
        except ValueError as exc:
            raise self.error(str(exc), location) from None

    def duration(self, location: Location) -> timedelta:
        try:
            return parse_duration(self.value(location), what=_name(location))
        except ValueError as exc:
            raise self.error(str(exc), location) from None

    def day(self, location: Location) -> date:
        text = self.value(location)
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise self.error(f"{_name(location)!r} must be a date like 2026-01-01; "
                             f"{text!r} is not a real date", location) from None

    def money(self, location: Location) -> int:
        """Major units (``12000.50``) → minor units (``1200050``), exactly."""
        amount = Decimal(self.value(location))
        _, digits, exponent = amount.as_tuple()
        assert isinstance(exponent, int)  # the schema admits finite numbers only
        while digits and digits[-1] == 0 and exponent < 0:  # 0.50 has 1 decimal
            digits, exponent = digits[:-1], exponent + 1
        if exponent < -self.minor_digits:
            raise self.error(
                f"{_name(location)!r} must have at most {self.minor_digits} decimals in "
                f"{self.jurisdiction.currency} (got {amount})", location)
        return int(amount.scaleb(self.minor_digits))

    def later(self, instant: datetime, duration: timedelta, location: Location) -> datetime:
        """``instant + duration`` as elapsed time (a DST change does not stretch 6h)."""
        try:
            return (instant.astimezone(UTC) + duration).astimezone(instant.tzinfo)
        except OverflowError:
            raise self.error(f"{_name(location)!r} runs past the year 9999", location) from None

    def known_borrower(self, location: Location) -> str:
        handle: str = self.value(location)
        if handle not in self.borrowers:
            raise self.error(f"{_name(location)!r} must be one of the scenario's borrowers: "
                             f"{', '.join(self.id_listing)} (got {handle!r})", location)
        return handle

    # -- the parts --------------------------------------------------------

    def build(self) -> Scenario:
        document = self.document
        start, until = self.instant(("start",)), self.instant(("until",))
        if until <= start:
            raise self.error(f"'until' must be after 'start' ({start.isoformat()}) "
                             f"(got {_show(document['until'])})", ("until",))
        self.start, self.until = start, until
        self.build_borrowers()
        steps = tuple(self.build_step(index) for index in range(len(document.get("steps", ()))))
        return Scenario(
            id=document["scenario"],
            summary=document["summary"],
            start=start,
            until=until,
            borrowers=tuple(self.borrowers.values()),
            tags=tuple(document.get("tags", ())),
            jurisdiction=self.jurisdiction.code,
            seed=self.seed,
            bank=self.build_bank(),
            platform=self.build_platform(),
            defects=self.build_defects(),
            steps=steps,
            expect=self.build_expect(),
            file=Path(self.file) if self.file is not None else None,
        )

    def build_defects(self) -> tuple[str, ...]:
        names = self.document.get("world", {}).get("defects", [])
        for index, name in enumerate(names):
            if name not in DEFECTS:
                raise self.error(f"unknown defect {name!r} (expected one of: "
                                 f"{', '.join(DEFECTS)})", ("world", "defects", index))
        return tuple(names)

    def build_bank(self) -> BankPolicy:
        where: Location = ("world", "bank")
        given = self.document.get("world", {}).get("bank", {})
        policy = BankPolicy()
        return BankPolicy(
            grace_days=given.get("grace_days", policy.grace_days),
            arrears_tolerance=(self.money((*where, "arrears_tolerance"))
                               if "arrears_tolerance" in given else policy.arrears_tolerance),
            holiday_shift=given.get("holiday_shift", policy.holiday_shift),
            batch_at=(parse_clock_time(given["batch_at"]) if "batch_at" in given
                      else policy.batch_at),
            recon_max_wait=(self.duration((*where, "recon_max_wait"))
                            if "recon_max_wait" in given else policy.recon_max_wait),
        )

    def build_platform(self) -> PlatformPolicy:
        where: Location = ("world", "platform")
        given = self.document.get("world", {}).get("platform", {})
        policy = PlatformPolicy()
        return PlatformPolicy(**{
            name: self.duration((*where, name)) if name in given else getattr(policy, name)
            for name in ("forward_after", "retry_first", "retry_max")
        })

    def build_loan(self, where: Location) -> LoanTerms:
        given = self.value(where)
        disbursed = self.day((*where, "disbursed"))
        months: int = given["months"]
        try:
            add_months(disbursed, months)
        except ValueError:
            raise self.error(f"'disbursed' must leave room for {months} monthly installments "
                             f"before the year 10000 (got {disbursed.isoformat()})",
                             (*where, "disbursed")) from None
        return LoanTerms(
            principal=self.money((*where, "principal")),
            annual_rate=Decimal(given["annual_rate"]),
            months=months,
            method=given.get("method", "equal_installment"),
            disbursed=disbursed,
        )

    @staticmethod
    def build_pays(text: str) -> Pays:
        kind, _, days = text.partition(":")
        return Pays(cast(Literal["manual", "on_due_date", "early", "late", "never"], kind),
                    int(days or 0))

    def add_borrower(self, borrower: Borrower, line: int) -> None:
        self.borrowers[borrower.id] = borrower
        self.borrower_lines[borrower.id] = line

    def build_borrowers(self) -> None:
        entries: _Sequence = self.document["borrowers"]
        named = [index for index, entry in enumerate(entries) if "count" not in entry]
        # Personal data the file gives is reserved first, so defaults never reuse it.
        taken: dict[str, int] = {}
        for index in named:
            for field in ("id_number", "phone"):
                if field in entries[index]:
                    location: Location = ("borrowers", index, field)
                    number = entries[index][field]
                    if field == "id_number" and number in taken:
                        raise self.error(f"'id_number' must differ from every other "
                                         f"borrower's (line {taken[number]} has it too)",
                                         location)
                    taken.setdefault(number, _line_of(self.document, location))
        next_index: dict[str, int] = {}
        generated = 0
        for index, entry in enumerate(entries):
            where: Location = ("borrowers", index)
            line = entries.item_lines[index]
            loan = self.build_loan((*where, "loan"))
            pays = self.build_pays(entry.get("pays", "manual"))
            if "count" not in entry:
                handle: str = entry["id"]
                if handle in self.borrowers:
                    first = self.borrower_lines[handle]
                    raise self.error(
                        f"borrower id {handle!r} is already the id of a borrower generated "
                        f"by the block at line {first}; give that block another 'id_prefix'"
                        if handle not in self.id_listing else
                        f"borrower id {handle!r} is used twice (first at line {first})",
                        (*where, "id"))
                default = default_personal_data(handle, self.seed, self.jurisdiction.code,
                                                taken=taken)
                taken.update(dict.fromkeys((default.id_number, default.phone), line))
                self.add_borrower(Borrower(
                    handle, entry.get("name", default.name),
                    entry.get("id_number", default.id_number),
                    entry.get("phone", default.phone), loan, pays), line)
                self.id_listing.append(handle)
                continue
            prefix: str = entry.get("id_prefix", "b")
            first = next_index.get(prefix, 1)
            block = generate_borrowers(
                entry["count"], seed=derive_seed(self.seed, f"generated-borrowers:{generated}"),
                jurisdiction=self.jurisdiction.code, loan=loan, pays=pays,
                id_prefix=prefix, start_index=first, taken=taken)
            generated += 1
            next_index[prefix] = first + len(block)
            for borrower in block:
                if borrower.id in self.borrowers:
                    raise self.error(
                        f"generated borrower id {borrower.id!r} is already the id of the "
                        f"borrower at line {self.borrower_lines[borrower.id]}; give this "
                        f"block another 'id_prefix'", where)
                self.add_borrower(borrower, line)
                taken[borrower.id_number] = taken[borrower.phone] = line
            self.id_listing.append(f"{block[0].id}…{block[-1].id}")

    def build_step(self, index: int) -> Step:
        where: Location = ("steps", index)
        step = self.value(where)
        at = self.instant((*where, "at"))
        if not self.start <= at <= self.until:
            raise self.error(f"'at' must be within the run, from {self.start.isoformat()} "
                             f"to {self.until.isoformat()} (got {_show(step['at'])})",
                             (*where, "at"))
        action: Repay | Fault | Dispute | Check
        if "repay" in step:
            action = self.build_repay((*where, "repay"))
        elif "fault" in step:
            action = self.build_fault((*where, "fault"), at)
        elif "dispute" in step:
            action = Dispute(self.known_borrower((*where, "dispute", "borrower")),
                             step["dispute"]["period"])
        else:
            action = Check(self.build_expectations((*where, "check", "bureau")))
        return Step(at=at, action=action, line=_line_of(self.document, where))

    def build_repay(self, where: Location) -> Repay:
        given = self.value(where)
        handle = self.known_borrower((*where, "borrower"))
        months = self.borrowers[handle].loan.months
        if given["installment"] > months:
            raise self.error(f"'installment' must be at most {months}, the number of "
                             f"installments of {handle}'s loan (got {given['installment']})",
                             (*where, "installment"))
        return Repay(
            borrower=handle,
            installment=given["installment"],
            via=given.get("via", "platform"),
            amount=self.money((*where, "amount")) if "amount" in given else None,
            short_by=self.money((*where, "short_by")) if "short_by" in given else None,
        )

    def build_fault(self, where: Location, at: datetime) -> Fault:
        given = self.value(where)
        kind = given["kind"]
        if "for" in given:
            end = self.later(at, self.duration((*where, "for")), (*where, "for"))
        else:
            end = self.instant((*where, "until"))
            if end <= at:
                raise self.error(f"'until' must be after the step's 'at' ({at.isoformat()}) "
                                 f"(got {_show(given['until'])})", (*where, "until"))
        is_error = kind == "error"
        return Fault(
            kind=kind,
            start=at,
            end=end,
            link=given.get("link"),
            party=given.get("party"),
            by=self.duration((*where, "by")) if "by" in given else None,
            status=given.get("status", 503) if is_error else None,
            rate=Decimal(given.get("rate", 1)) if is_error else None,
        )

    def build_expectations(self, where: Location) -> tuple[BureauExpectation, ...]:
        given = self.value(where)
        if isinstance(given, list):
            return tuple(self.build_expectation((*where, index)) for index in range(len(given)))
        return (self.build_expectation(where),)

    def build_expectation(self, where: Location) -> BureauExpectation:
        given = self.value(where)
        return BureauExpectation(
            borrower=self.known_borrower((*where, "borrower")),
            period=given["period"],
            status=given["status"],
            line=_line_of(self.document, where),
        )

    def build_expect(self) -> Expect:
        where: Location = ("expect",)
        given = self.document.get("expect", {})
        invariants = given.get("invariants", INVARIANTS)
        for index, name in enumerate(given.get("violations", ())):
            if name not in invariants:
                raise self.error(
                    f"'violations' may list only invariants in 'expect.invariants' "
                    f"({', '.join(invariants)}) (got {name!r})", (*where, "violations", index))
        return Expect(
            invariants=tuple(name for name in INVARIANTS if name in invariants),
            violations=tuple(name for name in INVARIANTS if name in given.get("violations", ())),
            bureau=tuple(self.build_expectation((*where, "bureau", index))
                         for index in range(len(given.get("bureau", ())))),
        )


# --------------------------------------------------------------------------
# Public API


def load_scenario_text(text: str, file: str | Path | None = None) -> Scenario:
    """The scenario in ``text``; ``file`` names it in errors and in ``Scenario.file``.

    Raises :class:`ScenarioError` (file, line and key) for any mistake in it.
    """
    name = str(file) if file is not None else None
    try:
        document = _parse_yaml(text, name)
        _validate(document, name)
        return _Builder(document, name).build()
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
