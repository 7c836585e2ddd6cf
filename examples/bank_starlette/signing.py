"""Signed requests between partners: HMAC-SHA256 over a canonical string.

Every request to or from a partner carries four headers: ``X-Lendsim-Key-Id``,
``X-Lendsim-Timestamp`` (RFC 3339, the sender's clock), ``X-Lendsim-Nonce``
(fresh per request) and ``X-Lendsim-Signature``: the hex HMAC-SHA256, keyed
with the partner's secret, of six lines joined by ``\\n``::

    LENDSIM-HMAC-SHA256
    POST                      the method
    /bank/repayments          the path as sent, with its query string
    2026-02-01T13:00:00Z      the timestamp header
    3f2a…                     the nonce header
    e3b0c442…                 SHA-256 (hex) of the body bytes

A receiver accepts a signature once (nonces are remembered while they could
still be fresh) and only within five minutes of its own clock.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = ["SignatureRejected", "Signer", "Verifier"]


class Headers(Protocol):
    """Request headers, looked up by name (any web framework's)."""

    def get(self, name: str) -> str | None: ...

ALGORITHM = "LENDSIM-HMAC-SHA256"
WINDOW = timedelta(minutes=5)
HEADERS = ("X-Lendsim-Key-Id", "X-Lendsim-Timestamp", "X-Lendsim-Nonce",
           "X-Lendsim-Signature")
_NONCE = re.compile(r"[0-9A-Za-z_-]{8,128}")
_SIGNATURE = re.compile(r"[0-9a-f]{64}")


def canonical(method: str, path: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    return "\n".join((ALGORITHM, method.upper(), path, timestamp, nonce,
                      hashlib.sha256(body).hexdigest())).encode()


class SignatureRejected(Exception):
    """Why a request's signature is not accepted (safe to show the caller)."""


class Signer:
    """Signs our outgoing requests with our key."""

    def __init__(self, key_id: str, secret: str) -> None:
        self.key_id = key_id
        self._secret = secret.encode()

    def headers(self, method: str, path: str, body: bytes, now: datetime) -> dict[str, str]:
        timestamp = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        nonce = secrets.token_hex(16)
        signature = hmac.new(self._secret, canonical(method, path, timestamp, nonce, body),
                             hashlib.sha256).hexdigest()
        return dict(zip(HEADERS, (self.key_id, timestamp, nonce, signature), strict=True))


class Verifier:
    """Checks incoming signatures against our partners' keys; remembers used nonces."""

    def __init__(self, keys: Mapping[str, str]) -> None:
        self._keys = {key_id: secret.encode() for key_id, secret in keys.items()}
        self._seen: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def verify(self, method: str, path: str, body: bytes, headers: Headers,
               now: datetime, *, fresh: bool = True) -> str:
        """The key id that signed the request, or :class:`SignatureRejected`."""
        values = [headers.get(name) for name in HEADERS]
        missing = [name for name, value in zip(HEADERS, values, strict=True) if not value]
        if missing:
            raise SignatureRejected(f"unsigned request: missing {', '.join(missing)}")
        key_id, timestamp, nonce, signature = (str(v) for v in values)
        secret = self._keys.get(key_id)
        if secret is None:
            raise SignatureRejected("unknown X-Lendsim-Key-Id")
        try:
            signed_at = datetime.fromisoformat(timestamp)
        except ValueError:
            raise SignatureRejected("malformed X-Lendsim-Timestamp") from None
        if signed_at.tzinfo is None or not _NONCE.fullmatch(nonce) \
                or not _SIGNATURE.fullmatch(signature.lower()):
            raise SignatureRejected("malformed signature headers")
        if fresh and abs(signed_at - now) > WINDOW:
            raise SignatureRejected("stale request: signed more than 5 minutes from our clock")
        expected = hmac.new(secret, canonical(method, path, timestamp, nonce, body),
                            hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature.lower()):
            raise SignatureRejected("signature does not match the request")
        with self._lock:
            if len(self._seen) > 100_000:  # forget nonces that can no longer be fresh
                self._seen = {k: v for k, v in self._seen.items() if v > now - WINDOW}
            remembered = f"{key_id} {nonce}"
            if remembered in self._seen:
                raise SignatureRejected("replayed request: this nonce was already used")
            self._seen[remembered] = signed_at + WINDOW
        return key_id
