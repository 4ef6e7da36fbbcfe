"""Fixtures of the refund tests (imported by each module): the API and a worker that talk to
the Stripe emulator, on a task queue of their own, and a fresh buyer per test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from quart.typing import TestClientProtocol

from api.app import create_app
from domain.config import Settings
from domain.models import UserGroup
from tests.api.catalog_support import account, caller
from tests.conftest import Stack, StripeEmulator
from tests.refunds.support import EmulatorControl
from tests.support import bearer, login
from tests.workflows.support import user_id_of
from worker import build_activities, build_worker


@dataclass
class RefundEnv:
    settings: Settings
    api: TestClientProtocol
    emulator: EmulatorControl

    @asynccontextmanager
    async def api_with(self, stack: Stack, **overrides: Any) -> AsyncIterator[TestClientProtocol]:
        """Another API process-alike on the same queue, with some settings changed (with its
        own Temporal connection when `temporal_address` is one of them)."""
        settings = Settings.model_validate({**self.settings.model_dump(), **overrides})
        own_temporal = "temporal_address" in overrides
        app = create_app(settings, temporal_client=None if own_temporal else stack.client)
        async with app.test_app() as test_app:
            yield test_app.test_client()


@dataclass
class Buyer:
    email: str
    user_id: int
    headers: dict[str, str]


@pytest.fixture(scope="module")
async def refund_env(stack: Stack, stripe_emulator: StripeEmulator) -> AsyncIterator[RefundEnv]:
    settings = stack.with_overrides(
        stripe_api_base=stripe_emulator.url,
        stripe_api_key=stripe_emulator.api_key,
        stripe_webhook_secret=stripe_emulator.webhook_secret,
        temporal_task_queue=f"test-refund-{uuid.uuid4().hex[:8]}",
        refund_poll_interval_seconds=1,
        email_retry_max_interval_seconds=2,
    )
    emulator = EmulatorControl(stripe_emulator)
    worker = build_worker(stack.client, settings, build_activities(settings, stack.sessions))
    app = create_app(settings, temporal_client=stack.client)
    async with worker, app.test_app() as test_app:
        yield RefundEnv(settings=settings, api=test_app.test_client(), emulator=emulator)
    await emulator.aclose()


@pytest.fixture(scope="module")
async def moderator(client: TestClientProtocol, stack: Stack) -> dict[str, str]:
    return await caller(client, stack, UserGroup.MODERATOR)


async def new_buyer(client: TestClientProtocol, stack: Stack) -> Buyer:
    email = await account(client, stack, UserGroup.USER)
    headers = bearer((await login(client, email))["access_token"])
    return Buyer(email=email, user_id=await user_id_of(stack, email), headers=headers)


@pytest.fixture
async def buyer(client: TestClientProtocol, stack: Stack) -> Buyer:
    return await new_buyer(client, stack)
