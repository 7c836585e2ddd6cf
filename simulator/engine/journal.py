"""The journal: the single, append-only record of everything observable in a world.

Each entry has a sequence number, a virtual instant, a kind (``bank.posted``,
``link.call``, ``sms.sent`` …), the party that saw it, a reference (the payment,
account or file it is about) and a payload of JSON-shaped fields.
Invariants, reports and the digest read only the journal and the parties'
final databases.

Entries are buffered and flushed into an SQLite table, and the SHA-256 digest
is updated as they arrive: the same scenario and seed give the same digest,
byte for byte. A world appends millions of entries, so the payload is stored
as the Python literal of its fields (``repr``, four times cheaper than JSON
encoding; read back with :func:`ast.literal_eval`) and shown as JSON.
"""

from __future__ import annotations

import ast
import hashlib
import json
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

from simulator.core.clock import Clock
from simulator.core.instants import from_us, rezone, to_us

__all__ = ["Entry", "Journal", "Row"]

_FLUSH_AT = 20_000


_PLAIN = frozenset((str, int, bool, type(None)))
#: which field names an entry's reference is taken from, first found wins
_REF_FIELDS = ("ref", "payment_id", "account", "loan_id", "borrower", "business_date")


def _plain(value: object) -> object:
    """A field value as JSON-shaped data: datetimes become UTC ISO text."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise TypeError("journal instants must be timezone-aware (got a naive datetime)")
        return value.astimezone(UTC).isoformat()
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    raise TypeError(f"journal fields must be JSON data (got {kind.__name__})")


_show = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode


@dataclass(frozen=True, slots=True)
class Entry:
    """One journal entry, as read back."""

    seq: int
    at: datetime
    kind: str
    party: str
    data: dict[str, Any]

    def brief(self, zone: tzinfo | None = None) -> str:
        """``#12 2026-02-01T13:00:00+00:00 bank.posted {...}`` for evidence listings; with
        ``zone``, the instant and every instant among the fields are shown in that zone."""
        text = f"#{self.seq} {self.at.isoformat()} {self.kind} {_show(self.data)}"
        return text if zone is None else rezone(text, zone)


#: an entry as stored, not yet decoded: ``(seq, at_us, kind, party, payload)``
Row = tuple[int, int, str, str, str]


class Journal:
    """Append-only; ``append`` returns the new entry's sequence number."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        # A temporary database file (deleted on close): a long run's journal is
        # far larger than the parties' state, and only its pages in use stay in memory.
        self._db = sqlite3.connect("", isolation_level=None)
        self._db.execute("PRAGMA journal_mode = OFF")
        self._db.execute("PRAGMA synchronous = OFF")
        self._db.execute(
            "CREATE TABLE journal (seq INTEGER PRIMARY KEY, at_us INTEGER NOT NULL,"
            " kind TEXT NOT NULL, party TEXT NOT NULL, ref TEXT, data TEXT NOT NULL)"
        )
        self._buffer: list[tuple[int, int, str, str, str | None, str]] = []
        self._indexed = False
        self._hash = hashlib.sha256()
        self._count = 0
        self._last_at: datetime | None = None
        self._last_us = 0

    def __len__(self) -> int:
        return self._count

    def append(self, kind: str, party: str, /, **data: Any) -> int:
        now = self._clock.now
        if now is not self._last_at:
            self._last_at = now
            self._last_us = to_us(now)
        for key, value in data.items():
            if type(value) not in _PLAIN:
                data[key] = _plain(value)
        ref = None
        for field in _REF_FIELDS:
            value = data.get(field)
            if isinstance(value, str):
                ref = value
                break
        payload = repr(data)
        self._count += 1
        row = (self._count, self._last_us, kind, party, ref, payload)
        # kinds and parties are identifiers (no separator inside); the payload is a literal
        self._hash.update(f"{self._count}\x1f{self._last_us}\x1f{kind}\x1f{party}\x1f"
                          f"{payload}\n".encode())
        buffer = self._buffer
        buffer.append(row)
        if len(buffer) >= _FLUSH_AT:
            self._flush()
        return self._count

    def digest(self) -> str:
        """Hex SHA-256 over every entry so far, in order."""
        return self._hash.hexdigest()

    def _flush(self) -> None:
        if self._buffer:
            self._db.executemany("INSERT INTO journal VALUES (?,?,?,?,?,?)", self._buffer)
            self._buffer.clear()

    def entries(self, kinds: Iterable[str] | None = None) -> Iterator[Entry]:
        """Entries in order, optionally only those of the given kinds."""
        self._flush()
        if kinds is None:
            rows = self._db.execute("SELECT * FROM journal ORDER BY seq")
        else:
            wanted = sorted(set(kinds))
            marks = ",".join("?" * len(wanted))
            rows = self._db.execute(
                f"SELECT * FROM journal WHERE kind IN ({marks}) ORDER BY seq", wanted
            )
        for seq, at_us, kind, party, _ref, payload in rows:
            yield Entry(seq, from_us(at_us), kind, party, ast.literal_eval(payload))

    def rows(self) -> Iterator[Row]:
        """Every entry in order, undecoded: cheap to scan; :meth:`decode` the ones wanted.

        The payload is the Python literal of the fields, so a string field's value
        appears in it quoted (``'L-alice'``).
        """
        self._flush()
        yield from self._db.execute("SELECT seq, at_us, kind, party, data FROM journal"
                                    " ORDER BY seq")

    @staticmethod
    def decode(row: Row) -> Entry:
        seq, at_us, kind, party, payload = row
        return Entry(seq, from_us(at_us), kind, party, ast.literal_eval(payload))

    def get(self, seq: int) -> Entry:
        self._flush()
        row = self._db.execute("SELECT * FROM journal WHERE seq = ?", (seq,)).fetchone()
        if row is None:
            raise KeyError(seq)
        return Entry(row[0], from_us(row[1]), row[2], row[3], ast.literal_eval(row[5]))

    def about(self, refs: Iterable[str], kinds: Iterable[str]) -> list[int]:
        """Sequence numbers of the entries of these kinds about these references."""
        self._flush()
        if not self._indexed:
            self._db.execute("CREATE INDEX journal_ref ON journal (ref)")
            self._indexed = True
        wanted = sorted(set(refs))
        kind_list = sorted(set(kinds))
        found: list[int] = []
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            found.extend(seq for (seq,) in self._db.execute(
                f"SELECT seq FROM journal WHERE ref IN ({','.join('?' * len(chunk))})"
                f" AND kind IN ({','.join('?' * len(kind_list))})", (*chunk, *kind_list)))
        return sorted(found)

    def count(self, kind: str) -> int:
        self._flush()
        (n,) = self._db.execute("SELECT count(*) FROM journal WHERE kind = ?", (kind,)).fetchone()
        return int(n)

    def index_kinds(self) -> None:
        """Build the kind index once the run is over (reads come after writes)."""
        self._flush()
        self._db.execute("CREATE INDEX IF NOT EXISTS journal_kind ON journal (kind, seq)")

    def close(self) -> None:
        self._buffer.clear()
        self._db.close()
