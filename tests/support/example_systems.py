"""Running library scenarios with an example system under test, as ``lendsim run --sut``
does: the system's profile decides which apply and the bounds it is judged by.

``run_with(role, target, profile, files)`` returns each scenario's verdict; the process
environment (a launcher sets ``LENDSIM_*`` variables) is restored afterwards and the
launcher released.
"""

from __future__ import annotations

import os
from pathlib import Path

from simulator.scenarios.loader import load_scenario
from simulator.sut.profile import load_profile
from simulator.sut.runs import SystemRun, close_launchers, run_with_system
from simulator.sut.targets import parse_target
from simulator.world.runner import ScenarioResult

__all__ = ["EXAMPLES", "LIBRARY", "run_with"]

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "scenarios"
EXAMPLES = ROOT / "examples"


def run_with(role: str, target: str, profile: Path, files: list[str]) -> list[ScenarioResult]:
    """Run each library scenario (paths under scenarios/) with ``target`` in ``role``."""
    system = SystemRun(parse_target(role, target), load_profile(profile, role=role),
                       timeout=60)
    saved = dict(os.environ)
    try:
        return [run_with_system(load_scenario(LIBRARY / name), system) for name in files]
    finally:
        close_launchers()
        os.environ.clear()
        os.environ.update(saved)
