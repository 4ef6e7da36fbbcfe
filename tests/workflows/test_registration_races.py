"""RegistrationWorkflow when the activation timer fires in the middle of something else.

Each test forces one interleaving with a real activity wrapped under its own name, so the
moment the timer fires is no accident of scheduling.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from temporalio import activity
from temporalio.worker import Worker

from domain.email.render import SUBJECTS
from domain.models import ActivationToken, User
from tests.conftest import Stack, app_client
from tests.support import activate_link, activation_link, new_email, register, wait_for_mail
from tests.workflows.support import (
    activities_replacing,
    eventually,
    maybe_record,
    registration_handle,
    user_id_of,
)
from worker import WORKFLOWS
from workflows.messages import ActivateAccount, ActivateAccountResult, InvalidateActivationToken
from workflows.registration import RegistrationWorkflow

ACTIVATE_SUBJECT = SUBJECTS["activation"]
CONFIRMATION_SUBJECT = SUBJECTS["activation_confirmation"]


async def test_activation_accepted_just_before_expiry_wins_over_the_timer(stack: Stack) -> None:
    """The update is accepted and commits in Postgres; the timer fires before the run hears
    back. The user was told "activated", so the run must end activated and confirm by email."""
    queue = f"test-race-activate-{uuid.uuid4().hex[:6]}"
    settings = stack.with_overrides(temporal_task_queue=queue)
    committed, release = asyncio.Event(), asyncio.Event()

    @activity.defn(name="activate_account")
    async def activate_then_stall(data: ActivateAccount) -> ActivateAccountResult:
        result: ActivateAccountResult = await real["activate_account"](data)
        committed.set()
        await release.wait()  # the answer reaches the run only after its timer has fired
        return result

    activities, real = activities_replacing(stack, settings, activate_then_stall)
    email = new_email()
    async with (
        app_client(stack, temporal_task_queue=queue, activation_token_ttl_seconds=12) as api,
        Worker(stack.client, task_queue=queue, workflows=list(WORKFLOWS), activities=activities),
    ):
        await register(api, email)
        [mail] = await wait_for_mail(stack.mail, email, ACTIVATE_SUBJECT)
        handle = await registration_handle(stack, email)
        answer = asyncio.create_task(activate_link(api, activation_link(mail)))
        # The link is followed well within the TTL (12 s: room for a loaded machine), so the
        # update is accepted and its activity commits before the timer fires.
        await asyncio.wait_for(committed.wait(), timeout=12)

        async def timer_fired() -> bool:
            state = (await handle.query(RegistrationWorkflow.status)).state
            return state in ("expiring", "expired")

        await eventually(timer_fired, what="the activation timer to fire")
        release.set()
        response = await asyncio.wait_for(answer, timeout=30)
        assert response.status_code == 200, await response.get_data(as_text=True)

        result = await asyncio.wait_for(handle.result(), timeout=30)
        assert result.outcome == "activated"
        assert (await handle.query(RegistrationWorkflow.status)).state == "activated"
        await wait_for_mail(stack.mail, email, CONFIRMATION_SUBJECT)
        async with stack.sessions() as session:
            user = (await session.execute(select(User).where(User.email == email))).scalar_one()
        assert user.is_active
        await maybe_record(handle, "registration_activation_raced_expiry")


async def test_resend_while_expiring_issues_a_fresh_link(stack: Stack) -> None:
    """A resend accepted (202) while the run invalidates the expired token is not lost: the
    same run issues a new token, emails it, and the new link activates the account."""
    queue = f"test-race-resend-{uuid.uuid4().hex[:6]}"
    settings = stack.with_overrides(temporal_task_queue=queue)
    expiring, release = asyncio.Event(), asyncio.Event()

    @activity.defn(name="invalidate_activation_token")
    async def invalidate_slowly(data: InvalidateActivationToken) -> None:
        expiring.set()
        await release.wait()
        await real["invalidate_activation_token"](data)

    activities, real = activities_replacing(stack, settings, invalidate_slowly)
    email = new_email()
    async with (
        app_client(stack, temporal_task_queue=queue, activation_token_ttl_seconds=12) as api,
        Worker(stack.client, task_queue=queue, workflows=list(WORKFLOWS), activities=activities),
    ):
        await register(api, email)
        await wait_for_mail(stack.mail, email, ACTIVATE_SUBJECT)
        handle = await registration_handle(stack, email)
        run_id = (await handle.describe()).run_id
        await asyncio.wait_for(expiring.wait(), timeout=30)

        response = await api.post("/accounts/resend-activation/", json={"email": email})
        assert response.status_code == 202

        async def resend_recorded() -> bool:
            return (await handle.query(RegistrationWorkflow.status)).resend_requests == 1

        await eventually(resend_recorded, what="the run to record the resend")
        release.set()

        _, fresh = await wait_for_mail(stack.mail, email, ACTIVATE_SUBJECT, count=2)
        async with stack.sessions() as session:
            token = (
                await session.execute(
                    select(ActivationToken).where(
                        ActivationToken.user_id == await user_id_of(stack, email)
                    )
                )
            ).scalar_one()
        assert token.expires_at > datetime.now(UTC) - timedelta(seconds=1)
        response = await activate_link(api, activation_link(fresh))
        assert response.status_code == 200, await response.get_data(as_text=True)
        result = await asyncio.wait_for(handle.result(), timeout=30)
        assert result.outcome == "activated"
        assert (await handle.describe()).run_id == run_id
        status = await handle.query(RegistrationWorkflow.status)
        assert (status.activation_emails_sent, status.resend_requests) == (2, 1)
        await maybe_record(handle, "registration_resent_while_expiring")
