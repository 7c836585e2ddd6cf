"""What an HTTP face answers: problem documents (RFC 9457) and JSON that always encodes.

Every string of an error body is masked (:func:`~simulator.core.privacy.redact`), and
:func:`json_bytes` never fails: a lone surrogate (a ``\\ud800`` escape a caller sent,
echoed back) becomes U+FFFD and a non-finite number ``null``, so no answer turns into a
500 while being encoded. Unknown paths and methods are answered by
:data:`PROBLEM_HANDLERS`, with the path masked as in the access log.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response as HttpResponse

from simulator.core.privacy import mask_path, redact
from simulator.engine.links import Body, problem_document

__all__ = ["PROBLEM", "PROBLEM_HANDLERS", "Answer", "json_bytes", "problem_body", "redacted",
           "render"]

PROBLEM = "application/problem+json"

_SURROGATE = re.compile("[\ud800-\udfff]")


def redacted(value: Any) -> Any:
    """Every string inside an error body, with ID numbers, SSNs and phone numbers masked."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: redacted(item) for key, item in value.items()}
    if isinstance(value, list):
        return [redacted(item) for item in value]
    return value


def problem_body(status: int, title: str, detail: str = "", **extra: Any) -> Body:
    """An RFC 9457 problem document, with personal data masked."""
    masked: Body = redacted(problem_document(status, title, detail, **extra))
    return masked


def _encodable(value: Any) -> Any:
    """``value`` with lone surrogates replaced by U+FFFD and non-finite numbers by null."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {_encodable(str(key)): _encodable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_encodable(item) for item in value]
    return value


def json_bytes(value: Any) -> bytes:
    """``value`` as compact UTF-8 JSON; never raises for JSON-shaped data (see the module)."""
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False,
                          separators=(",", ":")).encode("utf-8")
    except (UnicodeEncodeError, ValueError):
        return json.dumps(_encodable(value), ensure_ascii=False, allow_nan=False,
                          separators=(",", ":")).encode("utf-8")


@dataclass(frozen=True, slots=True)
class Answer:
    """What a face sends back: status, JSON body (or none) and extra headers."""

    status: int
    body: Body | None
    headers: dict[str, str]

    @classmethod
    def problem(cls, status: int, title: str, detail: str = "",
                headers: dict[str, str] | None = None, **extra: Any) -> Answer:
        return cls(status, problem_body(status, title, detail, **extra), headers or {})


def render(answer: Answer) -> HttpResponse:
    """The HTTP response of an answer: JSON, a problem document, or no body."""
    if answer.status == 204 or answer.body is None:
        return HttpResponse(status_code=answer.status, headers=answer.headers)
    media = PROBLEM if answer.status >= 400 else "application/json"
    return HttpResponse(json_bytes(answer.body), status_code=answer.status, media_type=media,
                        headers=answer.headers)


def _problem_handler(request: Request, exc: Exception) -> HttpResponse:
    status = exc.status_code if isinstance(exc, HTTPException) else 404
    headers = dict(exc.headers or {}) if isinstance(exc, HTTPException) else {}
    where = mask_path(request.url.path)
    if status == 405:
        return render(Answer.problem(405, "Method not allowed",
                                     f"{where} allows {headers.get('Allow', '')}",
                                     headers=headers))
    return render(Answer.problem(status, "Not found", f"no operation at {where}",
                                 headers=headers))


#: Starlette exception handlers that answer unknown paths and methods with problem documents
PROBLEM_HANDLERS: dict[Any, Callable[[Request, Exception], HttpResponse]] = {
    404: _problem_handler, 405: _problem_handler}
