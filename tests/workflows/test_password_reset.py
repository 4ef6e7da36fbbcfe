"""PasswordResetWorkflow against real Temporal, Postgres and SMTP: outcomes, expiry by its
timer, what an operator sees (status, summary, UserId), and a history free of secrets."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError

from domain.models import PasswordResetToken
from tests.api.reset_support import NEW_PASSWORD, complete, request_reset, reset_links
from tests.conftest import Stack, app_client
from tests.support import PASSWORD, follow_link, link_query, login, new_email, register_and_activate
from tests.workflows.support import eventually, history_text, maybe_record, user_id_of
from workflows.ids import USER_ID, password_reset_workflow_id
from workflows.password_reset import PasswordResetWorkflow
from workflows.password_reset_messages import CompleteResetRequest, PasswordResetResult


async def _handle(stack: Stack, email: str) -> WorkflowHandle[Any, PasswordResetResult]:
    workflow_id = password_reset_workflow_id(await user_id_of(stack, email))
    return stack.client.get_workflow_handle_for(PasswordResetWorkflow.run, workflow_id)


async def _reset_tokens(stack: Stack, user_id: int) -> int:
    async with stack.sessions() as session:
        stmt = select(func.count()).where(PasswordResetToken.user_id == user_id)
        return int((await session.execute(stmt)).scalar_one())


async def test_completed_reset_is_readable_and_keeps_secrets_out_of_history(
    client: Any, stack: Stack
) -> None:
    email = new_email("history")
    await register_and_activate(client, stack.mail, email)
    assert (await request_reset(client, email)).status_code == 202
    [first] = await reset_links(stack, email)
    assert (
        await request_reset(client, email)
    ).status_code == 202  # supersedes the first link within the same run
    _, link = await reset_links(stack, email, count=2)
    handle = await _handle(stack, email)

    async def second_link_out() -> bool:
        # The mail reaches the sink before the activity's result reaches the run.
        status = await handle.query(PasswordResetWorkflow.status)
        return (status.state, status.reset_emails_sent, status.requests) == ("awaiting_reset", 2, 2)

    await eventually(second_link_out, timeout=10, what="the run to note the second link as sent")
    description = await handle.describe()
    assert description.typed_search_attributes.get(USER_ID) == await user_id_of(stack, email)
    assert await description.static_summary() == (
        f"Password reset of user {await user_id_of(stack, email)}"
    )

    assert (await follow_link(client, first, password=NEW_PASSWORD)).status_code == 400
    assert (await follow_link(client, link, password=NEW_PASSWORD)).status_code == 200
    result = await asyncio.wait_for(handle.result(), timeout=30)
    assert result.outcome == "completed"
    assert (await handle.query(PasswordResetWorkflow.status)).state == "completed"

    text = history_text(await handle.fetch_history())
    secrets = [email, email.split("@")[0], PASSWORD, NEW_PASSWORD]
    secrets += [link_query(first)["token"], link_query(link)["token"]]
    for secret in secrets:
        assert secret not in text
    await maybe_record(handle, "password_reset_superseded_then_completed")


@pytest.mark.usefixtures("worker")
async def test_the_link_expires_by_the_workflow_timer(stack: Stack) -> None:
    email = new_email("expiry")
    async with app_client(stack, password_reset_token_ttl_seconds=2) as api:
        await register_and_activate(api, stack.mail, email)
        assert (await request_reset(api, email)).status_code == 202
        [link] = await reset_links(stack, email)
        handle = await _handle(stack, email)
        result = await asyncio.wait_for(handle.result(), timeout=30)
        assert result.outcome == "expired"
        assert await _reset_tokens(stack, await user_id_of(stack, email)) == 0
        late = await complete(api, email, link_query(link)["token"])
        assert late.status_code == 400
        assert (await late.get_json())["error"] == "invalid_reset_token"
        await login(api, email)  # the password is unchanged
        await maybe_record(handle, "password_reset_expired")

    # After expiry a new request starts a new run with a fresh link that works (a link that
    # lives long enough to be followed on a busy machine: the 2 s above are for the expiry).
    async with app_client(stack, password_reset_token_ttl_seconds=600) as api:
        assert (await request_reset(api, email)).status_code == 202
        _, fresh = await reset_links(stack, email, count=2)

        async def awaiting() -> bool:
            state = (await handle.query(PasswordResetWorkflow.status)).state
            return bool(state == "awaiting_reset")

        handle = await _handle(stack, email)  # the latest run
        await eventually(awaiting, what="the new run awaits the reset")
        assert (await follow_link(api, fresh, password=NEW_PASSWORD)).status_code == 200
        await login(api, email, NEW_PASSWORD)


@pytest.mark.usefixtures("worker")
async def test_a_wrong_token_hash_is_refused_without_a_trace(client: Any, stack: Stack) -> None:
    """Even past the API's check (e.g. a link superseded meanwhile), the run refuses any hash
    but its current token's before anything is written: no update in history, no activity, and
    the right link still works."""
    email = new_email("trace")
    await register_and_activate(client, stack.mail, email)
    assert (await request_reset(client, email)).status_code == 202
    [link] = await reset_links(stack, email)
    handle = await _handle(stack, email)
    wrong = CompleteResetRequest(token_hash="0" * 64, password_hash="$argon2id$v=19$m=8,t=1,p=1$x")
    with pytest.raises(WorkflowUpdateFailedError):
        await handle.execute_update("complete", wrong)
    events = [e.event_type for e in (await handle.fetch_history()).events]
    assert EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED not in events
    assert (await follow_link(client, link, password=NEW_PASSWORD)).status_code == 200
