"""Starting a service's process: spawn, pidfiles, waiting until it is ready, a clean environment.

`spawn` runs a command in its own session (process group) and returns its `Service`. Safety nets
against orphans besides `stop_all`: on Linux children get a parent-death signal, and each
service writes a pidfile in its state dir so that a later start can reap leftovers of a
supervisor that was SIGKILLed (`reap_stale`).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from devstack.ports import LOOPBACK, free_port, port_is_free
from devstack.service import Service, ServiceError, killpg

__all__ = [
    "PIDFILE_NAME",
    "Account",
    "clean_env",
    "pick_port",
    "reap_stale",
    "spawn",
    "wait_until",
]

log = logging.getLogger("devstack")

PIDFILE_NAME = ".devstack.pid"


def pick_port(port: int | None, what: str) -> int:
    """`port` if it is free (else ServiceError naming `what`); any free port when None."""
    if port is None:
        return free_port()
    if not port_is_free(port):
        raise ServiceError(f"{what}: port {LOOPBACK}:{port} is already in use")
    return port


def _pdeathsig(sig: int) -> Callable[[], None] | None:
    """Linux: ask the kernel to send `sig` to the child when the spawning thread dies.

    Only from the main thread: the signal fires when the *thread* that forked exits.
    """
    if not sys.platform.startswith("linux"):
        return None
    if threading.current_thread() is not threading.main_thread():
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1

    def _set() -> None:
        prctl(pr_set_pdeathsig, int(sig))

    return _set


@dataclass(frozen=True)
class Account:
    """An unprivileged OS account to run a process as (Postgres, when we are root)."""

    name: str
    uid: int
    gid: int


def spawn(
    name: str,
    argv: Sequence[str | os.PathLike[str]],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    log_path: Path | None = None,
    pipe_output: bool = False,
    stop_signal: int = signal.SIGTERM,
    stop_timeout: float = 15.0,
    pidfile: Path | None = None,
    url: str = "",
    port: int = 0,
    _account: Account | None = None,
) -> Service:
    """Run `argv` in its own process group and return its Service.

    Output goes to `log_path` (appended), or to a pipe at `service.process.stdout` when
    `pipe_output`, else to /dev/null. With `pidfile`, leftovers of an earlier supervisor that
    died without cleaning up are reaped first.
    """
    if pidfile is not None:
        reap_stale(pidfile, name)
    out: int | IO[bytes]
    if pipe_output:
        out = subprocess.PIPE
    elif log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        out = log_path.open("ab")
    else:
        out = subprocess.DEVNULL
    try:
        process = subprocess.Popen(
            [str(arg) for arg in argv],
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_pdeathsig(stop_signal),
            user=_account.uid if _account else None,
            group=_account.gid if _account else None,
            extra_groups=[] if _account else None,
        )
    finally:
        if not isinstance(out, int):
            out.close()
    if pidfile is not None:
        pidfile.write_text(f"{process.pid} {os.getpid()} {name}\n")
    return Service(
        name,
        url=url,
        port=port,
        process=process,
        log_path=log_path,
        pidfile=pidfile,
        stop_signal=stop_signal,
        stop_timeout=stop_timeout,
    )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat_file = Path(f"/proc/{pid}/stat")
    with contextlib.suppress(OSError, IndexError):
        if stat_file.read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


def _cmdline(pid: int) -> str:
    proc = Path(f"/proc/{pid}/cmdline")
    if proc.exists():
        with contextlib.suppress(OSError):
            return proc.read_bytes().replace(b"\0", b" ").decode(errors="replace")
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        return subprocess.run(
            ["ps", "-o", "args=", "-p", str(pid)], capture_output=True, text=True, timeout=5
        ).stdout
    return ""


_MARKERS = {
    "postgres": "postgres",
    "redis": "redis-server",
    "temporal": "temporal",
    "smtp-sink": "smtp_sink",
    "stripe-emulator": "stripe_emulator",
}


def reap_stale(pidfile: Path, name: str) -> None:
    """Stop a leftover from a supervisor that died; refuse if that supervisor is still alive."""
    try:
        fields = pidfile.read_text().split()
        pid, owner = int(fields[0]), int(fields[1])
    except (OSError, ValueError, IndexError):
        pidfile.unlink(missing_ok=True)
        return
    marker = _MARKERS.get(name, name)
    if not _pid_alive(pid) or marker not in _cmdline(pid):
        pidfile.unlink(missing_ok=True)
        return
    if owner != os.getpid() and _pid_alive(owner):
        raise ServiceError(
            f"{name} (pid {pid}) in {pidfile.parent} is already running, "
            f"started by pid {owner}; stop that first"
        )
    log.warning("stopping leftover %s (pid %s) from an earlier run", name, pid)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGINT if name == "postgres" else signal.SIGTERM)
    deadline = time.monotonic() + 15
    while _pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _pid_alive(pid):
        killpg(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.3)
    pidfile.unlink(missing_ok=True)


def wait_until(
    service: Service, ready: Callable[[], bool], timeout: float, interval: float = 0.1
) -> None:
    """Poll `ready` until true; on death or timeout stop the service and raise ServiceError."""
    deadline = time.monotonic() + timeout
    while True:
        if not service.is_running():
            code = service.returncode
            service.stop()
            raise ServiceError(
                f"{service.name} exited with code {code} while starting; "
                f"log {service.log_path}:\n{service.log_tail()}"
            )
        if ready():
            return
        if time.monotonic() > deadline:
            service.stop()
            raise ServiceError(
                f"{service.name} not ready after {timeout:.0f}s; "
                f"log {service.log_path}:\n{service.log_tail()}"
            )
        time.sleep(interval)


def clean_env(*drop_prefixes: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop_prefixes)}
    env.update(extra)
    return env
