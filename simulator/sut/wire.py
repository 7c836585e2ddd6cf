"""A contract operation as an HTTP request to a system under test, and its answer read back.

Everything comes from the role's contract in ``contracts/``: the method and
path of an operation, which body fields travel in the path or the query, which
headers it takes, and what each answer may hold. Nothing is restated here.

An answer is read strictly, whatever ``--strict-contracts`` says: a system under
test is the party lendsim cannot trust, so a status its contract does not list,
a body that is not JSON or breaks the schema, or a body under the wrong media
type is a finding (:class:`~simulator.core.errors.ContractError`) that stops the
run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from simulator.core.errors import ContractError
from simulator.core.headers import header
from simulator.engine.links import Body, Response
from simulator.sut.transports import Answer
from simulator.wire.contracts import Contracts

__all__ = ["Outgoing", "RoleWire"]


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One request ready to send: method, path with its query, headers, body bytes."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


def _json_media(value: str) -> bool:
    media = value.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/")
                                           and media.endswith("+json"))


class RoleWire:
    """Requests and answers of one contract (``bank``, ``platform``, ``control``)."""

    def __init__(self, contract: str, contracts: Contracts) -> None:
        self.contract = contract
        self._contracts = contracts
        self._routes = contracts.operations(contract)

    def offers(self, operation: str) -> bool:
        return operation in self._routes

    def request(self, operation: str, body: Body, headers: Mapping[str, str]) -> Outgoing:
        """The HTTP request for ``operation``: path parameters and declared query parameters
        taken from ``body``, the rest sent as JSON; declared headers taken from ``headers``."""
        contracts = self._contracts
        method, path, path_params = self._routes[operation]
        fields = dict(body)
        for name in path_params:
            path = path.replace("{" + name + "}", quote(str(fields.pop(name)), safe=""))
        query = [(name, _query_value(fields.pop(name)))
                 for name in contracts.query_parameters(self.contract, operation)
                 if name in fields]
        if query:
            path = f"{path}?{urlencode(query)}"
        sent: dict[str, str] = {}
        for name in contracts.header_parameters(self.contract, operation):
            value = header(headers, name)
            if value is not None:
                sent[name] = value
        payload = b""
        expected = contracts.request_body(self.contract, operation)
        if expected.expected and (fields or expected.required):
            payload = json.dumps(fields, separators=(",", ":"), ensure_ascii=False).encode()
            sent["Content-Type"] = "application/json"
        return Outgoing(method.upper(), path, sent, payload)

    def response(self, operation: str, answer: Answer) -> Response:
        """The answer as a :class:`Response`, or :class:`ContractError` saying what is wrong
        with it."""
        where = f"response {answer.status}"
        body: Any = None
        if answer.body:
            media = answer.headers.get("content-type", "")
            if not _json_media(media):
                raise ContractError(
                    f"{self.contract}.{operation} {where}: expected an application/json body, "
                    f"got {media or 'no Content-Type'}", party=self.contract,
                    operation=operation, where=where)
            try:
                body = json.loads(answer.body)
            except (UnicodeDecodeError, json.JSONDecodeError):
                raise ContractError(
                    f"{self.contract}.{operation} {where}: the body is not valid JSON",
                    party=self.contract, operation=operation, where=where) from None
        self._contracts.validate_response(self.contract, operation, answer.status, body)
        if body is not None and not isinstance(body, dict):
            raise ContractError(f"{self.contract}.{operation} {where}: expected a JSON object",
                                party=self.contract, operation=operation, where=where)
        return Response(answer.status, body or {})


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
