"""Child processes a test interrupts: Ctrl-C reaches them whatever the test process's own
signal state (a runner or an earlier test may ignore or block SIGINT, and a child
inherits both; Python then never turns SIGINT into KeyboardInterrupt)."""

from __future__ import annotations

import sys

#: sets SIGINT to its default and unblocks it, then becomes the command (both survive exec)
_RESET = ("import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
          "signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT]); "
          "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])")


def interruptible(*python_args: str) -> list[str]:
    """The command line running ``python *python_args`` with SIGINT default and unblocked."""
    return [sys.executable, "-c", _RESET, *python_args]
