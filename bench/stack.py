"""The stack under test: one the harness starts itself (`--stack own`), or one already running.

An own stack is `python -m devstack up` (what `make dev` runs) with its state in a fresh
temporary directory and every port its own (free ports picked now), so it never meets a
developer's `make dev` or the test suite: its own Postgres, Redis, Temporal dev server, SMTP
sink, API (granian, API_WORKERS processes) and worker. Settings that would point devstack at
other services (DATABASE_URL, REDIS_URL, TEMPORAL_ADDRESS, SMTP_HOST/PORT) are dropped from its
environment; a scenario adds what it needs (e.g. the login rate limit lifted). It is stopped
with SIGTERM (devstack then stops its services in order) and its directory removed.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.load import BenchError
from devstack.config import REPO_ROOT
from devstack.ports import LOOPBACK, free_port

FOREIGN_SETTINGS = (
    "DATABASE_URL",
    "REDIS_URL",
    "TEMPORAL_ADDRESS",
    "SMTP_HOST",
    "SMTP_PORT",
    "API_PORT",
    "DEVSTACK_STATE_DIR",
    "PUBLIC_BASE_URL",
)
PORT_VARIABLES = (
    "API_PORT",
    "DEVSTACK_POSTGRES_PORT",
    "DEVSTACK_REDIS_PORT",
    "DEVSTACK_TEMPORAL_PORT",
    "DEVSTACK_TEMPORAL_UI_PORT",
    "DEVSTACK_SMTP_PORT",
    "DEVSTACK_STRIPE_PORT",
)


def read_env_file(path: Path) -> dict[str, str]:
    """The `export NAME=value` lines of a devstack env file (`.stack/env`)."""
    values: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in path.read_text().splitlines():
            parts = shlex.split(line)
            if len(parts) == 2 and parts[0] == "export" and "=" in parts[1]:
                name, value = parts[1].split("=", 1)
                values[name] = value
    return values


def running_stack_env() -> dict[str, str]:
    """The settings of the developer's running stack: the environment, else `.stack/env`."""
    state = Path(os.environ.get("DEVSTACK_STATE_DIR") or REPO_ROOT / ".stack")
    values = read_env_file(state / "env")
    values.update({k: v for k, v in os.environ.items() if k in FOREIGN_SETTINGS})
    values.setdefault("DEVSTACK_STATE_DIR", str(state))
    return values


def api_answers(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url.rstrip('/')}/health/live", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


class OwnStack:
    def __init__(self, env: dict[str, str], api_workers: int) -> None:
        self.extra_env = env
        self.api_workers = api_workers
        self.state = Path(tempfile.mkdtemp(prefix="bench-stack-"))
        self.log_path = self.state / "devstack.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.env: dict[str, str] = {}  # the stack's settings, once it is up
        self.base_url = ""

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def start(self, timeout: float = 240.0) -> None:
        env = {k: v for k, v in os.environ.items() if k not in FOREIGN_SETTINGS}
        env.update({name: str(free_port()) for name in PORT_VARIABLES})
        env["DEVSTACK_STATE_DIR"] = str(self.state)
        env["API_WORKERS"] = str(self.api_workers)
        env["DEVSTACK_SEED_DEMO"] = "0"  # a scenario seeds what it measures
        env.update(self.extra_env)
        self.base_url = f"http://{LOOPBACK}:{env['API_PORT']}"
        print(f"- starting an own stack in {self.state} (log: {self.log_path})", file=sys.stderr)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "devstack", "up"],
                cwd=REPO_ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # our Ctrl-C reaches it only through stop()
            )
        deadline = time.monotonic() + timeout
        env_file = self.state / "env"  # written once the API listens
        while not (env_file.exists() and api_answers(self.base_url)):
            if self.process.poll() is not None or time.monotonic() > deadline:
                tail = self.log_path.read_text(errors="replace")[-3000:]
                self.stop()
                raise BenchError(f"the own stack did not come up; its log ends:\n{tail}")
            time.sleep(0.5)
        self.env = read_env_file(env_file) | {"DEVSTACK_STATE_DIR": str(self.state)}
        print(f"- own stack up: {self.base_url}", file=sys.stderr)

    def stop(self) -> None:
        proc = self.process
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=90)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        shutil.rmtree(self.state, ignore_errors=True)
