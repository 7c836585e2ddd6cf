"""Serving worlds over HTTP: each party's face from its contract, and the sandbox (clock,
faults, reset) a partner integrates against."""
