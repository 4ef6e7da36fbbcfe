"""The scheduled clean-up deletes expired tokens of every kind and nothing else.

Rows are written and read with plain SQL on the tables the migration creates, so these tests do
not depend on where the ORM models or repositories live.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from quart.typing import TestClientProtocol
from sqlalchemy import text
from temporalio.client import ScheduleActionStartWorkflow, ScheduleIntervalSpec

from activities.maintenance import MaintenanceActivities
from domain.config import Settings
from tests.conftest import Stack
from tests.support import (
    activate_link,
    activation_link,
    link_query,
    login,
    new_email,
    register,
    wait_for_mail,
)
from tests.workflows.support import activity_name, maybe_record
from worker import build_activities
from workflows.cleanup import TokenCleanupWorkflow
from workflows.messages import CleanupInput, CleanupResult
from workflows.reconcile_messages import ReconcileInput
from workflows.schedules import (
    RECONCILE_NOTE,
    RECONCILE_SCHEDULE_ID,
    TOKEN_CLEANUP_NOTE,
    TOKEN_CLEANUP_SCHEDULE_ID,
    upsert_schedules,
)

LIVE, EXPIRED = "now() + interval '1 day'", "now() - interval '1 second'"


async def _insert_user(stack: Stack) -> int:
    async with stack.sessions() as session, session.begin():
        return int(
            (
                await session.execute(
                    text(
                        "INSERT INTO users (email, hashed_password, group_id) "
                        "SELECT :email, 'x', id FROM user_groups WHERE name = 'USER' RETURNING id"
                    ),
                    {"email": new_email("cleanup")},
                )
            ).scalar_one()
        )


async def _insert_one_time_token(stack: Stack, table: str, user_id: int, expires: str) -> str:
    token_hash = uuid.uuid4().hex * 2
    async with stack.sessions() as session, session.begin():
        await session.execute(
            text(
                f"INSERT INTO {table} (user_id, token_hash, expires_at) "
                f"VALUES (:user_id, :token_hash, {expires})"
            ),
            {"user_id": user_id, "token_hash": token_hash},
        )
    return token_hash


async def _insert_refresh_token(stack: Stack, user_id: int, expires: str) -> str:
    jti = str(uuid.uuid4())
    async with stack.sessions() as session, session.begin():
        await session.execute(
            text(
                "INSERT INTO refresh_tokens (jti, family_id, user_id, issued_at, expires_at) "
                f"VALUES (:jti, :jti, :user_id, now() - interval '1 day', {expires})"
            ),
            {"jti": jti, "user_id": user_id},
        )
    return jti


async def _column(stack: Stack, sql: str, **params: object) -> set[str]:
    async with stack.sessions() as session:
        return {str(v) for v in (await session.execute(text(sql), params)).scalars()}


async def _run_cleanup(
    stack: Stack, record_as: str | None = None, task: CleanupInput | None = None
) -> CleanupResult:
    handle = await stack.client.start_workflow(
        TokenCleanupWorkflow.run,
        task or CleanupInput(),
        id=f"cleanup-test-{uuid.uuid4().hex[:8]}",
        task_queue=stack.settings.temporal_task_queue,
    )
    result = await handle.result()
    if record_as:
        await maybe_record(handle, record_as)
    return result


@pytest.mark.usefixtures("worker")
async def test_cleanup_deletes_expired_tokens_of_each_kind_and_keeps_live_ones(
    stack: Stack,
) -> None:
    # One live activation / reset token per user: the live ones and the expired ones need
    # a user each.
    expired_owner, live_owner = await _insert_user(stack), await _insert_user(stack)
    one_time: dict[str, dict[str, str]] = {}
    for table in ("activation_tokens", "password_reset_tokens"):
        one_time[table] = {
            "expired": await _insert_one_time_token(stack, table, expired_owner, EXPIRED),
            "live": await _insert_one_time_token(stack, table, live_owner, LIVE),
        }
    refresh = {
        "expired": await _insert_refresh_token(stack, expired_owner, EXPIRED),
        "live": await _insert_refresh_token(stack, expired_owner, LIVE),
        "live-other-user": await _insert_refresh_token(stack, live_owner, LIVE),
    }

    result = await _run_cleanup(stack, record_as="token_cleanup")

    # The run deleted at least ours (other tests' expired tokens may go too).
    assert (
        min(result.refresh_tokens, result.activation_tokens, result.password_reset_tokens) >= 1
    ), result
    owners = {"owners": [expired_owner, live_owner]}
    for table, hashes in one_time.items():
        remaining = await _column(
            stack,
            f"SELECT token_hash FROM {table} WHERE user_id = ANY(:owners)",
            **owners,
        )
        assert remaining == {hashes["live"]}, table
    remaining_jtis = await _column(
        stack, "SELECT jti FROM refresh_tokens WHERE user_id = ANY(:owners)", **owners
    )
    assert remaining_jtis == {refresh["live"], refresh["live-other-user"]}


async def test_the_step_of_runs_begun_before_batches_still_cleans_up(stack: Stack) -> None:
    """A run the pre-batch code started (in flight at deploy) replays into its old single step,
    `delete_expired_tokens`, which the worker still registers: it deletes every expired token
    and keeps live ones (token_cleanup_v1.json is such a run's history)."""
    owner = await _insert_user(stack)
    expired = await _insert_one_time_token(stack, "activation_tokens", owner, EXPIRED)
    live = await _insert_refresh_token(stack, owner, LIVE)
    gone = await _insert_refresh_token(stack, owner, EXPIRED)
    registered = build_activities(stack.settings, stack.sessions)
    assert "delete_expired_tokens" in {activity_name(a) for a in registered}
    step = MaintenanceActivities(stack.sessions).delete_expired_tokens
    result = await step(CleanupInput())
    assert result.activation_tokens >= 1 and result.refresh_tokens >= 1
    tokens = await _column(
        stack, "SELECT token_hash FROM activation_tokens WHERE user_id = :u", u=owner
    )
    assert expired not in tokens
    jtis = await _column(stack, "SELECT jti FROM refresh_tokens WHERE user_id = :u", u=owner)
    assert jtis == {live} and gone not in jtis


@pytest.mark.usefixtures("worker")
async def test_cleanup_works_off_more_rows_than_a_batch_in_bounded_batches(stack: Stack) -> None:
    """7 expired refresh tokens with batches of 3: a run of 2 batches deletes exactly 6 (the
    budget bounds the run), the next run the rest; the live token always stays."""
    owner = await _insert_user(stack)
    async with stack.sessions() as session, session.begin():
        backlog = int(
            (
                await session.execute(
                    text("SELECT count(*) FROM refresh_tokens WHERE expires_at < now()")
                )
            ).scalar_one()
        )
    expired = {await _insert_refresh_token(stack, owner, EXPIRED) for _ in range(7)}
    live = await _insert_refresh_token(stack, owner, LIVE)
    total = backlog + len(expired)

    first = await _run_cleanup(stack, task=CleanupInput(batch_size=3, max_batches=2))
    assert first.refresh_tokens == min(6, total), first
    rest = await _run_cleanup(stack, task=CleanupInput(batch_size=3, max_batches=100))
    assert first.refresh_tokens + rest.refresh_tokens >= len(expired), rest

    remaining = await _column(stack, "SELECT jti FROM refresh_tokens WHERE user_id = :u", u=owner)
    assert remaining == {live}


@pytest.mark.usefixtures("worker")
async def test_live_activation_link_still_activates_after_the_cleanup(
    client: TestClientProtocol, stack: Stack
) -> None:
    email = new_email()
    await register(client, email)
    [mail] = await wait_for_mail(stack.mail, email, "Activate")
    link = activation_link(mail)

    await _run_cleanup(stack)

    stored = await _column(
        stack,
        "SELECT t.token_hash FROM activation_tokens t JOIN users u ON u.id = t.user_id "
        "WHERE u.email = :email",
        email=email,
    )
    assert len(stored) == 1, "the clean-up deleted the live activation token"
    assert link_query(link)["token"] not in stored  # only its hash is stored
    response = await activate_link(client, link)
    assert response.status_code == 200, await response.get_data(as_text=True)
    await login(client, email)


async def test_worker_start_upserts_the_schedule_under_the_given_id(stack: Stack) -> None:
    """Created at the first start, updated at the next; under an id of this test's own, so a
    developer's real `cleanup-expired-tokens` schedule on the same Temporal is never touched."""
    schedule_id = f"test-cleanup-schedule-{uuid.uuid4().hex[:8]}"
    queue = stack.settings.temporal_task_queue
    await upsert_schedules(stack.client, queue, 3600, cleanup_schedule_id=schedule_id)
    handle = stack.client.get_schedule_handle(schedule_id)
    try:
        await upsert_schedules(stack.client, queue, 600, cleanup_schedule_id=schedule_id)
        description = await handle.describe()
        assert description.schedule.spec.intervals == [
            ScheduleIntervalSpec(every=timedelta(minutes=10))
        ]
        action = description.schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow)
        assert (action.workflow, action.id, action.task_queue) == (
            "TokenCleanupWorkflow",
            schedule_id,
            queue,
        )
        assert description.schedule.state.note == TOKEN_CLEANUP_NOTE
        # A described schedule hands the summary back as its raw (JSON) payload.
        assert "Scheduled clean-up of expired tokens" in str(action.static_summary)
    finally:
        await handle.delete()


