"""Where a benchmark's time goes: cProfile of one piece of work, as text for standard error.

Shared by the benchmarks' ``--profile`` options (``bench/explore.py``,
``bench/small_world.py``): the functions with the most time of their own, then the
heaviest by cumulative time.
"""

from __future__ import annotations

import cProfile
import io
import pstats
from collections.abc import Callable


def profiled(work: Callable[[], object], top: int) -> str:
    """Run ``work`` under cProfile; the ``top`` functions by own time and by cumulative time."""
    profiler = cProfile.Profile()
    profiler.enable()
    work()
    profiler.disable()
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return text.getvalue()
