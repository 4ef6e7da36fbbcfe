"""`Stack`: what `python -m devstack up` starts, in which order, and how it stops it again.

Infrastructure first (each service only when its setting is not configured), then the
migrations, then the API and the worker with their output streamed to the console; `shutdown`
stops the apps, then the infrastructure in reverse order.
"""

from __future__ import annotations

import os
import shlex
import signal
import threading
import time
from pathlib import Path

from devstack.commands import api_command, migrate_command, seed_command, worker_command
from devstack.config import PORTS, REPO_ROOT, api_workers, mask, read_dotenv, write_env_file
from devstack.console import console, pump, watch_mail
from devstack.ports import LOOPBACK, accepts_tcp, free_port, port_is_free
from devstack.postgres import start_postgres
from devstack.process import spawn
from devstack.redis import start_redis
from devstack.service import Service, ServiceError, stop_all
from devstack.smtp import start_smtp_sink
from devstack.stripe import choose_stripe
from devstack.temporal import start_temporal_dev_server
from domain.payments.events import HANDLED_EVENTS

__all__ = ["Stack"]


def _flag(name: str) -> bool:
    """A DEVSTACK_* switch that is on unless set to 0 / false / no / off."""
    return os.environ.get(name, "1").strip().lower() not in ("0", "false", "no", "off")


class Stack:
    def __init__(self, state: Path) -> None:
        self.state = state
        self.logs = state / "logs"
        self.maildir = state / "mail"
        self.env_file = state / "env"
        self.dotenv = read_dotenv(REPO_ROOT / ".env")
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
            self.summary["Postgres"] = f"{mask(database_url)}  (from DATABASE_URL)"
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
            self.summary["Redis"] = f"{mask(redis_url)}  (from REDIS_URL)"
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
                # DEVSTACK_TEMPORAL_PERSIST=0: histories in memory only (the benchmark's
                # stacks; see docs/benchmarks.md "Checkout")
                persist=_flag("DEVSTACK_TEMPORAL_PERSIST"),
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
            watch_mail(self.maildir)

    def start_stripe(self, api_port: int) -> None:
        """STRIPE_API_BASE, or Stripe itself for a real test key, or the emulator."""
        choice = choose_stripe(
            self.configured,
            state_dir=self.state / "stripe",
            port=lambda: self.port("stripe"),
            webhook_url=f"http://{LOOPBACK}:{api_port}/payments/webhook/",
            # Only what the service acts on, as its Stripe endpoint is set up in production.
            enabled_events=HANDLED_EVENTS,
            log_path=self.logs / "stripe-emulator.log",
            persist=_flag("DEVSTACK_STRIPE_PERSIST"),
        )
        if choice.service is not None:
            self.infra.append(choice.service)
        for name, value in choice.env.items():
            self.export(name, value)
        self.summary["Stripe"] = choice.summary

    def run_step(self, name: str, argv: list[str]) -> int:
        """Run a one-off command (migrations) with streamed output; its exit code."""
        console.say(f"running {shlex.join(argv)}")
        step = spawn(name, argv, cwd=REPO_ROOT, env=self.env, pipe_output=True, stop_timeout=10)
        assert step.process is not None and step.process.stdout is not None
        try:
            pump(step.process.stdout, name, self.logs / f"{name}.log")
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
            target=pump,
            args=(app.process.stdout, name, self.logs / log_name),
            name=f"pump-{name}",
            daemon=True,
        )
        thread.start()
        self.threads.append(thread)
        self.apps.append(app)
        return app

    def wait_for_port(self, port: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            if accepts_tcp(LOOPBACK, port):
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
        self.start_stripe(api_port)

        self.env.setdefault("API_PORT", str(api_port))
        if not self.configured("ENVIRONMENT"):
            self.export("ENVIRONMENT", "development")
        if not self.configured("PUBLIC_BASE_URL"):
            self.export("PUBLIC_BASE_URL", f"http://{LOOPBACK}:{api_port}")

        migrate = migrate_command(api_port)
        if migrate is not None:
            code = self.run_step("migrate", migrate)
            if code != 0:
                console.error(f"migrations failed (exit code {code}); stopping")
                return 1
        seed = seed_command()
        if seed is not None and self.run_step("seed", seed) != 0:
            console.error("seeding the demo catalog failed; going on without it")
        workers = api_workers()
        # Split the cores between the API processes for password hashing (docs/benchmarks.md).
        if not self.configured("PASSWORD_HASH_THREADS"):
            self.export("PASSWORD_HASH_THREADS", str(max(1, (os.cpu_count() or 1) // workers)))
        api_cmd, worker_cmd = api_command(api_port, workers), worker_command(api_port)
        if api_cmd is not None:
            self.start_app("api", api_cmd, "api.log")
        if worker_cmd is not None:
            # the worker drains in-flight activities for up to 20 s before exiting
            self.start_app("worker", worker_cmd, "worker.log", stop_timeout=35)
        if api_cmd is not None and not self.wait_for_port(api_port, 60):
            console.error(f"the API is not listening on {LOOPBACK}:{api_port} after 60s")
        write_env_file(self.env_file, self.env)
        self.banner(api_port if api_cmd is not None else None)
        while True:
            self.check_alive()
            time.sleep(0.3)

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
        shown = ("Temporal UI", "Temporal gRPC", "Postgres", "psql", "Redis", "SMTP")
        for key in (*shown, "Mail folder", "Stripe"):
            if key in self.summary:
                rows.append((key, self.summary[key]))
        rows.append(("Logs", str(self.logs)))
        rows.append(("Env", f"source {self.env_file}  (same settings in another shell)"))
        console.table("Online Cinema dev stack is up.  Ctrl-C stops everything.", rows)

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
