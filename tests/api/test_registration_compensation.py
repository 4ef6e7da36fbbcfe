"""A registration whose workflow start fails: the account is removed only when no run exists.

Faults are injected at the network boundary by a Temporal client interceptor; the server,
worker, database and mail are real.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from quart.typing import TestClientProtocol
from sqlalchemy import text
from temporalio.client import (
    Client,
    DescribeWorkflowInput,
    Interceptor,
    OutboundInterceptor,
    StartWorkflowInput,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowHandle,
)
from temporalio.service import RPCError, RPCStatusCode

from api.app import create_app
from tests.conftest import Stack
from tests.support import PASSWORD, activate_link, activation_link, new_email, wait_for_mail


@dataclass
class StartFault(Interceptor):
    """Fails every start of a registration workflow with an RPC error.

    after_start: the start reaches the server (the run exists) and then the answer is lost,
    as when the deadline passes after the server acted. Otherwise it never leaves the process.
    describe_unavailable: Temporal cannot be asked afterwards either.
    """

    after_start: bool
    describe_unavailable: bool = False
    failed_starts: list[str] = field(default_factory=list)

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _FaultyOutbound(next, self)


class _FaultyOutbound(OutboundInterceptor):
    def __init__(self, next: OutboundInterceptor, fault: StartFault) -> None:
        super().__init__(next)
        self.fault = fault

    async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle[Any, Any]:
        if not input.id.startswith("registration:"):
            return await self.next.start_workflow(input)
        self.fault.failed_starts.append(input.id)
        if self.fault.after_start:
            await self.next.start_workflow(input)
            raise RPCError("injected: deadline passed", RPCStatusCode.DEADLINE_EXCEEDED, b"")
        raise RPCError("injected: no connection", RPCStatusCode.UNAVAILABLE, b"")

    async def describe_workflow(self, input: DescribeWorkflowInput) -> WorkflowExecutionDescription:
        if self.fault.describe_unavailable:
            raise RPCError("injected: no connection", RPCStatusCode.UNAVAILABLE, b"")
        return await self.next.describe_workflow(input)


@asynccontextmanager
async def api_with(stack: Stack, fault: StartFault) -> AsyncIterator[TestClientProtocol]:
    """The API, talking to the real Temporal server through the faulty interceptor."""
    config = stack.client.config()
    config["interceptors"] = [fault]
    app = create_app(stack.settings, temporal_client=Client(**config))
    async with app.test_app() as test_app:
        yield test_app.test_client()


async def user_row(stack: Stack, email: str) -> tuple[int, bool] | None:
    async with stack.sessions() as session:
        row = (
            await session.execute(
                text("SELECT id, is_active FROM users WHERE email = :email"), {"email": email}
            )
        ).first()
    return None if row is None else (row.id, row.is_active)


async def registration_run(stack: Stack, workflow_id: str) -> WorkflowExecutionStatus | None:
    try:
        return (await stack.client.get_workflow_handle(workflow_id).describe()).status
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise


async def activate_from_mail(client: TestClientProtocol, stack: Stack, email: str) -> None:
    [mail] = await wait_for_mail(stack.mail, email, "Activate")
    response = await activate_link(client, activation_link(mail))
    assert response.status_code == 200, await response.get_data(as_text=True)


async def register(api: TestClientProtocol, email: str) -> Any:
    return await api.post("/accounts/register/", json={"email": email, "password": PASSWORD})


@pytest.mark.usefixtures("worker")
async def test_start_that_timed_out_after_the_server_started_it_keeps_the_account(
    client: TestClientProtocol, stack: Stack
) -> None:
    email = new_email()
    fault = StartFault(after_start=True)
    async with api_with(stack, fault) as api:
        response = await register(api, email)
    assert response.status_code == 202, await response.get_data(as_text=True)
    row = await user_row(stack, email)
    assert row is not None
    user_id, _ = row
    assert fault.failed_starts == [f"registration:{user_id}"]  # the fault did strike
    await activate_from_mail(client, stack, email)
    assert await user_row(stack, email) == (user_id, True)


@pytest.mark.usefixtures("worker")
async def test_start_that_never_reached_the_server_removes_the_account(
    client: TestClientProtocol, stack: Stack
) -> None:
    email = new_email()
    fault = StartFault(after_start=False)
    async with api_with(stack, fault) as api:
        response = await register(api, email)
    assert response.status_code == 503
    assert (await response.get_json())["error"] == "service_unavailable"
    assert response.headers["Retry-After"] == "5"
    [workflow_id] = fault.failed_starts
    assert await registration_run(stack, workflow_id) is None  # Temporal has no such run...
    assert await user_row(stack, email) is None  # ...so no account was left behind

    # The email is free again: registering works end to end.
    assert (await register(client, email)).status_code == 202
    await activate_from_mail(client, stack, email)
    row = await user_row(stack, email)
    assert row is not None and row[1] is True
    assert f"registration:{row[0]}" != workflow_id


@pytest.mark.usefixtures("worker")
async def test_when_temporal_cannot_tell_the_account_stays_and_resend_recovers_it(
    client: TestClientProtocol, stack: Stack
) -> None:
    email = new_email()
    fault = StartFault(after_start=False, describe_unavailable=True)
    async with api_with(stack, fault) as api:
        response = await register(api, email)
    assert response.status_code == 503
    [workflow_id] = fault.failed_starts
    assert await registration_run(stack, workflow_id) is None
    row = await user_row(stack, email)
    assert row is not None and f"registration:{row[0]}" == workflow_id
    assert row[1] is False

    # The account is not lost: asking for the link again starts the registration.
    response = await client.post("/accounts/resend-activation/", json={"email": email})
    assert response.status_code == 202
    await activate_from_mail(client, stack, email)
    assert await user_row(stack, email) == (row[0], True)
    assert await registration_run(stack, workflow_id) is not None


@pytest.mark.usefixtures("worker")
async def test_registering_again_with_the_same_password_resumes_a_kept_account(
    client: TestClientProtocol, stack: Stack
) -> None:
    """What a user does after a 503 is register again: with the first password, they get the
    activation link; with another password, the pending account is not theirs to take."""
    email = new_email()
    fault = StartFault(after_start=False, describe_unavailable=True)
    async with api_with(stack, fault) as api:
        assert (await register(api, email)).status_code == 503
    row = await user_row(stack, email)
    assert row is not None and row[1] is False

    other = await client.post(
        "/accounts/register/", json={"email": email, "password": "An0ther$ecret"}
    )
    assert other.status_code == 202
    await wait_for_mail(stack.mail, email, "Someone tried to register")
    assert await registration_run(stack, f"registration:{row[0]}") is None  # no link for them

    assert (await register(client, email)).status_code == 202
    await activate_from_mail(client, stack, email)
    assert await user_row(stack, email) == (row[0], True)
    login = await client.post("/accounts/login/", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200
