"""The commands `make dev` runs after the infrastructure: migrations, the demo seed, the API
and the worker. Each `DEVSTACK_*_CMD` replaces one (empty: skip it; `{python}` and
`{api_port}` are filled in)."""

from __future__ import annotations

import os
import sys

from devstack.config import REPO_ROOT, command_from_env
from devstack.ports import LOOPBACK

__all__ = [
    "API_APP",
    "api_command",
    "granian_args",
    "migrate_command",
    "seed_command",
    "worker_command",
]


def migrate_command(api_port: int) -> list[str] | None:
    default = [sys.executable, "-m", "alembic", "upgrade", "head"]
    return command_from_env("DEVSTACK_MIGRATE_CMD", default, api_port)


def seed_command() -> list[str] | None:
    """A newcomer sees movies at once: a small demo catalog, only into an empty catalog.
    DEVSTACK_SEED_DEMO=0 turns it off; another number changes its size."""
    seed = os.environ.get("DEVSTACK_SEED_DEMO", "200").strip()
    if seed in ("", "0"):
        return None
    return [sys.executable, str(REPO_ROOT / "cli.py"), "seed-demo", seed, "--if-empty"]


API_APP = "api.asgi:create_app_from_env"


def granian_args(
    host: str, port: str, workers: int, *options: str, app: str = API_APP
) -> list[str]:
    """`-m granian ...` serving the API's factory (what follows the Python executable); also
    what `bench.compare_servers` measures, with `options` of its own."""
    return [
        "-m",
        "granian",
        "--interface",
        "asgi",
        "--factory",
        "--host",
        host,
        "--port",
        port,
        "--workers",
        str(workers),
        *options,
        app,
    ]


def api_command(api_port: int, workers: int) -> list[str] | None:
    default = [sys.executable, *granian_args(LOOPBACK, str(api_port), workers)]
    return command_from_env("DEVSTACK_API_CMD", default, api_port)


def worker_command(api_port: int) -> list[str] | None:
    return command_from_env("DEVSTACK_WORKER_CMD", [sys.executable, "worker.py"], api_port)
