"""POST /payments/webhook/: signatures, recording each event once, duplicates and reordering,
unknown types, Temporal being unreachable, and the routing read failing after the record."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from quart.typing import TestClientProtocol
from sqlalchemy import text

from api.app import create_app
from devstack.ports import free_port
from tests.commerce.support import (
    DECLINED_CARD,
    Shop,
    buyer,
    eventually,
    movies,
    order_status_becomes,
    pending_order,
    rows,
    signed,
)
from tests.conftest import Stack
from tests.support import wait_for_mail


def _event(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"evt_test_{uuid.uuid4().hex[:16]}",
        "object": "event",
        "type": kind,
        "created": int(time.time()),
        "data": {"object": obj},
    }


async def _events_named(stack: Stack, event_id: str) -> list[Any]:
    return await rows(
        stack, "SELECT type, handled_at IS NOT NULL FROM stripe_events WHERE id = :i", i=event_id
    )


async def test_missing_or_bad_signatures_are_400_and_record_nothing(shop: Shop) -> None:
    event = _event("checkout.session.completed", {"id": "cs_test_x", "metadata": {}})
    body, good = signed(shop.emulator.webhook_secret, event)
    _, wrong_secret = signed("whsec_not_ours", event)
    _, too_old = signed(shop.emulator.webhook_secret, event, timestamp=int(time.time()) - 3600)
    tampered = body.replace(b"cs_test_x", b"cs_test_y")
    for payload, headers in [
        (body, {}),
        (body, {"Stripe-Signature": "garbage"}),
        (body, {"Stripe-Signature": wrong_secret}),
        (body, {"Stripe-Signature": too_old}),
        (tampered, {"Stripe-Signature": good}),
        (b"not json", {"Stripe-Signature": signed(shop.emulator.webhook_secret, {})[1]}),
    ]:
        response = await shop.http.post("/payments/webhook/", content=payload, headers=headers)
        assert response.status_code == 400, response.text
        assert response.json()["error"] == "invalid_signature"
    assert await _events_named(shop.stack, event["id"]) == []


async def test_unknown_event_types_and_events_without_an_order_are_acknowledged(
    shop: Shop,
) -> None:
    for event in [
        _event("customer.created", {"id": "cus_1"}),
        _event("checkout.session.completed", {"id": "cs_1", "metadata": {"order_id": "x1"}}),
        _event("checkout.session.completed", {"id": "cs_2", "metadata": {"order_id": "99999999"}}),
    ]:
        body, signature = signed(shop.emulator.webhook_secret, event)
        response = await shop.http.post(
            "/payments/webhook/", content=body, headers={"Stripe-Signature": signature}
        )
        assert response.status_code == 200, response.text
        assert response.json() == {"message": "Webhook handled"}
        assert await _events_named(shop.stack, event["id"]) == [(event["type"], True)]


async def _delivered(shop: Shop, event_type: str, count: int) -> None:
    async def done() -> bool:
        body = (await shop.emu.get("/_emulator/deliveries")).json()
        found = [d for d in body["data"] if d.get("type") == event_type and d["status"] == 200]
        return len(found) >= count and not body["retrying"]

    await eventually(done, what=f"{count} deliveries of {event_type}")


async def _one_payment_and_receipt(stack: Stack, shop: Shop, order_id: int, email: str) -> None:
    await asyncio.sleep(1)  # let a wrongly repeated payment land, if it would
    assert await rows(stack, "SELECT count(*) FROM payments WHERE order_id = :o", o=order_id) == [
        (1,)
    ]
    lines = await rows(stack, "SELECT count(*) FROM order_items WHERE order_id = :o", o=order_id)
    owned = await rows(stack, "SELECT count(*) FROM purchases WHERE order_id = :o", o=order_id)
    assert owned == lines
    receipts = [m for m in stack.mail.messages if "receipt" in str(m["Subject"])]
    assert len([m for m in receipts if email in str(m["To"])]) == 1


async def test_duplicate_deliveries_change_nothing_twice(
    client: TestClientProtocol, stack: Stack, shop: Shop
) -> None:
    me = await buyer(client, stack)
    order_id = await pending_order(client, me, await movies(client, stack, "3.00", "5.00"))
    session_id = (await shop.checkout_ok(me, order_id))["session_id"]
    await shop.fault("webhooks", "duplicate", count=10)  # every event is delivered twice
    assert (await shop.pay(session_id)).status_code == 200
    await order_status_becomes(stack, order_id, "paid")
    await wait_for_mail(stack.mail, me.email, "receipt")
    await _delivered(shop, "checkout.session.completed", 2)
    await _one_payment_and_receipt(stack, shop, order_id, me.email)
    received = await rows(
        stack,
        "SELECT count(*), count(handled_at) FROM stripe_events WHERE object_id = :s",
        s=session_id,
    )
    assert received == [(1, 1)]  # recorded once, handed on once


async def test_a_decline_delivered_after_the_payment_changes_nothing(
    client: TestClientProtocol, stack: Stack, shop: Shop
) -> None:
    me = await buyer(client, stack)
    order_id = await pending_order(client, me, await movies(client, stack, "8.00"))
    session_id = (await shop.checkout_ok(me, order_id))["session_id"]
    # A declined card, then a good one: payment_failed, payment_intent.succeeded and
    # checkout.session.completed are held and delivered newest first.
    await shop.fault("webhooks", "reorder", count=3, seconds=5)
    assert (await shop.pay(session_id, DECLINED_CARD)).status_code == 402
    assert (await shop.pay(session_id)).status_code == 200
    await order_status_becomes(stack, order_id, "paid")
    await _delivered(shop, "payment_intent.payment_failed", 1)
    deliveries = (await shop.emu.get("/_emulator/deliveries")).json()["data"]
    order = [d["type"] for d in deliveries if d["status"] == 200]
    assert order.index("checkout.session.completed") < order.index("payment_intent.payment_failed")
    await _one_payment_and_receipt(stack, shop, order_id, me.email)
    assert await rows(stack, "SELECT status FROM orders WHERE id = :o", o=order_id) == [("paid",)]


async def _expiry_of_a_pending_order(
    client: TestClientProtocol, stack: Stack, shop: Shop, price: str
) -> tuple[dict[str, Any], bytes, str]:
    """A new buyer's pending order with a checkout page, and a signed expiry event for it."""
    me = await buyer(client, stack)
    order_id = await pending_order(client, me, await movies(client, stack, price))
    session_id = (await shop.checkout_ok(me, order_id))["session_id"]
    event = _event(
        "checkout.session.expired",
        {"id": session_id, "metadata": {"order_id": str(order_id)}, "status": "expired"},
    )
    body, signature = signed(shop.emulator.webhook_secret, event)
    return event, body, signature


