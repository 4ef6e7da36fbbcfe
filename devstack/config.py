"""What `python -m devstack up` reads from its environment: ports, commands, API workers, `.env`.

The variables themselves are described in `devstack/__main__.py` (the `--help` text).
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from devstack.service import ServiceError

__all__ = [
    "DEFAULT_API_WORKERS",
    "EXPORTED",
    "PORTS",
    "REPO_ROOT",
    "api_workers",
    "command_from_env",
    "mask",
    "read_dotenv",
    "write_env_file",
]

REPO_ROOT = Path(__file__).resolve().parent.parent

# name: (env var overriding the port, default port)
PORTS: dict[str, tuple[str, int]] = {
    "api": ("API_PORT", 8001),
    "postgres": ("DEVSTACK_POSTGRES_PORT", 55432),
    "redis": ("DEVSTACK_REDIS_PORT", 56379),
    "temporal": ("DEVSTACK_TEMPORAL_PORT", 7233),
    "temporal-ui": ("DEVSTACK_TEMPORAL_UI_PORT", 8233),
    "smtp": ("DEVSTACK_SMTP_PORT", 1025),
    "stripe": ("DEVSTACK_STRIPE_PORT", 12180),
}

# granian worker processes for the API unless API_WORKERS says otherwise (docs/benchmarks.md).
DEFAULT_API_WORKERS = 2

# Settings exported to the API and the worker (and written to .stack/env).
EXPORTED = (
    "DATABASE_URL",
    "REDIS_URL",
    "TEMPORAL_ADDRESS",
    "SMTP_HOST",
    "SMTP_PORT",
    "ENVIRONMENT",
    "PUBLIC_BASE_URL",
    "STRIPE_API_BASE",
    "STRIPE_API_KEY",
    "STRIPE_WEBHOOK_SECRET",
)


def write_env_file(path: Path, env: dict[str, str]) -> None:
    """`.stack/env`: `source` it to point cli.py, tests or psql at this stack (mode 0600)."""
    lines = [f"export {key}={shlex.quote(env[key])}" for key in EXPORTED if key in env]
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)


def read_dotenv(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    try:
        from dotenv import dotenv_values
    except ImportError:
        return {}
    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def mask(url: str) -> str:
    """The URL without its password."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def command_from_env(env_var: str, default: list[str], api_port: int) -> list[str] | None:
    raw = os.environ.get(env_var)
    if raw is None:
        return default
    if not raw.strip():
        return None
    return [
        token.replace("{python}", sys.executable).replace("{api_port}", str(api_port))
        for token in shlex.split(raw)
    ]


def api_workers() -> int:
    """API_WORKERS: how many granian worker processes serve the API."""
    raw = os.environ.get("API_WORKERS", "").strip()
    if not raw:
        return DEFAULT_API_WORKERS
    try:
        workers = int(raw)
    except ValueError:
        workers = 0
    if workers < 1:
        raise ServiceError(f"API_WORKERS={raw!r}: expected a whole number of processes, >= 1")
    return workers
