"""Choosing scenarios by name or tag: the ``-k EXPR`` of ``lendsim run`` (README, "Command line").

An expression is words joined by ``and``, ``or`` and ``not``, with parentheses,
like pytest's ``-k``. A word matches a scenario when it is part of the scenario's
id, one of its tags, or the name of the folder its file is in — all without
regard to case: ``-k "outage and not us"``, ``-k "calendar or dst"``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from simulator.core.errors import LendsimError
from simulator.scenarios.model import Scenario

__all__ = ["Selector", "selector"]

Selector = Callable[[Scenario], bool]

_TOKEN = re.compile(r"\s*(?:(\()|(\))|([^\s()]+))")
_OPERATORS = ("and", "or", "not")


def _words_of(scenario: Scenario) -> tuple[str, tuple[str, ...]]:
    tags = tuple(tag.lower() for tag in scenario.tags)
    if scenario.file is not None:
        tags += (scenario.file.parent.name.lower(),)
    return scenario.id.lower(), tags


def _word(word: str) -> Selector:
    wanted = word.lower()

    def matches(scenario: Scenario) -> bool:
        name, tags = _words_of(scenario)
        return wanted in name or wanted in tags

    return matches


class _Parser:
    """Recursive descent over ``or`` < ``and`` < ``not`` < word or parenthesis."""

    def __init__(self, expression: str) -> None:
        self.expression = expression
        self.tokens: list[str] = []
        position = 0
        while position < len(expression.rstrip()):
            match = _TOKEN.match(expression, position)
            if match is None:  # pragma: no cover - the pattern matches any non-space text
                break
            self.tokens.append(match.group(match.lastindex or 0))
            position = match.end()
        self.at = 0

    def fail(self, what: str) -> LendsimError:
        return LendsimError(f"-k {self.expression!r}: {what} (expected words joined by "
                            "and, or, not and parentheses)")

    def peek(self) -> str | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise self.fail("the expression ends too early")
        self.at += 1
        return token

    def either(self) -> Selector:
        terms = [self.both()]
        while self.peek() == "or":
            self.take()
            terms.append(self.both())
        return terms[0] if len(terms) == 1 else (lambda s: any(t(s) for t in terms))

    def both(self) -> Selector:
        terms = [self.negated()]
        while self.peek() == "and":
            self.take()
            terms.append(self.negated())
        return terms[0] if len(terms) == 1 else (lambda s: all(t(s) for t in terms))

    def negated(self) -> Selector:
        if self.peek() == "not":
            self.take()
            inner = self.negated()
            return lambda s: not inner(s)
        token = self.take()
        if token == "(":
            inner = self.either()
            if self.peek() != ")":
                raise self.fail("a parenthesis is not closed")
            self.take()
            return inner
        if token == ")" or token in _OPERATORS:
            raise self.fail(f"{token!r} where a word belongs")
        return _word(token)


def selector(expression: str) -> Selector:
    """A predicate on scenarios from a ``-k`` expression; bad syntax raises
    :class:`~simulator.core.errors.LendsimError` naming the expression."""
    parser = _Parser(expression)
    if not parser.tokens:
        raise parser.fail("the expression is empty")
    chosen = parser.either()
    if parser.peek() is not None:
        raise parser.fail(f"{parser.peek()!r} is left over")
    return chosen
