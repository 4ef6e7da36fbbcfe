"""Helpers the devstack tests share."""

from __future__ import annotations

import os
import time
from pathlib import Path


def gone(pid: int, timeout: float = 5.0) -> bool:
    """True once `pid` has exited (a zombie awaiting its reaper counts as exited)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        stat = Path(f"/proc/{pid}/stat")
        try:
            if stat.read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return True
        except OSError:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
