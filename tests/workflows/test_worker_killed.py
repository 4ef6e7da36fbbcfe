"""A worker process killed (SIGKILL) in the middle of sending the activation email."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

from sqlalchemy import text
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.service import RPCError

from tests.conftest import Stack, app_client
from tests.support import activate_link, activation_link, new_email, register, wait_for_mail
from worker import build_activities, build_worker
from workflows.ids import registration_workflow_id

ROOT = Path(__file__).resolve().parents[2]


async def _silent_smtp_server(connected: asyncio.Event) -> asyncio.Server:
    """Accepts connections and never answers: the SMTP conversation hangs."""

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connected.set()
        await reader.read()  # until the peer goes away
        writer.close()

    return await asyncio.start_server(hold, "127.0.0.1", 0)


async def _pending_user_and_token(stack: Stack, email: str) -> tuple[int, bool, int]:
    """(user id, is_active, live activation tokens) as Postgres holds them."""
    async with stack.sessions() as session:
        row = (
            await session.execute(
                text(
                    "SELECT u.id, u.is_active, count(t.id) FROM users u "
                    "LEFT JOIN activation_tokens t ON t.user_id = u.id AND t.expires_at > now() "
                    "WHERE u.email = :email GROUP BY u.id"
                ),
                {"email": email},
            )
        ).one()
    return int(row[0]), bool(row[1]), int(row[2])


async def test_sigkilled_worker_mid_send_email_still_arrives(stack: Stack, tmp_path: Path) -> None:
    queue = f"test-sigkill-{uuid.uuid4().hex[:6]}"
    connected = asyncio.Event()
    silent = await _silent_smtp_server(connected)
    silent_port = silent.sockets[0].getsockname()[1]
    s = stack.settings
    schedule_id = f"test-cleanup-schedule-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "ENVIRONMENT": "test",
        "DATABASE_URL": s.database_url,
        "REDIS_URL": s.redis_url,
        "TEMPORAL_ADDRESS": s.temporal_address,
        "TEMPORAL_TASK_QUEUE": queue,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(silent_port),
        "JWT_SECRET": s.jwt_secret.get_secret_value(),
        "STRIPE_API_KEY": s.stripe_api_key.get_secret_value(),
        "STRIPE_WEBHOOK_SECRET": s.stripe_webhook_secret.get_secret_value(),
        "PUBLIC_BASE_URL": s.public_base_url,
        # worker.py upserts the clean-up schedule: under an id of this test's own, never the
        # real one of a developer's Temporal (TEMPORAL_ADDRESS set).
        "TOKEN_CLEANUP_SCHEDULE_ID": schedule_id,
    }
    log = (tmp_path / "worker.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "worker.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    email = new_email()
    try:
        async with app_client(stack, temporal_task_queue=queue) as api:
            await register(api, email)
            # The worker process is now inside send_account_email, waiting on SMTP.
            await asyncio.wait_for(connected.wait(), timeout=60)
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
            silent.close()
            # The worker started under the configured schedule id.
            await stack.client.get_schedule_handle(schedule_id).describe()
            # Killed mid-send: the send is still a started, first attempt in Temporal, and the
            # account is waiting for its link in Postgres.
            user_id, is_active, live_tokens = await _pending_user_and_token(stack, email)
            assert (is_active, live_tokens) == (False, 1)
            handle = stack.client.get_workflow_handle(registration_workflow_id(user_id))
            pending = (await handle.describe()).raw_description.pending_activities
            assert [(p.activity_type.name, p.state, p.attempt) for p in pending] == [
                ("send_account_email", PendingActivityState.PENDING_ACTIVITY_STATE_STARTED, 1)
            ]

            settings = stack.with_overrides(temporal_task_queue=queue)
            async with build_worker(
                stack.client, settings, build_activities(settings, stack.sessions)
            ):
                # Noticed through the missing heartbeats (10 s), then retried here.
                [mail] = await wait_for_mail(stack.mail, email, "Activate", timeout=60)
                response = await activate_link(api, activation_link(mail))
                assert response.status_code == 200
    finally:
        if process.poll() is None:
            process.kill()
        log.close()
        await _delete_schedule(stack, schedule_id)


async def _delete_schedule(stack: Stack, schedule_id: str) -> None:
    with contextlib.suppress(RPCError):  # the worker died before creating it
        await stack.client.get_schedule_handle(schedule_id).delete()
