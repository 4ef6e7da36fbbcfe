"""`python -m devstack up`: the whole local stack in one terminal (what `make dev` runs).

Starts what is not already configured (Postgres, Redis, Temporal dev server + UI, an SMTP sink),
runs the migrations, then the API (granian) and the Temporal worker, streaming their output with a
prefix. Ctrl-C (or SIGTERM) stops everything in order; if the API or the worker dies, everything
stops too.

State lives in `.stack/` at the repository root (DEVSTACK_STATE_DIR overrides):
postgres/, redis/, temporal/temporal.db, mail/ (one .eml per message), logs/.

A service is started only when its setting is absent from both the environment and `.env`:
DATABASE_URL, REDIS_URL, TEMPORAL_ADDRESS, SMTP_HOST/SMTP_PORT. Fixed default ports (override
with the DEVSTACK_*_PORT variables below, or API_PORT) keep URLs stable across runs; a taken
default port falls back to a free one.

The API runs API_WORKERS granian worker processes (default 2: one per core of the 2-core dev
machine; docs/benchmarks.md has the measurements).

Commands can be replaced for experiments: DEVSTACK_API_CMD, DEVSTACK_WORKER_CMD,
DEVSTACK_MIGRATE_CMD (shell-style strings; `{python}` and `{api_port}` are substituted;
an empty string skips that step).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shlex
import signal
import sys
import threading
import time
from collections.abc import Callable
from email import policy
from email.parser import BytesParser
from pathlib import Path
from types import FrameType
from typing import IO, TextIO
from urllib.parse import urlsplit, urlunsplit

from devstack.ports import LOOPBACK, free_port, port_is_free
from devstack.postgres import start_postgres
from devstack.process import spawn
from devstack.redis import start_redis
from devstack.service import Service, ServiceError, stop_all
from devstack.smtp import start_smtp_sink
from devstack.temporal import start_temporal_dev_server

REPO_ROOT = Path(__file__).resolve().parent.parent

# name: (env var overriding the port, default port)
PORTS: dict[str, tuple[str, int]] = {
    "api": ("API_PORT", 8001),
    "postgres": ("DEVSTACK_POSTGRES_PORT", 55432),
    "redis": ("DEVSTACK_REDIS_PORT", 56379),
    "temporal": ("DEVSTACK_TEMPORAL_PORT", 7233),
    "temporal-ui": ("DEVSTACK_TEMPORAL_UI_PORT", 8233),
    "smtp": ("DEVSTACK_SMTP_PORT", 1025),
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
)

_COLORS = {
    "devstack": "1;36",
    "migrate": "35",
    "api": "32",
    "worker": "33",
    "mail": "34",
    "error": "1;31",
}


class Console:
    """Thread-safe line output with a coloured `[name]` prefix."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.color = stream.isatty() and "NO_COLOR" not in os.environ
        self._lock = threading.Lock()
        self.width = max(len(name) for name in _COLORS)

    def prefix(self, name: str) -> str:
        label = f"{name:>{self.width}} |"
        if self.color:
            return f"\033[{_COLORS.get(name, '0')}m{label}\033[0m "
        return label + " "

    def line(self, name: str, text: str) -> None:
        with self._lock:
            self.stream.write(self.prefix(name) + text.rstrip("\n") + "\n")
            self.stream.flush()

    def say(self, text: str) -> None:
        for part in text.splitlines() or [""]:
            self.line("devstack", part)

    def error(self, text: str) -> None:
        for part in text.splitlines() or [""]:
            self.line("error", part)


console = Console(sys.stdout)


class _ConsoleHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        (console.error if record.levelno >= logging.ERROR else console.say)(self.format(record))


class Shutdown(BaseException):
    """Raised by the SIGTERM/SIGHUP handler, like KeyboardInterrupt for SIGINT."""


def _raise_shutdown(signum: int, _frame: FrameType | None) -> None:
    raise Shutdown(signal.Signals(signum).name)


