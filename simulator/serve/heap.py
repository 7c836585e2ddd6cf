"""The garbage collector and a served world: what ``lendsim serve`` keeps out of full passes.

``GET /clock`` is answered on the server's event loop and needs the interpreter lock.
A full garbage collection holds that lock while it walks every tracked object, hundreds
of milliseconds over a world of thousands of borrowers, so the clock's answer would wait
for it. A sandbox that has its process to itself therefore freezes (``gc.freeze``) what
a world is built with, after a full collection of the world reset away, and after each
chunk of a background advance what the chunk left alive. Freezing is O(1); frozen
objects are still freed by reference counting, and a world's work makes no cyclic
garbage that only a collection could free (tests/world checks it), so nothing is held
longer than it would be. A reset or close thaws everything again.

Freezing is process-wide, and the full collection before it walks the host's whole
heap, so a sandbox embedded in another program (a test run, the contract suite) leaves
that program's collector alone: :class:`Heap` does nothing unless it owns the process.
"""

from __future__ import annotations

import gc

__all__ = ["Heap"]


class Heap:
    """The collector's view of one sandbox's worlds; a no-op unless ``own_process``."""

    def __init__(self, own_process: bool) -> None:
        self.own_process = own_process

    def thaw(self) -> None:
        """A world is being reset away or closed: its objects may be collected again."""
        if self.own_process:
            gc.unfreeze()

    def built(self) -> None:
        """A world is built: collect what the last one left, then freeze the new one."""
        if self.own_process:
            gc.collect()
            gc.freeze()

    def advanced(self) -> None:
        """A chunk of an advance ran: freeze what it left alive."""
        if self.own_process:
            gc.freeze()
