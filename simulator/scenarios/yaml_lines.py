"""Scenario YAML read with positions and without floats (loading, stage 1).

The loader records the (1-based) line of every mapping key and sequence item,
so every later message can say ``file:line``. It never produces a ``float``: a
number with a fraction or an exponent becomes a :class:`~decimal.Decimal` from
its text. Timestamps stay text (they are read later in the jurisdiction's time
zone), and so do YAML 1.1 curiosities such as ``00:30`` (sexagesimal 30) and
``010`` (octal 8). A key written twice in one mapping is an error.

Aliases (``*name``) are expanded with a limit: a document whose nodes, counted with
every alias expanded, exceed :data:`MAX_NODES` (an "alias bomb") or that refers to
itself is refused before anything reads it.

Where PyYAML was built with libyaml, libyaml scans and parses the text (about ten times
faster than PyYAML's own scanner) and PyYAML composes and constructs the document as it
does without it, so every value, line and message is the same. A text libyaml refuses,
for whatever reason, is read again by PyYAML alone, which words the error.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation

import yaml
from yaml.composer import Composer
from yaml.reader import Reader, ReaderError

from simulator.core.errors import ScenarioError
from simulator.scenarios.positions import (
    Location,
    YamlMapping,
    YamlSequence,
    describe,
    key_path,
    show_value,
)

__all__ = ["MAX_NODES", "parse_yaml"]

#: the most YAML nodes a scenario may expand to, every alias expanded
MAX_NODES = 100_000


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


class _Naming:
    """Errors that name the file, and a value its explicit tag does not fit (``!!bool`` on
    a blank, ``!!map`` on a list) refused as one, never a traceback."""

    file: str | None = None

    def problem(self, message: str, node: yaml.Node) -> ScenarioError:
        return ScenarioError(message, file=self.file, line=_line(node))

    def misfit(self, node: yaml.Node) -> ScenarioError:
        tag = str(node.tag).replace("tag:yaml.org,2002:", "!!")
        return self.problem(f"invalid YAML: the tag {tag} does not fit the value it is on", node)

    def construct_object(self, node: yaml.Node, deep: bool = False) -> object:
        try:
            return super().construct_object(node, deep=deep)  # type: ignore[misc]
        except (KeyError, TypeError, ValueError, AttributeError, IndexError):
            raise self.misfit(node) from None


class _Loader(_Naming, yaml.SafeLoader):
    """PyYAML alone: the reference, and the reader of every text libyaml refuses."""

    def __init__(self, text: str, file: str | None) -> None:
        super().__init__(text)  # checks for unprintable characters at once
        self.file = file


if yaml.__with_libyaml__:

    class _FastLoader(_Naming, Composer, yaml.CSafeLoader):
        """libyaml's scanner and parser under PyYAML's composer (libyaml's own would not
        stop nesting at Python's recursion limit) and the same constructors."""

        def __init__(self, text: str, file: str | None) -> None:
            yaml.CSafeLoader.__init__(self, text)
            Composer.__init__(self)
            self.file = file


_MERGE_TAG = "tag:yaml.org,2002:merge"
_PLAIN_INT = re.compile(r"[-+]?(?:0|[1-9][0-9_]*)")


def _construct_mapping(loader: _Loader | _FastLoader,
                       node: yaml.MappingNode) -> Iterator[YamlMapping]:
    if not isinstance(node, yaml.MappingNode):
        raise loader.misfit(node)
    data = YamlMapping()
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
            shown = show_value(key)
            if isinstance(key_node, yaml.ScalarNode) and shown != key_node.value:
                shown = f"{key_node.value}, which YAML reads as {shown}; quote it"
            raise loader.problem(f"keys must be names (got {shown})", key_node)
        data[key] = loader.construct_object(value_node, deep=False)
        data.key_lines[key] = _line(key_node)


def _construct_sequence(loader: _Loader | _FastLoader,
                        node: yaml.SequenceNode) -> Iterator[YamlSequence]:
    if not isinstance(node, yaml.SequenceNode):
        raise loader.misfit(node)
    data = YamlSequence([_line(child) for child in node.value])
    yield data
    data.extend(loader.construct_object(child, deep=False) for child in node.value)


def _construct_int(loader: _Loader | _FastLoader, node: yaml.ScalarNode) -> int | str:
    text = str(node.value)
    # Only plain decimal integers: 0x1F, 010 (octal!) and 1:30 (base 60!) stay text.
    return int(text.replace("_", "")) if _PLAIN_INT.fullmatch(text) else text


def _construct_decimal(loader: _Loader | _FastLoader, node: yaml.ScalarNode) -> Decimal | str:
    text = str(node.value)
    if ":" in text:  # YAML 1.1 base-60 number, e.g. 1:30.5
        return text
    if text.lower().lstrip("+-") in (".inf", ".nan"):
        return text  # not a number lendsim can use: the schema names the key
    try:
        return Decimal(text.replace("_", ""))
    except InvalidOperation:
        return text


def _construct_text(loader: _Loader | _FastLoader, node: yaml.ScalarNode) -> str:
    return str(node.value)


for _loader in (_Loader, _FastLoader) if yaml.__with_libyaml__ else (_Loader,):
    _loader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
    _loader.add_constructor("tag:yaml.org,2002:seq", _construct_sequence)
    _loader.add_constructor("tag:yaml.org,2002:int", _construct_int)
    _loader.add_constructor("tag:yaml.org,2002:float", _construct_decimal)
    _loader.add_constructor("tag:yaml.org,2002:timestamp", _construct_text)


def parse_yaml(text: str, file: str | None, *, libyaml: bool = True) -> YamlMapping:
    """The mapping in ``text`` (``file`` names it in errors), read with libyaml's help
    where PyYAML has it unless ``libyaml`` is false; the same either way."""
    document = _read_fast(text, file) if libyaml else _UNREAD
    if document is _UNREAD:
        document = _read_plain(text, file)
    if document is None:
        raise ScenarioError("the file is empty; a scenario is a mapping with keys such as "
                            "scenario, summary, start, until, borrowers", file=file, line=1)
    if not isinstance(document, YamlMapping):
        raise ScenarioError(f"a scenario must be a mapping of keys such as scenario, summary, "
                            f"start, until, borrowers (got {describe(document)})",
                            file=file, line=1)
    repeated = min(_repeated_keys(document, ()), default=None)
    if repeated is not None:
        line, location, first = repeated
        raise ScenarioError(f"duplicate key {location[-1]!r} (first at line {first})",
                            file=file, line=line, key=key_path(location))
    return document


#: what :func:`_read_fast` gives for a text it leaves to PyYAML alone
_UNREAD = object()
#: what libyaml reads otherwise than PyYAML (or accepts where PyYAML refuses it): a tab, a
#: byte-order mark, ``?`` (a key or not, in a flow collection), a tag
#: (``!``), a comment right after a block scalar's ``|`` or ``>``
_PYYAML_ONLY = re.compile(r"[\t\ufeff?!]|[|>][-+0-9]*#")


def _read(loader: _Loader | _FastLoader, file: str | None) -> object:
    """The document a loader composes (``None`` for an empty one), its aliases checked."""
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node, file)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _read_fast(text: str, file: str | None) -> object:
    """:func:`_read` with libyaml's help, or :data:`_UNREAD` for a text left to PyYAML alone:
    where PyYAML has no libyaml, libyaml refuses the text, or the text has what the two read
    differently (:data:`_PYYAML_ONLY`) or characters PyYAML refuses (it names them)."""
    if not yaml.__with_libyaml__ or _PYYAML_ONLY.search(text) or Reader.NON_PRINTABLE.search(text):
        return _UNREAD
    try:
        return _read(_FastLoader(text, file), file)
    except (yaml.YAMLError, RecursionError):
        return _UNREAD


