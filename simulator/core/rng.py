"""Seeded random streams, one per purpose, all derived from the world's seed.

Separate streams keep purposes independent: adding a draw for one link does
not shift the borrowers' payment times.
"""

from __future__ import annotations

import hashlib
import random

__all__ = ["Streams", "derive_seed"]


def derive_seed(seed: int, purpose: str) -> int:
    """A 64-bit seed for ``purpose`` under the world's ``seed``."""
    digest = hashlib.sha256(f"{seed}\x1f{purpose}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


class Streams:
    """``streams.get("link:platform->bank")`` is the same stream every call."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._streams: dict[str, random.Random] = {}

    def get(self, purpose: str) -> random.Random:
        stream = self._streams.get(purpose)
        if stream is None:
            stream = self._streams[purpose] = random.Random(derive_seed(self.seed, purpose))
        return stream
