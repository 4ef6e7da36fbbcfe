"""The scheduled clean-up deletes expired tokens and nothing else."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from temporalio.client import ScheduleIntervalSpec

from domain.accounts import repository as repo
from domain.models import ActivationToken, RefreshToken
from tests.conftest import Stack
from tests.support import new_email
from workflows.cleanup import TokenCleanupWorkflow
from workflows.messages import CleanupInput
from workflows.schedules import TOKEN_CLEANUP_SCHEDULE_ID, upsert_schedules


@pytest.mark.usefixtures("worker")
async def test_cleanup_deletes_only_expired_tokens(stack: Stack) -> None:
    now = datetime.now(UTC)
    async with stack.sessions() as session, session.begin():
        user_id = await repo.insert_user_if_absent(session, new_email(), "x")
        assert user_id is not None
        expired, live = str(uuid.uuid4()), str(uuid.uuid4())
        for jti, expires in (
            (expired, now - timedelta(minutes=1)),
            (live, now + timedelta(days=1)),
        ):
            await repo.insert_refresh_token(
                session, jti=jti, family_id=jti, user_id=user_id, issued_at=now, expires_at=expires
            )
        await repo.store_activation_token(
            session, user_id, uuid.uuid4().hex * 2, now - timedelta(seconds=1)
        )

    result = await stack.client.execute_workflow(
        TokenCleanupWorkflow.run,
        CleanupInput(),
        id=f"cleanup-test-{uuid.uuid4().hex[:6]}",
        task_queue=stack.settings.temporal_task_queue,
    )
    assert result.refresh_tokens >= 1 and result.activation_tokens >= 1
    async with stack.sessions() as session:
        jtis = set(
            (
                await session.execute(
                    select(RefreshToken.jti).where(RefreshToken.user_id == user_id)
                )
            ).scalars()
        )
        tokens = (
            await session.execute(select(ActivationToken).where(ActivationToken.user_id == user_id))
        ).all()
    assert jtis == {live}
    assert tokens == []


async def test_worker_start_upserts_the_schedule(stack: Stack) -> None:
    await upsert_schedules(stack.client, stack.settings.temporal_task_queue, 3600)
    await upsert_schedules(stack.client, stack.settings.temporal_task_queue, 600)  # second start
    handle = stack.client.get_schedule_handle(TOKEN_CLEANUP_SCHEDULE_ID)
    try:
        description = await handle.describe()
        assert description.schedule.spec.intervals == [
            ScheduleIntervalSpec(every=timedelta(minutes=10))
        ]
    finally:
        await handle.delete()