def test_the_worker_uses_the_documented_schedule_id_by_default() -> None:
    default = Settings.model_fields["token_cleanup_schedule_id"].default
    assert default == TOKEN_CLEANUP_SCHEDULE_ID == "cleanup-expired-tokens"


async def test_worker_start_upserts_both_schedules_with_their_notes(stack: Stack) -> None:
    """The worker's call creates the clean-up and the checkout reconciliation schedules (ids of
    this test's own), and a second call updates both."""
    suffix = uuid.uuid4().hex[:8]
    cleanup_id, reconcile_id = f"test-cleanup-{suffix}", f"test-reconcile-{suffix}"
    queue = stack.settings.temporal_task_queue
    handles = [stack.client.get_schedule_handle(i) for i in (cleanup_id, reconcile_id)]
    try:
        for interval in (900, 120):
            await upsert_schedules(
                stack.client,
                queue,
                3600,
                cleanup_schedule_id=cleanup_id,
                reconcile_schedule_id=reconcile_id,
                reconcile_interval_seconds=interval,
                reconcile_min_age_seconds=60,
                reconcile_batch_size=7,
            )
        cleanup, reconcile = [await h.describe() for h in handles]
        assert cleanup.schedule.state.note == TOKEN_CLEANUP_NOTE
        assert reconcile.schedule.state.note == RECONCILE_NOTE
        assert reconcile.schedule.spec.intervals == [
            ScheduleIntervalSpec(every=timedelta(minutes=2))
        ]
        action = reconcile.schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow)
        assert (action.workflow, action.id, action.task_queue) == (
            "CheckoutReconcileWorkflow",
            reconcile_id,
            queue,
        )
        assert "Scheduled reconciliation of open checkouts" in str(action.static_summary)
        [task] = await stack.client.data_converter.decode(action.args, [ReconcileInput])
        assert task == ReconcileInput(min_age_seconds=60, batch_size=7)
    finally:
        for handle in handles:
            await handle.delete()


def test_the_reconcile_schedule_settings_default_to_the_documented_values() -> None:
    fields = Settings.model_fields
    assert fields["reconcile_schedule_id"].default == RECONCILE_SCHEDULE_ID
    assert RECONCILE_SCHEDULE_ID == "reconcile-checkouts"
    assert fields["reconcile_interval_seconds"].default == 300
    assert fields["reconcile_min_age_seconds"].default == 600
    assert fields["reconcile_batch_size"].default == 100
