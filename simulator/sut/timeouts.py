"""How long lendsim waits for a system under test by default (README, "Test your own bank
or platform"): a module of its own, so the command line can show it without importing the
targets (and the engine they import)."""

from __future__ import annotations

__all__ = ["DEFAULT_TIMEOUT"]

#: how long lendsim waits for a system's answer to one call or tick (real seconds)
DEFAULT_TIMEOUT = 30.0
