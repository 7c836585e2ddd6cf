"""Child processes a test interrupts: Ctrl-C reaches them whatever the test process's own
signal state (a runner or an earlier test may ignore or block SIGINT, and a child
inherits both; Python then never turns SIGINT into KeyboardInterrupt); and a child's
stderr on a terminal, so a test can wait for the progress it draws there."""

from __future__ import annotations

import os
import pty
import re
import sys
import threading
import time

__all__ = ["Terminal", "interruptible"]

#: sets SIGINT to its default and unblocks it, then becomes the command (both survive exec)
_RESET = ("import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
          "signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT]); "
          "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])")


def interruptible(*python_args: str) -> list[str]:
    """The command line running ``python *python_args`` with SIGINT default and unblocked."""
    return [sys.executable, "-c", _RESET, *python_args]


class Terminal:
    """A pseudo-terminal for a child's stderr (pass :attr:`child` as ``stderr=``), read in
    the background: what the child drew there is :attr:`text`."""

    def __init__(self) -> None:
        self._master, self.child = pty.openpty()
        self._chunks: list[bytes] = []
        self._reader = threading.Thread(target=self._read, daemon=True)

    def started(self) -> None:
        """The child has the terminal: close this process's copy and start reading."""
        os.close(self.child)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self._master, 4096)
            except OSError:  # the child closed its end
                return
            if not data:
                return
            self._chunks.append(data)

    @property
    def text(self) -> str:
        return b"".join(self._chunks).decode("utf-8", errors="replace")

    def wait_for(self, pattern: str, seconds: float) -> bool:
        """Whether ``pattern`` appeared within ``seconds``."""
        deadline = time.monotonic() + seconds
        while not re.search(pattern, self.text):
            if time.monotonic() > deadline or not self._reader.is_alive():
                return bool(re.search(pattern, self.text))
            time.sleep(0.05)
        return True

    def close(self) -> str:
        """Everything the child drew, once it has exited."""
        self._reader.join(10)
        os.close(self._master)
        return self.text
