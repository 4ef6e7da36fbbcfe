"""What the refund tests share: a paid order made without the checkout flow, the emulator's
control API, and reads of what a buyer owns.

`paid_order` pays a real Checkout Session at the emulator (so Stripe has a charge to refund),
then writes the rows the checkout workflow would write (order, lines, the applied payment and
its lines, purchases). The lead switches it to the full flow once checkout is merged.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from quart.typing import TestClientProtocol
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.config import Settings
from domain.db import transaction
from domain.models import (
    Movie,
    Order,
    OrderItem,
    OrderStatus,
    Payment,
    PaymentItem,
    Purchase,
    Refund,
)
from domain.stripe import CheckoutLine, StripeGateway, minor_units
from tests.api.catalog_support import create_movie
from tests.conftest import Stack, StripeEmulator

GOOD_CARD = "4242424242424242"
PENDING_THEN_SUCCEEDED = "4000000000007726"
SUCCEEDED_THEN_FAILED = "4000000000005126"


@dataclass
class PaidOrder:
    order_id: int
    payment_id: int
    user_id: int
    total: Decimal
    payment_intent: str
    order_item_ids: list[int]
    movie_ids: list[int]


class EmulatorControl:
    """The emulator's control API and its `/v1` reads, asynchronously (the worker shares the
    test's event loop)."""

    def __init__(self, emulator: StripeEmulator) -> None:
        self._http = httpx.AsyncClient(base_url=emulator.url, timeout=30)
        self._key = emulator.api_key

    async def control(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self._http.request(method, f"/_emulator{path}", **kwargs)
        assert response.status_code == 200, response.text
        return response.json()

    async def pay(self, session_id: str, card: str) -> str:
        paid = await self.control(
            "POST", f"/checkout/sessions/{session_id}/pay", json={"card": card}
        )
        return str(paid["payment_intent"]["id"])

    async def fail_api(self, count: int, mode: str = "500") -> None:
        await self.control("POST", "/faults/api", json={"mode": mode, "count": count})

    async def advance_clock(self, seconds: int) -> None:
        await self.control("POST", "/clock/advance", json={"seconds": seconds})

    async def refunds_of(self, payment_intent: str) -> list[dict[str, Any]]:
        response = await self._http.get(
            "/v1/refunds",
            params={"payment_intent": payment_intent, "limit": 100},
            headers={"Authorization": f"Bearer {self._key}"},
        )
        assert response.status_code == 200, response.text
        return list(response.json()["data"])

    async def idempotency_key_of(self, stripe_refund_id: str) -> str | None:
        """The Idempotency-Key of the request that created this refund (its refund.created
        event records the request)."""
        response = await self._http.get(
            "/v1/events",
            params={"type": "refund.created", "limit": 100},
            headers={"Authorization": f"Bearer {self._key}"},
        )
        assert response.status_code == 200, response.text
        for event in response.json()["data"]:
            if event["data"]["object"]["id"] == stripe_refund_id:
                key: str | None = event["request"]["idempotency_key"]
                return key
        raise AssertionError(f"no refund.created event for {stripe_refund_id}")

    async def aclose(self) -> None:
        await self._http.aclose()


async def movie_ids(stack: Stack, uuids: list[str]) -> list[int]:
    async with stack.sessions() as session:
        rows = await session.execute(
            select(Movie.id).where(Movie.uuid.in_([uuid.UUID(u) for u in uuids])).order_by(Movie.id)
        )
        return list(rows.scalars())


async def paid_order(
    stack: Stack,
    settings: Settings,
    emulator: EmulatorControl,
    *,
    user_id: int,
    movies: list[int],
    prices: list[Decimal],
    card: str = GOOD_CARD,
    paid_at: datetime | None = None,
    applied: bool = True,
) -> PaidOrder:
    """A paid order; with `applied=False`, a payment that came for an order already cancelled
    (recorded without lines or purchases, as the checkout records such a payment)."""
    currency = settings.currency
    gateway = StripeGateway(settings)
    session = await gateway.create_checkout_session(
        order_id=0,
        user_id=user_id,
        customer_email="buyer@example.com",
        lines=[
            CheckoutLine(name=f"Movie {m}", unit_amount=minor_units(p, currency))
            for m, p in zip(movies, prices, strict=True)
        ],
        currency=currency,
        expires_at=datetime.now(UTC) + timedelta(hours=1),
        success_url="http://cinema.test/payments/success/",
        cancel_url="http://cinema.test/payments/cancel/",
        idempotency_key=f"test-checkout:{uuid.uuid4().hex}",
    )
    intent = await emulator.pay(session.id, card)
    total = sum(prices, Decimal(0))
    async with transaction(stack.sessions) as db:
        order = Order(
            user_id=user_id,
            status=OrderStatus.PAID if applied else OrderStatus.CANCELLED,
            total_amount=total,
            currency=currency,
            paid_at=(paid_at or datetime.now(UTC)) if applied else None,
        )
        db.add(order)
        await db.flush()
        items = [
            OrderItem(order_id=order.id, movie_id=m, price=p)
            for m, p in zip(movies, prices, strict=True)
        ]
        db.add_all(items)
        payment = Payment(
            order_id=order.id,
            user_id=user_id,
            amount=total,
            currency=currency,
            applied=applied,
            stripe_checkout_session_id=session.id,
            stripe_payment_intent_id=intent,
        )
        db.add(payment)
        await db.flush()
        items_of_payment = items if applied else []
        db.add_all(
            PaymentItem(payment_id=payment.id, order_item_id=i.id, price=i.price)
            for i in items_of_payment
        )
        db.add_all(
            Purchase(
                user_id=user_id,
                movie_id=i.movie_id,
                order_id=order.id,
                payment_id=payment.id,
                price=i.price,
            )
            for i in items_of_payment
        )
    return PaidOrder(
        order_id=order.id,
        payment_id=payment.id,
        user_id=user_id,
        total=total,
        payment_intent=intent,
        order_item_ids=[i.id for i in items],
        movie_ids=movies,
    )


async def new_movies(
    client: TestClientProtocol, stack: Stack, moderator: dict[str, str], count: int
) -> list[int]:
    uuids = [(await create_movie(client, moderator))["uuid"] for _ in range(count)]
    return await movie_ids(stack, uuids)


@dataclass
class Snapshot:
    """What the buyer and the books show about one order."""

    order_status: str
    payment_status: str
    refunded_amount: Decimal
    owned_movies: list[int]
    refunds: list[tuple[str, Decimal, str | None]]  # (status, amount, failure_reason), by id


async def snapshot(stack: Stack, paid: PaidOrder) -> Snapshot:
    async with stack.sessions() as session:
        return await _snapshot(session, paid)


async def _snapshot(session: AsyncSession, paid: PaidOrder) -> Snapshot:
    order = await session.get(Order, paid.order_id, populate_existing=True)
    payment = await session.get(Payment, paid.payment_id, populate_existing=True)
    assert order is not None and payment is not None
    owned = await session.execute(
        select(Purchase.movie_id)
        .where(Purchase.user_id == paid.user_id, Purchase.movie_id.in_(paid.movie_ids))
        .order_by(Purchase.movie_id)
    )
    refunds = await session.execute(
        select(Refund.status, Refund.amount, Refund.failure_reason)
        .where(Refund.payment_id == paid.payment_id)
        .order_by(Refund.id)
    )
    return Snapshot(
        order_status=order.status.value,
        payment_status=payment.status.value,
        refunded_amount=payment.refunded_amount,
        owned_movies=list(owned.scalars()),
        refunds=[(r.status.value, r.amount, r.failure_reason) for r in refunds],
    )


async def refund_count(stack: Stack, payment_id: int) -> int:
    async with stack.sessions() as session:
        count = await session.execute(
            select(func.count()).select_from(Refund).where(Refund.payment_id == payment_id)
        )
        return int(count.scalar_one())


async def refund_ids(stack: Stack, payment_id: int) -> list[int]:
    """The ids of the payment's refunds, oldest first."""
    async with stack.sessions() as session:
        rows = await session.execute(
            select(Refund.id).where(Refund.payment_id == payment_id).order_by(Refund.id)
        )
        return list(rows.scalars())


async def post_refund(
    api: TestClientProtocol,
    order_id: int,
    headers: dict[str, str],
    *,
    as_admin: bool = False,
    **body: Any,
) -> tuple[int, Any]:
    """POST a refund of the order: the buyer's route, or the admin's with `as_admin` (its JSON
    body is `body`, e.g. `lines=[...]`). The status and the JSON answer."""
    if as_admin:
        response = await api.post(f"/admin/orders/{order_id}/refund/", json=body, headers=headers)
    else:
        assert not body, "the buyer's route takes no body"
        response = await api.post(f"/orders/refund/{order_id}/", headers=headers)
    return response.status_code, await response.get_json()


async def accepted_refund(
    api: TestClientProtocol,
    order_id: int,
    headers: dict[str, str],
    *,
    as_admin: bool = False,
    **body: Any,
) -> dict[str, Any]:
    """`post_refund` that must be accepted: the 202's body (`refund_id`, `status`, ...)."""
    status, answer = await post_refund(api, order_id, headers, as_admin=as_admin, **body)
    assert status == 202, answer
    return dict(answer)
