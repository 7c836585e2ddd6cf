"""Masking of personal data: every log, report and error message goes through here.

A name keeps its first character, an ID number its first 4 and last 4
characters, a phone number its first 3 and last 4 digits; everything between
becomes ``*``. Scenario handles (``alice``, ``b0001``) are not personal data.

A name cannot be recognised in free text, so a message never quotes text a caller
sent unless it is a *plain token* — at most 40 ASCII letters, digits and ``_ . : + -``
(an id, an instant, a duration) — and even then with ID and phone numbers masked:
:func:`quoted` describes anything else without showing it, and :func:`mask_path`
does the same for each segment of a request path (access logs, 404s).
"""

from __future__ import annotations

import re
from urllib.parse import unquote

__all__ = ["mask_id_number", "mask_name", "mask_path", "mask_phone", "plain_token", "quoted",
           "redact"]


def mask_name(name: str) -> str:
    """``张三丰`` → ``张**``; ``Jane Doe`` → ``J*******``."""
    return name[:1] + "*" * (len(name) - 1) if name else name


def _keep_ends(text: str, head: int, tail: int) -> str:
    if len(text) <= head + tail:
        return "*" * len(text)
    return text[:head] + "*" * (len(text) - head - tail) + text[-tail:]


def mask_id_number(id_number: str) -> str:
    """``110101199003071234`` → ``1101**********1234``."""
    return _keep_ends(id_number, 4, 4)


def mask_phone(phone: str) -> str:
    """``13812345678`` → ``138****5678``."""
    digits = re.sub(r"\D", "", phone)
    return _keep_ends(digits, 3, 4)


# ID numbers (15 or 18 characters, the last may be X), other long digit runs
# (phone numbers, account numbers), SSNs (123-45-6789) and phone numbers
# written in groups (138 1234 5678, (212) 555-0199). The guards look only at
# ASCII digits, so a number written against Chinese text is still found;
# dates and times never match.
_SSN = re.compile(r"(?<![0-9])\d{3}-\d{2}-\d{4}(?![0-9])")
_DIGIT_RUN = re.compile(
    r"(?<![0-9])(\d{17}[\dXx]|\d{9,}|\(?\d{3}\)?[ -]\d{3,4}[ -]\d{4})(?![0-9])"
)


def redact(text: str) -> str:
    """Mask ID numbers, SSNs and phone numbers found in free text."""
    text = _SSN.sub(lambda m: "***-**-" + m.group(0)[-4:], text)

    def _mask(match: re.Match[str]) -> str:
        run = match.group(1)
        digits = re.sub(r"[^0-9Xx]", "", run)
        if len(digits) >= 15:
            return mask_id_number(digits)
        return mask_phone(digits)

    return _DIGIT_RUN.sub(_mask, text)


_TOKEN = re.compile(r"[A-Za-z0-9_.:+\-]{1,40}")


def plain_token(text: str) -> bool:
    """Is ``text`` a plain token (an id, instant or duration) that a message may quote?"""
    return _TOKEN.fullmatch(text) is not None


def quoted(text: str) -> str:
    """A caller's text fit for a message: a plain token in double quotes, masked like free
    text; anything else (spaces, other scripts, control characters, long text) described,
    never shown."""
    if plain_token(text):
        return '"' + redact(text) + '"'
    return f"text of {len(text)} character{'s' if len(text) != 1 else ''} (not shown)"


def mask_path(path: str) -> str:
    """A request path fit for a log line: each segment that is not a plain token (after
    percent-decoding) becomes ``…``, tokens are masked like free text, and a query string
    becomes ``?…``."""
    base, mark, _query = path.partition("?")
    segments = []
    for segment in base.split("/"):
        text = unquote(segment, errors="replace")
        segments.append(redact(text) if not text or plain_token(text) else "…")
    return "/".join(segments) + ("?…" if mark else "")
