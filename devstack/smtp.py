"""The SMTP sink as a subprocess of the local stack: `start_smtp_sink`.

The sink itself (and `MailSink`, the in-process one for tests) is `devstack.smtp_sink`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
from pathlib import Path

from devstack.ports import LOOPBACK
from devstack.process import PIDFILE_NAME, clean_env, pick_port, reap_stale, spawn, wait_until
from devstack.service import Service

__all__ = ["start_smtp_sink"]

log = logging.getLogger("devstack")

_PACKAGE_PARENT = Path(__file__).resolve().parent.parent


def _smtp_banner(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=1) as sock:
            sock.settimeout(2)
            ok = sock.recv(512).startswith(b"220")
            with contextlib.suppress(OSError):
                sock.sendall(b"QUIT\r\n")
            return ok
    except OSError:
        return False


def start_smtp_sink(
    maildir: Path,
    port: int | None = None,
    *,
    log_path: Path | None = None,
    timeout: float = 15.0,
) -> Service:
    """SMTP sink subprocess (`python -m devstack.smtp_sink`) on 127.0.0.1:port.

    Every message received is written to `maildir` as one `.eml` file. `.url` is
    `smtp://127.0.0.1:PORT`; `.host`/`.port` are what SMTP_HOST/SMTP_PORT should be.
    For in-process capture in tests use `MailSink` instead.
    """
    maildir = maildir.resolve()
    maildir.mkdir(parents=True, exist_ok=True)
    pidfile = maildir / PIDFILE_NAME
    reap_stale(pidfile, "smtp-sink")
    port = pick_port(port, "smtp sink")
    pythonpath = os.pathsep.join(
        p for p in (str(_PACKAGE_PARENT), os.environ.get("PYTHONPATH", "")) if p
    )
    service = spawn(
        "smtp-sink",
        [
            sys.executable,
            "-m",
            "devstack.smtp_sink",
            "--host",
            LOOPBACK,
            "--port",
            str(port),
            "--maildir",
            str(maildir),
        ],
        env=clean_env(PYTHONPATH=pythonpath, PYTHONUNBUFFERED="1"),
        log_path=log_path or maildir.parent / "smtp-sink.log",
        pidfile=pidfile,
        url=f"smtp://{LOOPBACK}:{port}",
        port=port,
    )
    service.extras["maildir"] = str(maildir)
    wait_until(service, lambda: _smtp_banner(port), timeout)
    log.info("smtp sink ready at %s, mail in %s", service.address, maildir)
    return service
