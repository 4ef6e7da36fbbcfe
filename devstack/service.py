"""The handle every starter returns (`Service`), how it stops, and the safety net `stop_all`.

Every starter returns one: `.url`, `.address`, `.stop()` (idempotent), usable as a context
manager. A `Service` is usually a subprocess in its own session (process group), so a Ctrl-C in
the terminal reaches only the supervisor, which then stops them in order. `stop()` sends the
service's stop signal, waits, then SIGKILLs the whole group. Every live Service is registered,
and an `atexit` hook stops whatever is still running.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType

from devstack.ports import LOOPBACK

__all__ = ["Service", "ServiceError", "killpg", "stop_all"]

log = logging.getLogger("devstack")


class ServiceError(RuntimeError):
    """A service could not be started (the message includes the tail of its log)."""


_LIVE: list[Service] = []
_LIVE_LOCK = threading.Lock()


def stop_all() -> None:
    """Stop every service still running, newest first (also registered with atexit)."""
    with _LIVE_LOCK:
        services = list(reversed(_LIVE))
    for service in services:
        try:
            service.stop()
        except Exception:  # a safety net must not raise
            log.exception("stopping %s failed", service.name)


atexit.register(stop_all)


class Service:
    """Handle on one running service (usually a subprocess in its own process group)."""

    def __init__(
        self,
        name: str,
        *,
        url: str = "",
        host: str = LOOPBACK,
        port: int = 0,
        process: subprocess.Popen[bytes] | None = None,
        log_path: Path | None = None,
        pidfile: Path | None = None,
        stop_signal: int = signal.SIGTERM,
        stop_timeout: float = 15.0,
        ui_url: str | None = None,
        extras: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.url = url
        self.host = host
        self.port = port
        self.process = process
        self.log_path = log_path
        self.pidfile = pidfile
        self.stop_signal = stop_signal
        self.stop_timeout = stop_timeout
        self.ui_url = ui_url
        self.extras: dict[str, str] = dict(extras or {})
        self._on_stop: list[Callable[[], None]] = []
        self._stopped = False
        self._lock = threading.Lock()
        with _LIVE_LOCK:
            _LIVE.append(self)

    def __repr__(self) -> str:
        state = "stopped" if self._stopped else "running"
        return f"<Service {self.name} {self.url or self.address} pid={self.pid} {state}>"

    @property
    def address(self) -> str:
        """host:port, e.g. the Temporal gRPC target."""
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def returncode(self) -> int | None:
        """None while the process runs (or for in-process services)."""
        return self.process.poll() if self.process is not None else None

    def is_running(self) -> bool:
        if self._stopped:
            return False
        return self.process is None or self.process.poll() is None

    def add_cleanup(self, callback: Callable[[], None]) -> None:
        """Run `callback` after the process has stopped."""
        self._on_stop.append(callback)

    def stop(self, timeout: float | None = None) -> None:
        """Stop gracefully (stop_signal), then SIGKILL the whole process group. Idempotent."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        try:
            if self.process is not None:
                grace = self.stop_timeout if timeout is None else timeout
                _terminate(self.process, self.stop_signal, grace)
            if self.pidfile is not None:
                self.pidfile.unlink(missing_ok=True)
            for callback in reversed(self._on_stop):
                callback()
        finally:
            with _LIVE_LOCK:
                if self in _LIVE:
                    _LIVE.remove(self)

    def __enter__(self) -> Service:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def log_tail(self, lines: int = 40) -> str:
        return _tail(self.log_path, lines)


def killpg(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _terminate(process: subprocess.Popen[bytes], sig: int, timeout: float) -> None:
    pgid = process.pid  # spawned with start_new_session=True: pid == pgid
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("pid %s ignored signal %s for %.0fs; killing it", pgid, sig, timeout)
            killpg(pgid, signal.SIGKILL)
            process.wait(10)
    killpg(pgid, signal.SIGKILL)  # leftovers of the group (workers, backends)


def _tail(path: Path | None, lines: int = 40) -> str:
    if path is None or not path.exists():
        return "(no log)"
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return "(log unreadable)"
