"""Reconciling open checkouts with Stripe: a payment whose webhook was lost is recorded (the
webhook's way, once, with its receipt) and a session that expired without a webhook settles its
order; the real webhook arriving later changes nothing. The reconcile run is started directly
(not by its schedule), for the test's own order and with no minimum age."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from quart.typing import TestClientProtocol
from sqlalchemy import text
from temporalio.testing import ActivityEnvironment

from activities.reconcile import ReconcileActivities
from api.temporal import Temporal
from domain.stripe import StripeGateway
from tests.commerce.conftest import open_shop
from tests.commerce.support import (
    Shop,
    buyer,
    movies,
    order_row,
    order_status_becomes,
    pending_order,
    rows,
    signed,
)
from tests.conftest import Stack, StripeEmulator
from tests.support import wait_for_mail
from tests.workflows.support import maybe_record
from workflows.checkout_messages import CheckoutResult
from workflows.ids import checkout_workflow_id
from workflows.reconcile import CheckoutReconcileWorkflow
from workflows.reconcile_messages import (
    ReconcileInput,
    ReconcileOutcome,
    ReconcileResult,
    StaleCheckoutSession,
)


async def _reconcile(
    shop: Shop,
    order_id: int | None,
    record_as: str | None = None,
    min_age_seconds: int = 0,
    batch_size: int = 100,
) -> ReconcileResult:
    handle = await shop.stack.client.start_workflow(
        CheckoutReconcileWorkflow.run,
        ReconcileInput(min_age_seconds=min_age_seconds, batch_size=batch_size, order_id=order_id),
        id=f"reconcile-test-{uuid.uuid4().hex[:8]}",
        task_queue=shop.settings.temporal_task_queue,
    )
    result = await handle.result()
    if record_as:
        await maybe_record(handle, record_as)
    return result


def _activities(shop: Shop) -> ReconcileActivities:
    settings = shop.settings
    temporal = Temporal(settings, shop.stack.client)
    return ReconcileActivities(shop.stack.sessions, StripeGateway(settings), temporal, settings)


async def _stripe_event(shop: Shop, kind: str, session_id: str) -> dict[str, Any]:
    listed = await shop.stripe_get("/events", type=kind)
    [event] = [e for e in listed["data"] if e["data"]["object"]["id"] == session_id]
    return event


async def _payments(stack: Stack, order_id: int) -> list[Any]:
    return await rows(
        stack, "SELECT id, applied FROM payments WHERE order_id = :o ORDER BY id", o=order_id
    )


async def test_a_paid_session_whose_webhook_was_lost_is_recorded_once_with_its_receipt(
    client: TestClientProtocol, stack: Stack, shop: Shop
) -> None:
    me = await buyer(client, stack)
    order_id = await pending_order(client, me, await movies(client, stack, "7.00"))
    session_id = (await shop.checkout_ok(me, order_id))["session_id"]
    # Paying emits payment_intent.succeeded and checkout.session.completed: both are lost.
    await shop.fault("webhooks", "drop", count=2)
    assert (await shop.pay(session_id)).status_code == 200
    lost = await _stripe_event(shop, "checkout.session.completed", session_id)
    assert lost["pending_webhooks"] == 1  # never delivered
    await asyncio.sleep(1)
    assert (await order_row(stack, order_id)).status == "pending"

    result = await _reconcile(shop, order_id, record_as="checkout_reconcile_paid")

    assert result == ReconcileResult(checked=1, recorded_paid=1)
    await order_status_becomes(stack, order_id, "paid")
    [(payment_id, applied)] = await _payments(stack, order_id)
    assert applied is True
    await wait_for_mail(stack.mail, me.email, "receipt")
    # Recorded the webhook's way: as an event of its own (a deterministic id), handed on.
    events_sql = "SELECT id, handled_at IS NOT NULL FROM stripe_events WHERE object_id = :s"
    assert await rows(stack, events_sql, s=session_id) == [
        (f"reconcile:{session_id}:complete", True)
    ]
    # The same session reconciled again (a retried activity, an overlapping run): the event
    # is recorded already, so it is not recorded or handed on twice.
    again = await ActivityEnvironment().run(
        _activities(shop).reconcile_checkout_session, StaleCheckoutSession(session_id, order_id)
    )
    assert again == ReconcileOutcome("paid")
    assert await rows(stack, events_sql, s=session_id) == [
        (f"reconcile:{session_id}:complete", True)
    ]
    assert await _payments(stack, order_id) == [(payment_id, True)]
    # The session is settled: the next run has nothing to look at.
    assert await _reconcile(shop, order_id) == ReconcileResult()

    # The real webhook comes after all (redelivered): it is recorded, handed to the order's
    # checkout (a run for a paid order) and records nothing twice.
    body, signature = signed(shop.emulator.webhook_secret, lost)
    response = await shop.http.post(
        "/payments/webhook/", content=body, headers={"Stripe-Signature": signature}
    )
    assert response.status_code == 200, response.text
    checkout = stack.client.get_workflow_handle(
        checkout_workflow_id(order_id), result_type=CheckoutResult
    )
    late = await checkout.result()
    assert late.payment_id in (None, payment_id)
    assert await _payments(stack, order_id) == [(payment_id, True)]
    assert sorted(await rows(stack, events_sql, s=session_id)) == sorted(
        [(lost["id"], True), (f"reconcile:{session_id}:complete", True)]
    )
    await asyncio.sleep(1)
    assert len(await wait_for_mail(stack.mail, me.email, "receipt")) == 1


async def test_a_session_that_expired_without_a_webhook_cancels_its_order(
    client: TestClientProtocol, stack: Stack, stripe_emulator: StripeEmulator
) -> None:
    me = await buyer(client, stack)
    order_id = await pending_order(client, me, await movies(client, stack, "5.00"))
    # A 50 s payment window: no time is left for a new page once the session expired.
    async with open_shop(stack, stripe_emulator, checkout_payment_window_seconds=50) as shop:
        session_id = (await shop.checkout_ok(me, order_id))["session_id"]
        await shop.fault("webhooks", "drop", count=1)
        expired = await shop.emu.post(f"/_emulator/checkout/sessions/{session_id}/expire")
        assert expired.status_code == 200, expired.text
        await asyncio.sleep(1)
        assert (await order_row(stack, order_id)).status == "pending"

        result = await _reconcile(shop, order_id, record_as="checkout_reconcile_expired")

        assert result == ReconcileResult(checked=1, cancelled_expired=1)
        # Well before the 50 s deadline: the handed-on expiry settled it.
        order = await order_status_becomes(stack, order_id, "cancelled", timeout=20)
        assert order.cancel_reason == "expired"
        assert await _payments(stack, order_id) == []


async def test_an_open_session_is_left_alone_and_a_young_one_is_not_looked_at(
    client: TestClientProtocol, stack: Stack, shop: Shop
) -> None:
    me = await buyer(client, stack)
    order_id = await pending_order(client, me, await movies(client, stack, "3.00"))
    session_id = (await shop.checkout_ok(me, order_id))["session_id"]

    assert await _reconcile(shop, order_id, min_age_seconds=600) == ReconcileResult()
    assert await _reconcile(shop, order_id) == ReconcileResult(checked=1, still_open=1)

    assert (await order_row(stack, order_id)).status == "pending"
    assert await rows(
        stack, "SELECT status FROM checkout_sessions WHERE stripe_session_id = :s", s=session_id
    ) == [("open",)]
    assert (
        await rows(stack, "SELECT id FROM stripe_events WHERE object_id = :s", s=session_id) == []
    )
    # The buyer can still pay on the same page.
    assert (await shop.pay(session_id)).status_code == 200
    await order_status_becomes(stack, order_id, "paid")


async def test_a_session_stripe_does_not_know_counts_as_expired_and_leaves_the_list(
    client: TestClientProtocol, stack: Stack, shop: Shop
) -> None:
    me = await buyer(client, stack)
    order_id = await pending_order(client, me, await movies(client, stack, "4.00"))
    await shop.checkout_ok(me, order_id)
    unknown = f"cs_test_unknown_{uuid.uuid4().hex[:8]}"
    async with stack.sessions() as session, session.begin():
        await session.execute(
            text(
                "INSERT INTO checkout_sessions (order_id, stripe_session_id, url, amount_total, "
                "currency, expires_at) VALUES (:o, :s, 'x', 400, 'usd', now())"
            ),
            {"o": order_id, "s": unknown},
        )

    result = await _reconcile(shop, order_id)

    # It can take no money: closed (the order keeps its real, open page and stays pending).
    assert result == ReconcileResult(checked=2, cancelled_expired=1, still_open=1)
    assert await rows(
        stack, "SELECT status FROM checkout_sessions WHERE stripe_session_id = :s", s=unknown
    ) == [("expired",)]
    assert (await order_row(stack, order_id)).status == "pending"
    assert await _reconcile(shop, order_id) == ReconcileResult(checked=1, still_open=1)