def _read_dotenv(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    try:
        from dotenv import dotenv_values
    except ImportError:
        return {}
    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def _mask(url: str) -> str:
    """The URL without its password."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _command(env_var: str, default: list[str], api_port: int) -> list[str] | None:
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


def _pump(stream: IO[bytes], name: str, log_path: Path) -> None:
    """Copy a child's output to the console (prefixed) and to its log file."""
    with log_path.open("ab") as log_file:
        for raw in iter(stream.readline, b""):
            log_file.write(raw)
            log_file.flush()
            console.line(name, raw.decode(errors="replace"))


class Stack:
    def __init__(self, state: Path) -> None:
        self.state = state
        self.logs = state / "logs"
        self.maildir = state / "mail"
        self.env_file = state / "env"
        self.dotenv = _read_dotenv(REPO_ROOT / ".env")
        self.env: dict[str, str] = dict(os.environ)
        self.infra: list[Service] = []  # in start order
        self.apps: list[Service] = []
        self.threads: list[threading.Thread] = []
        self.summary: dict[str, str] = {}

    # ------------------------------------------------------------------ helpers
    def configured(self, name: str) -> str | None:
        value = os.environ.get(name)
        if value is None:
            value = self.dotenv.get(name)
        return value or None

    def port(self, name: str) -> int:
        env_var, default = PORTS[name]
        explicit = os.environ.get(env_var)
        if explicit:
            port = int(explicit)
            if not port_is_free(port):
                raise ServiceError(f"{env_var}={port}, but {LOOPBACK}:{port} is already in use")
            return port
        if port_is_free(default):
            return default
        port = free_port()
        console.say(f"port {default} ({name}) is taken; using {port} instead")
        return port

    def export(self, name: str, value: str) -> None:
        self.env[name] = value

    # ------------------------------------------------------------------ services
    def start_infra(self) -> None:
        database_url = self.configured("DATABASE_URL")
        if database_url:
            self.summary["Postgres"] = f"{_mask(database_url)}  (from DATABASE_URL)"
        else:
            pg = start_postgres(
                self.state / "postgres",
                self.port("postgres"),
                log_path=self.logs / "postgres.log",
            )
            self.infra.append(pg)
            self.export("DATABASE_URL", pg.url)
            self.summary["Postgres"] = (
                f"{pg.url}  (PostgreSQL {pg.extras['version']}, {pg.extras['flavor']} binaries)"
            )
            self.summary["psql"] = f"psql -h {pg.host} -p {pg.port} -U postgres cinema"

        redis_url = self.configured("REDIS_URL")
        if redis_url:
            self.summary["Redis"] = f"{_mask(redis_url)}  (from REDIS_URL)"
        else:
            redis = start_redis(
                self.state / "redis",
                self.port("redis"),
                persist=True,
                log_path=self.logs / "redis.log",
            )
            self.infra.append(redis)
            self.export("REDIS_URL", redis.url)
            self.summary["Redis"] = redis.url

        temporal_address = self.configured("TEMPORAL_ADDRESS")
        if temporal_address:
            self.summary["Temporal gRPC"] = f"{temporal_address}  (from TEMPORAL_ADDRESS)"
            self.summary["Temporal UI"] = "(external server: see its own UI)"
        else:
            temporal = start_temporal_dev_server(
                self.state / "temporal",
                self.port("temporal"),
                self.port("temporal-ui"),
                log_path=self.logs / "temporal.log",
            )
            self.infra.append(temporal)
            self.export("TEMPORAL_ADDRESS", temporal.address)
            self.summary["Temporal gRPC"] = f"{temporal.address}  (namespace default)"
            self.summary["Temporal UI"] = temporal.ui_url or "(headless)"

        if self.configured("SMTP_HOST") or self.configured("SMTP_PORT"):
            host = self.configured("SMTP_HOST") or "127.0.0.1"
            port = self.configured("SMTP_PORT") or "1025"
            self.summary["SMTP"] = f"{host}:{port}  (from SMTP_HOST/SMTP_PORT)"
        else:
            smtp = start_smtp_sink(
                self.maildir, self.port("smtp"), log_path=self.logs / "smtp-sink.log"
            )
            self.infra.append(smtp)
            self.export("SMTP_HOST", smtp.host)
            self.export("SMTP_PORT", str(smtp.port))
            self.summary["SMTP"] = f"{smtp.address}  (sink: accepts everything, delivers nothing)"
            self.summary["Mail folder"] = f"{self.maildir}  (one .eml per message)"
            self._watch_mail()

    def _watch_mail(self) -> None:
        seen = {p.name for p in self.maildir.glob("*.eml")}
        parser = BytesParser(policy=policy.default)

        def loop() -> None:
            while True:
                time.sleep(1)
                for path in sorted(self.maildir.glob("*.eml")):
                    if path.name in seen:
                        continue
                    seen.add(path.name)
                    with contextlib.suppress(OSError), path.open("rb") as fp:
                        headers = parser.parse(fp, headersonly=True)
                        console.line(
                            "mail", f"to {headers['To']}: {headers['Subject']!s}  -> {path}"
                        )

        threading.Thread(target=loop, name="mail-watch", daemon=True).start()

    def run_step(self, name: str, argv: list[str]) -> int:
        """Run a one-off command (migrations) with streamed output; its exit code."""
        console.say(f"running {shlex.join(argv)}")
        step = spawn(name, argv, cwd=REPO_ROOT, env=self.env, pipe_output=True, stop_timeout=10)
        assert step.process is not None and step.process.stdout is not None
        try:
            _pump(step.process.stdout, name, self.logs / f"{name}.log")
            return step.process.wait()
        finally:
            step.stop()

    def start_app(
        self, name: str, argv: list[str], log_name: str, stop_timeout: float = 15
    ) -> Service:
        console.say(f"starting {name}: {shlex.join(argv)}")
        app = spawn(
            name,
            argv,
            cwd=REPO_ROOT,
            env=self.env,
            pipe_output=True,
            stop_signal=signal.SIGINT,  # what Ctrl-C would send if it ran in the terminal
            stop_timeout=stop_timeout,
        )
        assert app.process is not None and app.process.stdout is not None
        thread = threading.Thread(
            target=_pump,
            args=(app.process.stdout, name, self.logs / log_name),
            name=f"pump-{name}",
            daemon=True,
        )
        thread.start()
        self.threads.append(thread)
        self.apps.append(app)
        return app

    def wait_for_port(self, port: int, timeout: float) -> bool:
        import socket

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            with contextlib.suppress(OSError), socket.create_connection((LOOPBACK, port), 0.5):
                return True
            time.sleep(0.2)
        return False

    def check_alive(self) -> None:
        for service in [*self.apps, *self.infra]:
            if not service.is_running():
                code = service.returncode
                where = f"; log: {service.log_path}" if service.log_path else ""
                raise ServiceError(f"{service.name} exited unexpectedly (code {code}){where}")

    # ------------------------------------------------------------------ lifecycle
    def up(self) -> int:
        self.logs.mkdir(parents=True, exist_ok=True)
        self.maildir.mkdir(parents=True, exist_ok=True)
        console.say(f"state in {self.state}")
        api_port = self.port("api")  # first: a busy explicit API_PORT fails fast
        self.start_infra()

        self.env.setdefault("API_PORT", str(api_port))
        if not self.configured("ENVIRONMENT"):
            self.export("ENVIRONMENT", "development")
        if not self.configured("PUBLIC_BASE_URL"):
            self.export("PUBLIC_BASE_URL", f"http://{LOOPBACK}:{api_port}")

        python = sys.executable
        migrate = _command(
            "DEVSTACK_MIGRATE_CMD", [python, "-m", "alembic", "upgrade", "head"], api_port
        )
        if migrate is not None:
            code = self.run_step("migrate", migrate)
            if code != 0:
                console.error(f"migrations failed (exit code {code}); stopping")
                return 1
        workers = api_workers()
        # Split the cores between the API processes for password hashing (docs/benchmarks.md).
        if not self.configured("PASSWORD_HASH_THREADS"):
            self.export("PASSWORD_HASH_THREADS", str(max(1, (os.cpu_count() or 1) // workers)))
        api_cmd = _command(
            "DEVSTACK_API_CMD",
            [
                python,
                "-m",
                "granian",
                "--interface",
                "asgi",
                "--factory",
                "--host",
                LOOPBACK,
                "--port",
                str(api_port),
                "--workers",
                str(workers),
                "api.asgi:create_app_from_env",
            ],
            api_port,
        )
        worker_cmd = _command("DEVSTACK_WORKER_CMD", [python, "worker.py"], api_port)
        if api_cmd is not None:
            self.start_app("api", api_cmd, "api.log")
        if worker_cmd is not None:
            # the worker drains in-flight activities for up to 20 s before exiting
            self.start_app("worker", worker_cmd, "worker.log", stop_timeout=35)
        if api_cmd is not None and not self.wait_for_port(api_port, 60):
            console.error(f"the API is not listening on {LOOPBACK}:{api_port} after 60s")
        self.write_env_file()
        self.banner(api_port if api_cmd is not None else None)
        while True:
            self.check_alive()
            time.sleep(0.3)

    def write_env_file(self) -> None:
        """`.stack/env`: `source` it to point cli.py, tests or psql at this stack."""
        lines = [
            f"export {key}={shlex.quote(self.env[key])}" for key in EXPORTED if key in self.env
        ]
        self.env_file.write_text("\n".join(lines) + "\n")
        self.env_file.chmod(0o600)

    def banner(self, api_port: int | None) -> None:
        rows: list[tuple[str, str]] = []
        if api_port is not None:
            base = f"http://{LOOPBACK}:{api_port}"
            rows += [
                ("API", base),
                ("OpenAPI docs", f"{base}/docs"),
                ("OpenAPI JSON", f"{base}/openapi.json"),
                ("Health", f"{base}/health/ready"),
            ]
        for key in ("Temporal UI", "Temporal gRPC", "Postgres", "psql", "Redis", "SMTP"):
            if key in self.summary:
                rows.append((key, self.summary[key]))
        if "Mail folder" in self.summary:
            rows.append(("Mail folder", self.summary["Mail folder"]))
        rows.append(("Logs", str(self.logs)))
        rows.append(("Env", f"source {self.env_file}  (same settings in another shell)"))
        width = max(len(k) for k, _ in rows)
        rule = "-" * 72
        lines = [rule, "Online Cinema dev stack is up.  Ctrl-C stops everything.", rule]
        lines += [f"  {k:<{width}}  {v}" for k, v in rows]
        lines.append(rule)
        console.say("\n".join(lines))

    def shutdown(self) -> None:
        for service in [*self.apps, *reversed(self.infra)]:
            if service.is_running() or service.returncode is None:
                console.say(f"stopping {service.name}")
            try:
                service.stop()
            except Exception as exc:  # keep stopping the rest
                console.error(f"stopping {service.name} failed: {exc}")
        stop_all()  # anything half-started when we were interrupted
        self.env_file.unlink(missing_ok=True)
        for thread in self.threads:
            thread.join(timeout=2)
        console.say("stopped.")


def _install_signal_handlers(handler: Callable[[int, FrameType | None], None] | int) -> None:
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, handler)


def up(state: Path) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(message)s", handlers=[_ConsoleHandler()], force=True
    )
    stack = Stack(state)
    # Even when started in the background with SIGINT ignored, Ctrl-C/SIGINT must stop us.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    _install_signal_handlers(_raise_shutdown)
    code = 0
    try:
        code = stack.up()
    except (KeyboardInterrupt, Shutdown):
        console.say("shutting down...")
    except ServiceError as exc:
        console.error(str(exc))
        code = 1
    finally:
        # Finish the shutdown even if Ctrl-C is pressed again; every stop has a timeout.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        _install_signal_handlers(signal.SIG_IGN)
        stack.shutdown()
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devstack",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="start the whole stack in the foreground (make dev)")
    args = parser.parse_args(argv)
    state = Path(os.environ.get("DEVSTACK_STATE_DIR") or REPO_ROOT / ".stack").resolve()
    if args.command == "up":
        return up(state)
    return 2


if __name__ == "__main__":
    sys.exit(main())
