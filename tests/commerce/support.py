"""Helpers for the commerce tests: buyers, movies, pending orders (made in SQL until the orders
endpoint is merged), and reading what the buyer, Stripe and the database see."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
from quart.typing import TestClientProtocol
from sqlalchemy import select, text
from temporalio.worker import Worker

from domain.config import Settings
from domain.models import Order, UserGroup
from tests.api.catalog_support import account, create_movie
from tests.conftest import Stack, StripeEmulator
from tests.support import bearer, login
from worker import WORKFLOWS, build_activities
from worker_sandbox import Sandbox

GOOD_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"


@dataclass
class Buyer:
    id: int
    email: str
    headers: dict[str, str]


@dataclass
class Shop:
    stack: Stack
    settings: Settings
    url: str
    http: httpx.AsyncClient  # the API, over HTTP
    emu: httpx.AsyncClient  # the Stripe emulator (/v1 and /_emulator)
    emulator: StripeEmulator

    def worker(self, activities: list[Any] | None = None) -> Worker:
        """A worker on this shop's task queue (real activities unless given)."""
        return Worker(
            self.stack.client,
            task_queue=self.settings.temporal_task_queue,
            workflows=list(WORKFLOWS),
            activities=activities
            or build_activities(self.settings, self.stack.sessions, self.stack.client),
            workflow_runner=Sandbox(),  # the worker's runner
        )

    async def reset_emulator(self, *, webhook_url: str | None) -> None:
        assert (await self.emu.post("/_emulator/reset")).status_code == 200
        response = await self.emu.post("/_emulator/webhook-endpoint", json={"url": webhook_url})
        assert response.status_code == 200, response.text

    async def pay(self, session_id: str, card: str = GOOD_CARD) -> httpx.Response:
        return await self.emu.post(
            f"/_emulator/checkout/sessions/{session_id}/pay", json={"card": card}
        )

    async def fault(self, target: str, mode: str, **spec: Any) -> None:
        response = await self.emu.post(f"/_emulator/faults/{target}", json={"mode": mode, **spec})
        assert response.status_code == 200, response.text

    async def stripe_get(self, path: str, **params: Any) -> dict[str, Any]:
        response = await self.emu.get(
            f"/v1{path}",
            params=params,
            headers={"Authorization": f"Bearer {self.emulator.api_key}"},
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def checkout(self, buyer: Buyer, order_id: int) -> httpx.Response:
        return await self.http.post(f"/orders/{order_id}/checkout/", headers=buyer.headers)

    async def checkout_ok(self, buyer: Buyer, order_id: int) -> dict[str, Any]:
        response = await self.checkout(buyer, order_id)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


async def buyer(client: TestClientProtocol, stack: Stack) -> Buyer:
    email = await account(client, stack, UserGroup.USER)
    headers = bearer((await login(client, email))["access_token"])
    async with stack.sessions() as session:
        user_id = (
            await session.execute(text("SELECT id FROM users WHERE email = :e"), {"e": email})
        ).scalar_one()
    return Buyer(int(user_id), email, headers)


async def movies(client: TestClientProtocol, stack: Stack, *prices: str) -> list[dict[str, Any]]:
    """Movies made through the API by a moderator: [{uuid, name, price, id}]."""
    moderator = bearer(
        (await login(client, await account(client, stack, UserGroup.MODERATOR)))["access_token"]
    )
    made = [await create_movie(client, moderator, price=price) for price in prices]
    async with stack.sessions() as session:
        for movie in made:
            movie["id"] = (
                await session.execute(
                    text("SELECT id FROM movies WHERE uuid = :u"), {"u": movie["uuid"]}
                )
            ).scalar_one()
    return made


async def pending_order(client: TestClientProtocol, who: Buyer, lines: list[dict[str, Any]]) -> int:
    """A pending order made the way a buyer makes one: each movie into the cart, then
    POST /orders/create/ (each line keeps the price it had then)."""
    for movie in lines:
        added = await client.post(
            "/cart/add/", json={"movie_uuid": movie["uuid"]}, headers=who.headers
        )
        assert added.status_code == 201, await added.get_json()
    created = await client.post("/orders/create/", headers=who.headers)
    body = await created.get_json()
    assert created.status_code == 201, body
    return int(body["id"])


async def rows(stack: Stack, sql: str, **params: Any) -> list[Any]:
    async with stack.sessions() as session:
        return list((await session.execute(text(sql), params)).all())


async def order_row(stack: Stack, order_id: int) -> Any:
    async with stack.sessions() as session:
        return (await session.execute(select(Order).where(Order.id == order_id))).scalar_one()


async def eventually(
    check: Callable[[], Awaitable[Any]], *, timeout: float = 30.0, what: str = "condition"
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for: {what}")
        await asyncio.sleep(0.1)


async def order_status_becomes(
    stack: Stack, order_id: int, status: str, timeout: float = 30
) -> Any:
    async def check() -> Any:
        order = await order_row(stack, order_id)
        return order if order.status == status else None

    return await eventually(check, timeout=timeout, what=f"order {order_id} {status}")


def signed(
    secret: str, event: dict[str, Any], *, timestamp: int | None = None
) -> tuple[bytes, str]:
    """A webhook body and its Stripe-Signature header, as Stripe computes them."""
    body = json.dumps(event).encode()
    ts = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return body, f"t={ts},v1={mac}"