async def test_temporal_unreachable_is_503_and_the_retry_hands_the_event_on(
    client: TestClientProtocol, stack: Stack, shop: Shop
) -> None:
    event, body, signature = await _expiry_of_a_pending_order(client, stack, shop, "6.00")
    # An API process whose Temporal is gone (nothing listens at that address).
    dead = create_app(
        shop.settings.model_copy(update={"temporal_address": f"127.0.0.1:{free_port()}"})
    )
    async with dead.test_app() as test_app:
        response = await test_app.test_client().post(
            "/payments/webhook/", data=body, headers={"Stripe-Signature": signature}
        )
        assert response.status_code == 503, await response.get_data(as_text=True)
    # Recorded, not handed on: Stripe's retry will.
    assert await _events_named(stack, event["id"]) == [("checkout.session.expired", False)]
    retried = await shop.http.post(
        "/payments/webhook/", content=body, headers={"Stripe-Signature": signature}
    )
    assert retried.status_code == 200, retried.text
    assert await _events_named(stack, event["id"]) == [("checkout.session.expired", True)]


async def test_a_routing_read_that_fails_after_the_record_is_5xx_and_the_retry_hands_it_on(
    client: TestClientProtocol, stack: Stack, shop: Shop
) -> None:
    """The event is committed before it is routed: when the read that finds its order fails
    (here its connection is killed while it waits on a lock), the answer is 5xx so Stripe
    retries, the event stays recorded and not handled, and the retry hands it on once."""
    event, body, signature = await _expiry_of_a_pending_order(client, stack, shop, "7.00")
    waiting_on_orders = (
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock' AND query LIKE '%FROM orders%'"
    )
    async with stack.sessions() as locker, locker.begin():
        await locker.execute(text("LOCK TABLE orders IN ACCESS EXCLUSIVE MODE"))
        delivery = asyncio.create_task(
            shop.http.post(
                "/payments/webhook/", content=body, headers={"Stripe-Signature": signature}
            )
        )

        async def routing_read_waits() -> bool:
            return bool(await rows(stack, waiting_on_orders))

        await eventually(routing_read_waits, what="the webhook's order read waiting on the lock")
        # Recorded (committed on its own) while the read that routes it is stuck.
        assert await _events_named(stack, event["id"]) == [("checkout.session.expired", False)]
        [(pid,)] = await rows(stack, waiting_on_orders)
        await rows(stack, "SELECT pg_terminate_backend(:p)", p=pid)
        response = await delivery
    assert response.status_code == 503, response.text  # Stripe retries a 5xx
    assert response.json()["error"] == "service_unavailable"
    assert await _events_named(stack, event["id"]) == [("checkout.session.expired", False)]

    async def retried() -> bool:  # the API's pool reconnects after the killed connection
        again = await shop.http.post(
            "/payments/webhook/", content=body, headers={"Stripe-Signature": signature}
        )
        return again.status_code == 200

    await eventually(retried, what="a redelivery answered 200")
    assert await _events_named(stack, event["id"]) == [("checkout.session.expired", True)]
