"""RegistrationWorkflow against real Temporal, Postgres and SMTP, including faults."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus
from temporalio.worker import Worker

from domain.models import ActivationToken
from tests.conftest import Stack, app_client
from tests.support import (
    PASSWORD,
    activate_link,
    activation_link,
    link_query,
    new_email,
    register,
    wait_for_mail,
)
from tests.workflows.support import (
    activities_replacing,
    eventually,
    history_text,
    maybe_record,
    pending_activities,
    registration_handle,
    user_id_of,
)
from worker import WORKFLOWS, build_activities, build_worker
from workflows.ids import registration_workflow_id
from workflows.messages import SendAccountEmail
from workflows.registration import RegistrationWorkflow


async def test_email_is_delivered_when_a_worker_comes_back(stack: Stack) -> None:
    """The user is created while no worker runs (killed after "user created"): after a worker
    starts, the activation email still goes out."""
    queue = f"test-dead-{uuid.uuid4().hex[:6]}"
    email = new_email()
    async with app_client(stack, temporal_task_queue=queue) as api:
        await register(api, email)
    # No worker has picked the run up: it exists, no step has run, no token was issued.
    handle = await registration_handle(stack, email)
    assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
    events = [event.event_type for event in (await handle.fetch_history()).events]
    assert events == [
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
        EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
    ]
    assert await _activation_tokens(stack, email) == 0
    settings = stack.with_overrides(temporal_task_queue=queue)
    async with build_worker(stack.client, settings, build_activities(settings, stack.sessions)):
        [mail] = await wait_for_mail(stack.mail, email, "Activate")
    assert link_query(activation_link(mail))["email"] == email


async def test_worker_stopped_mid_send_still_delivers_once_restarted(stack: Stack) -> None:
    queue = f"test-kill-{uuid.uuid4().hex[:6]}"
    settings = stack.with_overrides(temporal_task_queue=queue)
    started = asyncio.Event()

    @activity.defn(name="send_account_email")
    async def hanging_send(data: SendAccountEmail) -> None:
        started.set()
        await asyncio.Event().wait()  # the SMTP conversation never finishes

    # The same activities, but sending hangs: registered under the real activity's name.
    activities, _ = activities_replacing(stack, settings, hanging_send)
    email = new_email()
    doomed = Worker(
        stack.client,
        task_queue=queue,
        workflows=list(WORKFLOWS),
        activities=activities,
        graceful_shutdown_timeout=timedelta(seconds=0),
    )
    async with app_client(stack, temporal_task_queue=queue) as api:
        async with doomed:
            await register(api, email)
            await asyncio.wait_for(started.wait(), timeout=30)
        # The worker is gone mid-send: the send is still pending, to be retried.
        [pending] = await pending_activities(await registration_handle(stack, email))
        assert pending.activity_type.name == "send_account_email"
        async with build_worker(stack.client, settings, build_activities(settings, stack.sessions)):
            [mail] = await wait_for_mail(stack.mail, email, "Activate")
            response = await activate_link(api, activation_link(mail))
            assert response.status_code == 200


@pytest.mark.usefixtures("worker")
async def test_smtp_down_for_a_while_delays_but_does_not_lose_email(stack: Stack) -> None:
    email = new_email()
    async with app_client(stack, email_retry_max_interval_seconds=2) as api:
        stack.mail.stop()
        try:
            await register(api, email)
            handle = await registration_handle(stack, email)

            async def failed_twice() -> bool:
                pending = await pending_activities(handle)
                return any(
                    p.activity_type.name == "send_account_email"
                    and p.attempt >= 3
                    and p.last_failure.application_failure_info.type == "SMTPDeliveryFailed"
                    for p in pending
                )

            await eventually(failed_twice, what="two failed delivery attempts")
        finally:
            stack.mail.start()
        [mail] = await wait_for_mail(stack.mail, email, "Activate", timeout=30)
        assert (await activate_link(api, activation_link(mail))).status_code == 200
    # The failed attempts are in the history, by error type only: no recipient address.
    history = history_text(await handle.fetch_history())
    assert "SMTPDeliveryFailed" in history
    assert email not in history


@pytest.mark.usefixtures("worker")
async def test_activation_after_ttl_fails_cleanly(stack: Stack) -> None:
    email = new_email()
    async with app_client(stack, activation_token_ttl_seconds=2) as api:
        await register(api, email)
        [mail] = await wait_for_mail(stack.mail, email, "Activate")
        handle = await registration_handle(stack, email)
        result = await asyncio.wait_for(handle.result(), timeout=30)
        assert result.outcome == "expired"
        result_run_id = (await handle.describe()).run_id
        await maybe_record(handle, "registration_expired")
        status = await handle.query(RegistrationWorkflow.status)
        assert status.state == "expired"

        response = await activate_link(api, activation_link(mail))
        assert response.status_code == 400
        assert (await response.get_json())["error"] == "invalid_activation_token"
        async with stack.sessions() as session:
            tokens = (
                await session.execute(
                    select(ActivationToken).where(
                        ActivationToken.user_id == await user_id_of(stack, email)
                    )
                )
            ).all()
        assert tokens == []
        response = await api.post("/accounts/login/", json={"email": email, "password": PASSWORD})
        assert response.status_code == 403

    # Resend after the run ended starts a new run (with this API's normal TTL), whose link works.
    async with app_client(stack) as api:
        response = await api.post("/accounts/resend-activation/", json={"email": email})
        assert response.status_code == 202
        mails = await wait_for_mail(stack.mail, email, "Activate", count=2)
        assert (await activate_link(api, activation_link(mails[-1]))).status_code == 200
        assert (await handle.describe()).run_id != result_run_id


@pytest.mark.usefixtures("worker")
async def test_resend_delivers_a_fresh_token_to_the_same_run(stack: Stack) -> None:
    email = new_email()
    async with app_client(stack) as api:
        await register(api, email)
        [first] = await wait_for_mail(stack.mail, email, "Activate")
        handle = await registration_handle(stack, email)
        run_before = (await handle.describe()).run_id

        response = await api.post("/accounts/resend-activation/", json={"email": email})
        assert response.status_code == 202
        _, second = await wait_for_mail(stack.mail, email, "Activate", count=2)
        assert (
            link_query(activation_link(first))["token"]
            != link_query(activation_link(second))["token"]
        )
        assert (await handle.describe()).run_id == run_before

        # The older link died when the new one was issued.
        assert (await activate_link(api, activation_link(first))).status_code == 400
        assert (await activate_link(api, activation_link(second))).status_code == 200
        result = await asyncio.wait_for(handle.result(), timeout=30)
        assert result.outcome == "activated"
        status = await handle.query(RegistrationWorkflow.status)
        assert (status.state, status.activation_emails_sent, status.resend_requests) == (
            "activated",
            2,
            1,
        )
        await maybe_record(handle, "registration_resent_then_activated")


@pytest.mark.usefixtures("worker")
async def test_history_holds_no_email_token_or_password(stack: Stack) -> None:
    email = new_email("private")
    async with app_client(stack) as api:
        await register(api, email)
        [mail] = await wait_for_mail(stack.mail, email, "Activate")
        token = link_query(activation_link(mail))["token"]
        assert (await activate_link(api, activation_link(mail))).status_code == 200
    handle = await registration_handle(stack, email)
    await asyncio.wait_for(handle.result(), timeout=30)
    text = history_text(await handle.fetch_history())
    user_id = await user_id_of(stack, email)
    # The search runs over decoded payloads: the workflow's input is readable in it.
    assert f'"user_id":{user_id}' in text.replace(" ", "")
    assert email not in text and email.split("@")[0] not in text
    assert token not in text
    assert PASSWORD not in text
    desc = await handle.describe()
    assert desc.id == registration_workflow_id(user_id)
    assert desc.status == WorkflowExecutionStatus.COMPLETED
    await maybe_record(handle, "registration_activated")


async def _activation_tokens(stack: Stack, email: str) -> int:
    user_id = await user_id_of(stack, email)
    async with stack.sessions() as session:
        rows = await session.execute(
            select(ActivationToken.id).where(ActivationToken.user_id == user_id)
        )
        return len(rows.all())
