"""Signed requests between parties: HMAC-SHA256 with a key per partner, in virtual time.

A caller signs the canonical string of its request with its partner key and
sends four headers::

    X-Lendsim-Key-Id      which key signed (the partner's key id, not the key)
    X-Lendsim-Timestamp   when, in the world's *virtual* time (RFC 3339, UTC)
    X-Lendsim-Nonce       a fresh random value per request
    X-Lendsim-Signature   hex HMAC-SHA256 of the canonical string

The canonical string is, one per line::

    LENDSIM-HMAC-SHA256
    POST                       the method, upper case
    /bank/repayments?x=1       the path as sent, with its query string
    2026-01-01T01:00:00Z       the timestamp header, verbatim
    3f2a…                      the nonce header, verbatim
    e3b0c442…                  SHA-256 (hex) of the body bytes as sent

The receiver accepts a signature only while its timestamp is within five
minutes of its own virtual clock (either side), and a nonce once per key: it
remembers every nonce it accepted until that window closes — and, when its clock
can go back (a sandbox's reset), until the window has closed at the earliest
instant the clock can return to (:meth:`Keyring.keep_from`) — so a replayed request,
or another request under a used nonce, is refused. The nonce is why two identical
requests at one virtual instant — the sandbox clock stands still between
advances — are still two different requests, not a replay. The nonces are held in
memory (at most a million, the oldest forgotten first) or, for a server that must
survive a restart, in an SQLite file (:class:`SqliteNonces`), committed before the
request runs.

Keys never leave a :class:`Keyring`: its ``repr`` shows key ids only, and no
error message carries a key, an expected signature or a header value.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import json
import re
import secrets
import sqlite3
import threading
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from simulator.core.errors import LendsimError
from simulator.core.headers import header

__all__ = [
    "KEY_ID_HEADER",
    "NONCE_HEADER",
    "SIGNATURE_HEADER",
    "SIGNED_HEADERS",
    "TEST_KEY_IDS",
    "TIMESTAMP_HEADER",
    "WINDOW",
    "Keyring",
    "MemoryNonces",
    "Nonces",
    "SignatureError",
    "SqliteNonces",
    "canonical_string",
    "format_timestamp",
    "well_known_secret",
]

KEY_ID_HEADER = "X-Lendsim-Key-Id"
TIMESTAMP_HEADER = "X-Lendsim-Timestamp"
NONCE_HEADER = "X-Lendsim-Nonce"
SIGNATURE_HEADER = "X-Lendsim-Signature"
#: the headers a signed request carries, in the order they are checked
SIGNED_HEADERS = (KEY_ID_HEADER, TIMESTAMP_HEADER, NONCE_HEADER, SIGNATURE_HEADER)
#: how far a timestamp may be from the receiver's virtual clock, either way
WINDOW = timedelta(minutes=5)

_ALGORITHM = "LENDSIM-HMAC-SHA256"
_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:\d{2})", re.ASCII)
_HEX_SIGNATURE = re.compile(r"[0-9a-f]{64}", re.ASCII)
_NONCE = re.compile(r"[0-9A-Za-z_-]{8,128}", re.ASCII)
_KEY_ID = re.compile(r"[0-9A-Za-z_.-]{1,64}", re.ASCII)
#: accepted nonces remembered in memory at most (oldest forgotten first beyond this)
_MEMORY_LIMIT = 1_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _us(instant: datetime) -> int:
    return (instant - _EPOCH) // timedelta(microseconds=1)


class Nonces(Protocol):
    """Where a keyring remembers the nonces it accepted, each until an expiry instant."""

    def add(self, nonce: str, expires: datetime) -> bool:
        """Remember ``nonce``; ``False`` if it is already remembered (a replay)."""

    def forget_before(self, instant: datetime) -> None:
        """Forget every nonce that expired before ``instant``."""

    def __len__(self) -> int: ...


class MemoryNonces:
    """Nonces in memory: at most :data:`_MEMORY_LIMIT`, the oldest forgotten first."""

    def __init__(self, limit: int = _MEMORY_LIMIT) -> None:
        self._seen: set[str] = set()
        self._expiry: list[tuple[datetime, str]] = []  # heap: when each may be forgotten
        self._limit = limit

    def add(self, nonce: str, expires: datetime) -> bool:
        if nonce in self._seen:
            return False
        if len(self._seen) >= self._limit:
            self._seen.discard(heapq.heappop(self._expiry)[1])
        self._seen.add(nonce)
        heapq.heappush(self._expiry, (expires, nonce))
        return True

    def forget_before(self, instant: datetime) -> None:
        expiry = self._expiry
        while expiry and expiry[0][0] < instant:
            self._seen.discard(heapq.heappop(expiry)[1])

    def __len__(self) -> int:
        return len(self._seen)


class SqliteNonces:
    """Nonces in an SQLite file (WAL): each is committed before its request runs, so a
    restart after ``kill -9`` still refuses every request accepted before it."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS nonces (nonce TEXT PRIMARY KEY,"
                         " expires_us INTEGER NOT NULL)")
        self._db.execute("CREATE INDEX IF NOT EXISTS nonces_expiry ON nonces (expires_us)")
        self._next_sweep = 0

    def add(self, nonce: str, expires: datetime) -> bool:
        cursor = self._db.execute("INSERT OR IGNORE INTO nonces VALUES (?, ?)",
                                  (nonce, _us(expires)))
        return cursor.rowcount == 1

    def forget_before(self, instant: datetime) -> None:
        us = _us(instant)
        if us >= self._next_sweep:  # at most one sweep per virtual minute
            self._db.execute("DELETE FROM nonces WHERE expires_us < ?", (us,))
            self._next_sweep = us + 60_000_000

    def __len__(self) -> int:
        (count,) = self._db.execute("SELECT count(*) FROM nonces").fetchone()
        return int(count)

    def close(self) -> None:
        self._db.close()