def _read_plain(text: str, file: str | None) -> object:
    """:func:`_read` with PyYAML alone, its errors as :class:`ScenarioError`."""
    try:
        return _read(_Loader(text, file), file)  # the reader checks characters at once
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


def _repeated_keys(node: object, location: Location,
                   seen: set[int] | None = None) -> Iterator[tuple[int, Location, int]]:
    """(line, location, first line) of each key written twice in one mapping."""
    seen = set() if seen is None else seen
    if id(node) in seen:  # an alias, or a structure that contains itself
        return
    seen.add(id(node))
    if isinstance(node, YamlMapping):
        if node.repeated is not None:
            key, line, first = node.repeated
            yield line, (*location, key), first
        for key, value in node.items():
            yield from _repeated_keys(value, (*location, key), seen)
    elif isinstance(node, YamlSequence):
        for index, value in enumerate(node):
            yield from _repeated_keys(value, (*location, index), seen)


def _check_expansion(root: yaml.Node, file: str | None) -> None:
    """Refuse a document that expands past :data:`MAX_NODES` or refers to itself."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        known = sizes.get(key)
        if known is not None:
            return known
        if key in active:
            raise ScenarioError("invalid YAML: an alias refers to the node that holds it",
                                file=file, line=_line(node))
        active.add(key)
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(size(child) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(size(key_node) + size(value) for key_node, value in node.value)
        active.discard(key)
        if total > MAX_NODES:
            raise ScenarioError(f"the scenario expands to more than {MAX_NODES:,} YAML values "
                                "through its aliases (*name); write it out, or use fewer "
                                "aliases", file=file, line=_line(node))
        sizes[key] = total
        return total

    size(root)
