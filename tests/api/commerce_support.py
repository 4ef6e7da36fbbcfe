"""Helpers for the commerce tests: a buyer, a movie with a price, cart and order short-cuts, a
stand-in for a completed payment, and an order line for a movie (order history)."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from quart.typing import TestClientProtocol
from sqlalchemy import event, text

from api.services import EXTENSION_KEY
from domain.accounts import repository as accounts_repo
from domain.cart import service as cart
from domain.db import transaction
from domain.models import UserGroup
from domain.orders import service as orders
from tests.api.catalog_support import caller, create_movie
from tests.conftest import Stack


@dataclass(frozen=True)
class Buyer:
    headers: dict[str, str]
    user_id: int


async def buyer(client: TestClientProtocol, stack: Stack) -> Buyer:
    """A fresh, activated user, logged in."""
    headers = await caller(client, stack, UserGroup.USER)
    me = await (await client.get("/accounts/me/", headers=headers)).get_json()
    return Buyer(headers, int(me["id"]))


async def priced_movie(
    client: TestClientProtocol, moderator: dict[str, str], price: str = "4.99"
) -> dict[str, Any]:
    return await create_movie(client, moderator, price=price)


async def add_to_cart(client: TestClientProtocol, who: Buyer, movie_uuid: str) -> dict[str, Any]:
    response = await client.post("/cart/add/", json={"movie_uuid": movie_uuid}, headers=who.headers)
    body: dict[str, Any] = await response.get_json()
    assert response.status_code == 201, body
    return body


async def create_order(client: TestClientProtocol, who: Buyer) -> dict[str, Any]:
    response = await client.post("/orders/create/", headers=who.headers)
    body: dict[str, Any] = await response.get_json()
    assert response.status_code == 201, body
    return body


async def order_of(client: TestClientProtocol, who: Buyer, *movie_uuids: str) -> dict[str, Any]:
    """A pending order of these movies, made through the cart."""
    for movie_uuid in movie_uuids:
        await add_to_cart(client, who, movie_uuid)
    return await create_order(client, who)


async def get_cart(client: TestClientProtocol, who: Buyer) -> dict[str, Any]:
    response = await client.get("/cart/", headers=who.headers)
    body: dict[str, Any] = await response.get_json()
    assert response.status_code == 200, body
    return body


async def record_payment(stack: Stack, order_id: int) -> None:
    """What a completed checkout leaves behind, written directly: an applied payment of the
    order's total, its lines, the purchases, the order paid. Payments are the checkout
    workflow's job (another area); the cart and order tests only need their outcome."""
    params = {"order": order_id, "session": f"cs_test_{secrets.token_hex(12)}"}
    statements = (
        "INSERT INTO payments (order_id, user_id, amount, currency, applied, "
        "stripe_checkout_session_id) SELECT id, user_id, total_amount, currency, true, :session "
        "FROM orders WHERE id = :order",
        "INSERT INTO payment_items (payment_id, order_item_id, price) SELECT p.id, i.id, i.price "
        "FROM payments p JOIN order_items i ON i.order_id = p.order_id "
        "WHERE p.stripe_checkout_session_id = :session",
        "INSERT INTO purchases (user_id, movie_id, order_id, payment_id, price) "
        "SELECT p.user_id, i.movie_id, p.order_id, p.id, i.price FROM payments p "
        "JOIN order_items i ON i.order_id = p.order_id "
        "WHERE p.stripe_checkout_session_id = :session",
        "UPDATE orders SET status = 'paid', paid_at = now() WHERE id = :order",
    )
    async with transaction(stack.sessions) as session:
        for statement in statements:
            await session.execute(text(statement), params)


async def add_checkout_session(
    stack: Stack, order_id: int, session_id: str, status: str, expires_at: datetime
) -> None:
    """A Checkout Session row as the checkout workflow would store it (another area's job)."""
    async with transaction(stack.sessions) as session:
        await session.execute(
            text(
                "INSERT INTO checkout_sessions (order_id, stripe_session_id, url, status, "
                "amount_total, currency, expires_at) SELECT id, CAST(:sid AS text), "
                "'https://stripe.test/' || CAST(:sid AS text), :status, "
                "(total_amount * 100)::bigint, currency, "
                ":expires FROM orders WHERE id = :order"
            ),
            {"order": order_id, "sid": session_id, "status": status, "expires": expires_at},
        )


async def add_refund(stack: Stack, order_id: int, amount: str, status: str) -> None:
    """A refund of the order's applied payment, as the refund workflow would leave it (another
    area's job), its amount reserved on the payment."""
    params = {"order": order_id, "amount": Decimal(amount), "status": status}
    async with transaction(stack.sessions) as session:
        await session.execute(
            text(
                "INSERT INTO refunds (payment_id, order_id, amount, currency, status, reason, "
                "completed_at) SELECT id, order_id, :amount, currency, CAST(:status AS text), "
                "'requested_by_customer', "
                "CASE WHEN CAST(:status AS text) = 'succeeded' THEN now() END "
                "FROM payments WHERE order_id = :order AND applied"
            ),
            params,
        )
        await session.execute(
            text(
                "UPDATE payments SET refunded_amount = refunded_amount + :amount "
                "WHERE order_id = :order AND applied"
            ),
            params,
        )


@contextmanager
def statements(client: Any) -> Iterator[list[str]]:
    """The SQL statements the app sends through SQLAlchemy while the block runs (the token
    check goes straight to the driver and is not among them)."""
    engine = client.app.extensions[EXTENSION_KEY].engine.sync_engine
    sent: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def sneak_into_cart(stack: Stack, who: Buyer, movie_uuid: str) -> None:
    """A cart line written directly, skipping the add's checks (a line that was added before
    the movie was bought elsewhere, say)."""
    async with transaction(stack.sessions) as session:
        await session.execute(
            text(
                "INSERT INTO cart_items (cart_id, movie_id) SELECT c.id, m.id FROM carts c, "
                "movies m WHERE c.user_id = :u AND m.uuid = :m"
            ),
            {"u": who.user_id, "m": movie_uuid},
        )


async def put_in_order_history(stack: Stack, movie_uuid: str) -> int:
    """A real pending order holding the movie, made through the cart and order services for a
    fresh user (no HTTP needed); its id."""
    async with transaction(stack.sessions) as session:
        user_id = await accounts_repo.insert_user_if_absent(
            session, f"history-{uuid.uuid4().hex[:12]}@example.com", "!", is_active=True
        )
        assert user_id is not None
        await cart.add_movie(session, user_id, uuid.UUID(movie_uuid))
        order = await orders.create_order(session, user_id, stack.settings.currency)
    return int(order["id"])


async def order_lines_of(stack: Stack, movie_uuid: str) -> int:
    """How many order lines (anyone's) hold the movie."""
    async with transaction(stack.sessions) as session:
        count = await session.scalar(
            text(
                "SELECT count(*) FROM order_items i JOIN movies m ON m.id = i.movie_id "
                "WHERE m.uuid = :u"
            ),
            {"u": movie_uuid},
        )
    return int(count or 0)
