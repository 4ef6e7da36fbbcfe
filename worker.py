"""`python worker.py`: build dependencies once, connect to Temporal, run until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import py_compile
import signal
import sys
import tempfile
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import uvloop
from temporalio.client import Client
from temporalio.worker import Worker

import workflows
from activities.accounts import AccountActivities
from activities.maintenance import MaintenanceActivities
from activities.password_reset import PasswordResetActivities
from activities.payments import PaymentActivities
from activities.reconcile import ReconcileActivities
from activities.refunds import RefundActivities
from api.temporal import Temporal
from domain import ast_lock
from domain.config import Settings
from domain.db import create_engine, create_session_factory
from domain.email.mailer import Mailer
from domain.email.render import EmailRenderer
from domain.redis_store import create_redis
from domain.security import OneTimeTokens
from domain.stripe import StripeGateway
from worker_sandbox import Sandbox
from workflows.checkout import CheckoutWorkflow
from workflows.cleanup import TokenCleanupWorkflow
from workflows.password_reset import PasswordResetWorkflow
from workflows.reconcile import CheckoutReconcileWorkflow
from workflows.refund import RefundWorkflow
from workflows.registration import AccountNoticeWorkflow, RegistrationWorkflow
from workflows.schedules import upsert_schedules

log = logging.getLogger("cinema.worker")

WORKFLOWS: Sequence[type] = (
    RegistrationWorkflow,
    AccountNoticeWorkflow,
    TokenCleanupWorkflow,
    RefundWorkflow,
    CheckoutWorkflow,
    PasswordResetWorkflow,
    CheckoutReconcileWorkflow,
)


def build_activities(
    settings: Settings,
    sessions: Any,
    client: Client | None = None,
    gateway: StripeGateway | None = None,
    mailer: Mailer | None = None,
) -> list[Any]:
    """Every activity with its dependencies. `client` is the worker's Temporal client: the
    reconciliation hands events to checkout runs through it (without one, the same generic
    helper the API uses connects on first use). `gateway` and `mailer`: the Stripe gateway and
    the mailer to share, which their owner closes (default: new ones)."""
    # One gateway, mailer and renderer serve every activity class (one HTTP pool, one set of
    # SMTP connections).
    gateway, mailer = gateway or StripeGateway(settings), mailer or Mailer(settings)
    renderer = EmailRenderer(settings.public_base_url)
    account = AccountActivities(
        sessions=sessions,
        mailer=mailer,
        renderer=renderer,
        one_time_tokens=OneTimeTokens(settings),
        email_from=settings.email_from,
    )
    refunds = RefundActivities(
        sessions=sessions,
        gateway=gateway,
        mailer=mailer,
        renderer=renderer,
        email_from=settings.email_from,
    )
    payments = PaymentActivities(
        sessions=sessions,
        gateway=gateway,
        mailer=mailer,
        renderer=renderer,
        settings=settings,
    )
    return [
        *account.all(),
        *PasswordResetActivities(
            sessions,
            OneTimeTokens(settings),
            # Ends the sessions of a reset user in the API's deny-list (a lazy client: it
            # connects on the first reset).
            create_redis(settings.redis_url),
            settings.access_token_ttl_seconds,
        ).all(),
        *MaintenanceActivities(sessions).all(),
        *payments.all(),
        *refunds.all(),
        *ReconcileActivities(sessions, gateway, Temporal(settings, client), settings).all(),
    ]


def cache_workflow_bytecode(cache_dir: Path) -> None:
    """The workflow sandbox imports a workflow's module afresh for every run it starts. With no
    bytecode on disk (PYTHONDONTWRITEBYTECODE, as in our image and on CI machines) each import
    compiles the source again, which under checkout load cost the worker more than running the
    module. So the workflow modules are compiled once, into `cache_dir`, which Python then
    reads them from (`sys.pycache_prefix`). Nothing to do where Python caches bytecode itself."""
    if not sys.dont_write_bytecode:
        return
    sys.pycache_prefix = str(cache_dir)
    for source in sorted(Path(workflows.__file__).parent.glob("*.py")):
        cached = importlib.util.cache_from_source(str(source))
        py_compile.compile(str(source), cfile=cached, doraise=True)


def build_worker(client: Client, settings: Settings, activities: list[Any]) -> Worker:
    return Worker(
        client,
        task_queue=settings.temporal_task_queue,
        workflows=list(WORKFLOWS),
        activities=activities,
        workflow_runner=Sandbox(),
        graceful_shutdown_timeout=timedelta(seconds=20),
    )


async def run(settings: Settings) -> None:
    with tempfile.TemporaryDirectory(prefix="cinema-worker-bytecode-") as bytecode:
        cache_workflow_bytecode(Path(bytecode))
        await _run(settings)


async def _run(settings: Settings) -> None:
    engine = create_engine(settings)
    sessions = create_session_factory(engine)
    client = await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace)
    gateway, mailer = StripeGateway(settings), Mailer(settings)
    worker = build_worker(
        client, settings, build_activities(settings, sessions, client, gateway, mailer)
    )
    await upsert_schedules(
        client,
        settings.temporal_task_queue,
        settings.token_cleanup_interval_seconds,
        cleanup_schedule_id=settings.token_cleanup_schedule_id,
        cleanup_batch_size=settings.token_cleanup_batch_size,
        reconcile_schedule_id=settings.reconcile_schedule_id,
        reconcile_interval_seconds=settings.reconcile_interval_seconds,
        reconcile_min_age_seconds=settings.reconcile_min_age_seconds,
        reconcile_batch_size=settings.reconcile_batch_size,
    )

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    log.info(
        "worker polling task queue %r on %s (namespace %s)",
        settings.temporal_task_queue,
        settings.temporal_address,
        settings.temporal_namespace,
    )
    async with worker:
        await stop.wait()
        log.info("shutting down: finishing in-flight activities (up to 20 s)")
    await gateway.close()
    await mailer.close()
    await engine.dispose()
    log.info("worker stopped")


def main() -> None:
    ast_lock.install()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    uvloop.run(run(Settings()))  # libuv loop: less CPU per task (docs/benchmarks.md)


if __name__ == "__main__":
    main()