class SignatureError(LendsimError):
    """A request is unsigned, forged, stale, from the future or replayed.

    ``reason`` says which, in words safe to show the caller: it never contains
    a key, the expected signature or any value the caller sent.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Secret:
    """A key's bytes, which no repr, str or format ever shows."""

    __slots__ = ("_value",)

    def __init__(self, value: bytes) -> None:
        self._value = value

    def __repr__(self) -> str:
        return "<secret>"

    __str__ = __repr__

    def digest(self, message: bytes) -> str:
        return hmac.new(self._value, message, hashlib.sha256).hexdigest()


#: the key ids of :meth:`Keyring.for_testing`: the parties, a partner, and lendsim itself
TEST_KEY_IDS = ("bank", "platform", "bureau", "sms", "partner", "lendsim")


def well_known_secret(key_id: str) -> str:
    """The well-known test secret of ``key_id``: hex SHA-256 of ``lendsim-test-key:<key id>``
    (README, "Test your own bank or platform")."""
    return hashlib.sha256(f"lendsim-test-key:{key_id}".encode()).hexdigest()


def format_timestamp(instant: datetime) -> str:
    """An aware instant as the timestamp header writes it: ``2026-01-01T01:00:00Z``."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("a signature timestamp needs an aware instant")
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def canonical_string(method: str, path: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    """What is signed: algorithm, method, path with query, timestamp, nonce, body SHA-256."""
    return "\n".join((_ALGORITHM, method.upper(), path, timestamp, nonce,
                      hashlib.sha256(body).hexdigest())).encode("utf-8")


class Keyring:
    """The signing keys of a world's partners, by key id, and the signatures already seen.

    ``Keyring({"platform": "…", "bank": "…"})``; :meth:`sign` makes the headers
    for a request, :meth:`verify` checks them (raising :class:`SignatureError`).
    """

    def __init__(self, keys: Mapping[str, str | bytes], *, window: timedelta = WINDOW) -> None:
        if not keys:
            raise ValueError("a keyring needs at least one key")
        self._keys: dict[str, _Secret] = {}
        for key_id, key in keys.items():
            if not isinstance(key_id, str) or not _KEY_ID.fullmatch(key_id):
                raise ValueError("key ids are 1–64 letters, digits, '.', '_' or '-'")
            raw = key.encode("utf-8") if isinstance(key, str) else key
            if not isinstance(raw, bytes) or len(raw) < 16:
                raise ValueError(f"the key of {key_id!r} must be at least 16 bytes")
            self._keys[key_id] = _Secret(raw)
        self.window = window
        self._nonces: Nonces = MemoryNonces()
        self._floor: datetime | None = None  # the earliest instant the clock may return to
        self._lock = threading.Lock()

    # -- construction ------------------------------------------------------------------
    @classmethod
    def for_testing(cls, key_ids: tuple[str, ...] = TEST_KEY_IDS) -> Keyring:
        """Well-known keys for loopback sandboxes, the contract suite and systems under test
        — never for real data (:func:`well_known_secret`)."""
        return cls({name: well_known_secret(name) for name in key_ids})

    @classmethod
    def from_file(cls, path: Path) -> Keyring:
        """Keys from a JSON file ``{"key id": "secret", …}``; errors never quote the file."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as error:
            raise LendsimError(f"{path}: cannot read the keys file ({error.strerror})") from None
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise LendsimError(f"{path}: the keys file is not valid JSON") from None
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise LendsimError(f"{path}: the keys file must be a JSON object of key id → secret "
                               "strings")
        try:
            return cls(data)
        except ValueError as error:
            raise LendsimError(f"{path}: {error}") from None

    # -- what may be shown -------------------------------------------------------------
    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(sorted(self._keys))

    def __repr__(self) -> str:
        return f"Keyring(key_ids={list(self.key_ids)!r})"

    __str__ = __repr__

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a Keyring is not picklable (it would write its keys out)")

    # -- the replay cache --------------------------------------------------------------
    def keep_from(self, instant: datetime) -> None:
        """The receiver's clock may go back to ``instant`` (a sandbox's reset): remember each
        nonce until its window has closed for a clock there too."""
        with self._lock:
            self._floor = instant.astimezone(UTC)

    def remember_in(self, nonces: Nonces) -> None:
        """Keep accepted nonces in ``nonces`` (an :class:`SqliteNonces` to survive a
        restart) from now on."""
        with self._lock:
            self._nonces = nonces

    # -- signing -----------------------------------------------------------------------
    def sign(self, key_id: str, method: str, path: str, body: bytes, now: datetime,
             *, nonce: str | None = None) -> dict[str, str]:
        """The four signature headers for a request sent at virtual instant ``now``.

        ``path`` is the path as sent, with its query string (``/bank/loans/L-1?x=1``).
        """
        key = self._keys.get(key_id)
        if key is None:
            raise SignatureError("no such key id in this keyring")
        timestamp = format_timestamp(now)
        nonce = nonce if nonce is not None else secrets.token_hex(16)
        signature = key.digest(canonical_string(method, path, timestamp, nonce, body))
        return {KEY_ID_HEADER: key_id, TIMESTAMP_HEADER: timestamp, NONCE_HEADER: nonce,
                SIGNATURE_HEADER: signature}

    # -- verifying ---------------------------------------------------------------------
    def verify(self, method: str, path: str, body: bytes, headers: Mapping[str, str],
               now: datetime) -> None:
        """Accept a request once, or raise :class:`SignatureError` saying why not.

        ``now`` is the receiver's virtual clock. A signature is accepted only
        while its timestamp is within :attr:`window` of ``now``, and only once.
        """
        values = {name: header(headers, name) for name in SIGNED_HEADERS}
        missing = [name for name, value in values.items() if not value]
        if missing:
            raise SignatureError(f"unsigned request: missing {', '.join(missing)}")
        key_id = values[KEY_ID_HEADER] or ""
        timestamp = values[TIMESTAMP_HEADER] or ""
        nonce = values[NONCE_HEADER] or ""
        signature = (values[SIGNATURE_HEADER] or "").lower()
        key = self._keys.get(key_id)
        if key is None:
            raise SignatureError(f"unknown {KEY_ID_HEADER}")
        if not _RFC3339.fullmatch(timestamp):
            raise SignatureError(f"malformed {TIMESTAMP_HEADER}: expected RFC 3339 like "
                                 "2026-01-01T09:00:00Z")
        try:
            signed_at = datetime.fromisoformat(timestamp)
        except ValueError:
            raise SignatureError(f"malformed {TIMESTAMP_HEADER}: not a real instant") from None
        if not _NONCE.fullmatch(nonce):
            raise SignatureError(f"malformed {NONCE_HEADER}: expected 8–128 letters, digits, "
                                 "'-' or '_'")
        if not _HEX_SIGNATURE.fullmatch(signature):
            raise SignatureError(f"malformed {SIGNATURE_HEADER}: expected 64 hex digits")
        minutes = int(self.window.total_seconds() // 60)
        if signed_at < now - self.window:
            raise SignatureError(f"stale request: signed more than {minutes} minutes before "
                                 "the sandbox clock")
        if signed_at > now + self.window:
            raise SignatureError(f"request from the future: signed more than {minutes} minutes "
                                 "after the sandbox clock")
        expected = key.digest(canonical_string(method, path, timestamp, nonce, body))
        if not hmac.compare_digest(expected, signature):
            raise SignatureError("signature does not match the request")
        with self._lock:
            floor = self._floor
            # a replay of a nonce whose window closed is stale anyway — unless the clock
            # can go back to where that window is open again
            self._nonces.forget_before(now if floor is None else min(now, floor))
            if not self._nonces.add(f"{key_id} {nonce}",
                                    signed_at.astimezone(UTC) + self.window):
                raise SignatureError("replayed request: this nonce was already used")

    def remembered(self) -> int:
        """How many accepted nonces are remembered (for tests and diagnostics)."""
        with self._lock:
            return len(self._nonces)
