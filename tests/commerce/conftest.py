"""The shop as a buyer meets it: the real API served over HTTP (Stripe's webhooks must reach
it), a worker with the same Stripe settings on a task queue of its own, and the session's Stripe
emulator, reset and pointed at this API for each test."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from hypercorn.asyncio import serve
from hypercorn.config import Config

from api.app import create_app
from devstack.ports import free_port
from tests.commerce.support import Shop
from tests.conftest import Stack, StripeEmulator
from worker import build_activities


@asynccontextmanager
async def open_shop(
    stack: Stack,
    emulator: StripeEmulator,
    *,
    replacements: Callable[[Any], list[Any]] | None = None,
    run_worker: bool = True,
    **overrides: object,
) -> AsyncIterator[Shop]:
    """Serve the API on a free port and run a worker, both with the emulator's Stripe settings.

    `replacements(settings)` may return the worker's activities instead of the real ones;
    with `run_worker=False` the test runs its workers itself (`shop.worker()`).
    """
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = stack.with_overrides(
        stripe_api_base=emulator.url,
        stripe_api_key=emulator.api_key,
        stripe_webhook_secret=emulator.webhook_secret,
        temporal_task_queue=f"test-shop-{uuid.uuid4().hex[:8]}",
        **overrides,
    )
    app = create_app(settings, temporal_client=stack.client)
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    config.errorlog = None
    stop = asyncio.Event()
    server = asyncio.create_task(serve(app, config, shutdown_trigger=stop.wait))
    activities = (
        replacements(settings)
        if replacements
        else build_activities(settings, stack.sessions, stack.client)
    )
    async with (
        httpx.AsyncClient(base_url=base, timeout=60) as http,
        httpx.AsyncClient(base_url=emulator.url, timeout=30) as emu,
    ):
        for _ in range(200):
            try:
                if (await http.get("/health/live")).status_code == 200:
                    break
            except httpx.TransportError:
                await asyncio.sleep(0.05)
        shop = Shop(stack, settings, base, http, emu, emulator)
        await shop.reset_emulator(webhook_url=f"{base}/payments/webhook/")
        worker = shop.worker(activities) if run_worker else contextlib.nullcontext()
        try:
            async with worker:
                yield shop
        finally:
            await shop.reset_emulator(webhook_url=None)  # no retries reach the next test
            stop.set()
            await server


@pytest.fixture
async def shop(stack: Stack, stripe_emulator: StripeEmulator) -> AsyncIterator[Shop]:
    async with open_shop(stack, stripe_emulator) as opened:
        yield opened
