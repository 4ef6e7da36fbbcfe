"""Cancelling and expiring a checkout: Stripe's session is closed first, and a payment that
Stripe took before wins; a payment that comes too late is recorded but never applied."""

from __future__ import annotations

from typing import Any

from quart.typing import TestClientProtocol
from sqlalchemy import text
from temporalio.client import WorkflowHandle

from tests.commerce.conftest import open_shop
from tests.commerce.support import (
    Shop,
    buyer,
    eventually,
    movies,
    order_row,
    order_status_becomes,
    pending_order,
    rows,
)
from tests.conftest import Stack, StripeEmulator
from tests.support import text_of, wait_for_mail
from tests.workflows.support import maybe_record
from workflows.checkout import CheckoutWorkflow
from workflows.checkout_messages import CheckoutResult
from workflows.ids import checkout_workflow_id, refund_workflow_id
from workflows.refund_messages import RefundResult


async def _this_run(stack: Stack, order_id: int) -> WorkflowHandle[Any, CheckoutResult]:
    """The order's checkout run now, pinned by its run id. Expiring the Stripe page sends a
    `checkout.session.expired` webhook; when it is routed while the order is still pending and
    delivered after the run ended, it starts a short run of its own for the settled order
    (outcome `not_pending`), which the workflow id alone would lead to."""
    described = await stack.client.get_workflow_handle(checkout_workflow_id(order_id)).describe()
    return stack.client.get_workflow_handle(
        checkout_workflow_id(order_id), run_id=described.run_id, result_type=CheckoutResult
    )


async def test_cancel_expires_the_stripe_session_and_cancels_the_order(
    client: TestClientProtocol, stack: Stack, shop: Shop
) -> None:
    me = await buyer(client, stack)
    order_id = await pending_order(client, me, await movies(client, stack, "5.00"))
    session_id = (await shop.checkout_ok(me, order_id))["session_id"]
    handle = await _this_run(stack, order_id)

    response = await shop.http.post(f"/orders/cancel/{order_id}/", headers=me.headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"message": "Order cancelled.", "status": "cancelled"}
    order = await order_row(stack, order_id)
    assert (order.status, order.cancel_reason) == ("cancelled", "user")
    session = await shop.stripe_get(f"/checkout/sessions/{session_id}")
    assert session["status"] == "expired"
    assert (await shop.pay(session_id)).status_code == 400  # the page takes no money now

    again = await shop.http.post(f"/orders/cancel/{order_id}/", headers=me.headers)
    assert again.status_code == 409
    assert again.json()["error"] == "order_not_pending"
    assert again.json()["order_status"] == "cancelled"
    checkout = await shop.checkout(me, order_id)
    assert checkout.status_code == 409 and checkout.json()["order_status"] == "cancelled"
    landing = await shop.http.get("/payments/cancel/", params={"order_id": order_id})
    assert landing.json()["status"] == "cancelled"

    assert (await handle.result()).outcome == "cancelled"
    await maybe_record(handle, "checkout_cancelled")


async def test_cancel_without_a_checkout_cancels_directly(
    client: TestClientProtocol, stack: Stack, shop: Shop
) -> None:
    me = await buyer(client, stack)
    order_id = await pending_order(client, me, await movies(client, stack, "5.00"))
    response = await shop.http.post(f"/orders/cancel/{order_id}/", headers=me.headers)
    assert response.status_code == 200, response.text
    assert (await order_row(stack, order_id)).status == "cancelled"


async def test_cancel_after_stripe_took_the_payment_lets_the_payment_win(
    client: TestClientProtocol, stack: Stack, shop: Shop
) -> None:
    me = await buyer(client, stack)
    order_id = await pending_order(client, me, await movies(client, stack, "5.00"))
    session_id = (await shop.checkout_ok(me, order_id))["session_id"]
    # Stripe's webhooks are late: it has the money, we do not know yet.
    await shop.fault("webhooks", "delay", count=2, seconds=6)
    assert (await shop.pay(session_id)).status_code == 200
    landing = await shop.http.get("/payments/success/", params={"session_id": session_id})
    assert landing.json()["status"] == "processing"

    response = await shop.http.post(f"/orders/cancel/{order_id}/", headers=me.headers)
    assert response.status_code == 409, response.text
    assert response.json()["error"] == "order_paid"
    assert (await order_row(stack, order_id)).status == "paid"
    assert await rows(stack, "SELECT applied FROM payments WHERE order_id = :o", o=order_id) == [
        (True,)
    ]
    # The late webhook, when it comes, changes nothing.
    await shop.emu.post(
        "/_emulator/webhook-endpoint", json={"url": f"{shop.url}/payments/webhook/"}
    )

    async def handled() -> bool:
        found = await rows(
            stack,
            "SELECT count(*) FROM stripe_events WHERE object_id = :s AND handled_at IS NOT NULL",
            s=session_id,
        )
        return bool(found[0][0])

    await eventually(handled, timeout=30, what="the late completed event handled")
    assert await rows(stack, "SELECT count(*) FROM payments WHERE order_id = :o", o=order_id) == [
        (1,)
    ]


async def test_a_payment_after_the_order_was_cancelled_is_refunded_automatically(
    client: TestClientProtocol, stack: Stack, shop: Shop
) -> None:
    me = await buyer(client, stack)
    order_id = await pending_order(client, me, await movies(client, stack, "5.00"))
    session_id = (await shop.checkout_ok(me, order_id))["session_id"]
    # The run is gone (an operator terminated it) and our row says the page closed while
    # Stripe still has it open (a stale row), so the cancel cannot know to close it: the only
    # way left for money to reach a cancelled order (a lost run's page that our rows still
    # show open is closed by the cancel: test_checkout_sessions.py).
    handle = stack.client.get_workflow_handle(checkout_workflow_id(order_id))
    await handle.terminate("test: the run is lost")
    async with stack.sessions() as session, session.begin():
        await session.execute(
            text("UPDATE checkout_sessions SET status = 'expired' WHERE stripe_session_id = :s"),
            {"s": session_id},
        )
    response = await shop.http.post(f"/orders/cancel/{order_id}/", headers=me.headers)
    assert response.status_code == 200, response.text

    assert (await shop.pay(session_id)).status_code == 200  # the buyer pays the old page
    late = stack.client.get_workflow_handle(
        checkout_workflow_id(order_id), result_type=CheckoutResult
    )

    async def recorded() -> bool:
        found = await rows(stack, "SELECT applied FROM payments WHERE order_id = :o", o=order_id)
        return found == [(False,)]

    await eventually(recorded, what="the late payment recorded, not applied")
    assert (await late.result()).outcome == "not_pending"
    status = await late.query(CheckoutWorkflow.status)
    [payment] = (await shop.http.get("/payments/", headers=me.headers)).json()["payments"]
    assert payment["applied"] is False
    assert status.unapplied_payment_ids == [payment["id"]]
    [refund_id] = status.refund_ids  # the checkout started RefundWorkflow refund:{refund_id}
    refund = stack.client.get_workflow_handle(
        refund_workflow_id(refund_id), result_type=RefundResult
    )
    assert (await refund.result()).status == "succeeded"

    # The buyer sees the money returned, the order still cancelled, owns nothing, and is told.
    [payment] = (await shop.http.get("/payments/", headers=me.headers)).json()["payments"]
    assert (payment["status"], payment["refunded_amount"]) == ("refunded", "5.00")
    assert [(r["id"], r["status"]) for r in payment["refunds"]] == [(refund_id, "succeeded")]
    assert (await order_row(stack, order_id)).status == "cancelled"
    assert await rows(stack, "SELECT count(*) FROM purchases WHERE order_id = :o", o=order_id) == [
        (0,)
    ]
    [mail] = await wait_for_mail(stack.mail, me.email, "We have returned your late payment")
    assert "5.00 USD" in text_of(mail) and "returned it in full" in text_of(mail)
    # Stripe refunded the whole charge once, under our key.
    stripe_refunds = await shop.stripe_get(
        "/refunds", payment_intent=payment["stripe_payment_intent_id"]
    )
    assert [(r["amount"], r["status"]) for r in stripe_refunds["data"]] == [(500, "succeeded")]
    await maybe_record(late, "checkout_late_payment")


async def test_the_payment_window_ending_expires_the_session_and_cancels_the_order(
    client: TestClientProtocol, stack: Stack, stripe_emulator: StripeEmulator
) -> None:
    me = await buyer(client, stack)
    order_id = await pending_order(client, me, await movies(client, stack, "5.00"))
    async with open_shop(stack, stripe_emulator, checkout_payment_window_seconds=3) as shop:
        session_id = (await shop.checkout_ok(me, order_id))["session_id"]
        handle = await _this_run(stack, order_id)
        order = await order_status_becomes(stack, order_id, "cancelled", timeout=30)
        assert order.cancel_reason == "expired"
        session = await shop.stripe_get(f"/checkout/sessions/{session_id}")
        assert session["status"] == "expired"
        assert (await handle.result()).outcome == "cancelled"
        await maybe_record(handle, "checkout_deadline")


async def test_an_expired_session_with_time_left_gets_a_new_one_on_the_next_checkout(
    client: TestClientProtocol, stack: Stack, shop: Shop
) -> None:
    me = await buyer(client, stack)
    order_id = await pending_order(client, me, await movies(client, stack, "5.00"))
    first = (await shop.checkout_ok(me, order_id))["session_id"]
    await shop.emu.post(f"/_emulator/checkout/sessions/{first}/expire")
    handle = stack.client.get_workflow_handle(checkout_workflow_id(order_id))

    async def noticed() -> bool:
        return (await handle.query(CheckoutWorkflow.status)).current_session_id is None

    await eventually(noticed, what="the workflow noticing the expiry")
    assert (await order_row(stack, order_id)).status == "pending"
    second = (await shop.checkout_ok(me, order_id))["session_id"]
    assert second != first
    assert len((await shop.stripe_get("/checkout/sessions"))["data"]) == 2
    assert (await shop.pay(second)).status_code == 200
    await order_status_becomes(stack, order_id, "paid")


async def test_an_expired_session_near_the_deadline_cancels_the_order(
    client: TestClientProtocol, stack: Stack, stripe_emulator: StripeEmulator
) -> None:
    me = await buyer(client, stack)
    order_id = await pending_order(client, me, await movies(client, stack, "5.00"))
    async with open_shop(stack, stripe_emulator, checkout_payment_window_seconds=50) as shop:
        session_id = (await shop.checkout_ok(me, order_id))["session_id"]
        await shop.emu.post(f"/_emulator/checkout/sessions/{session_id}/expire")
        # Well before the 50 s deadline: the expired event itself settles it.
        order = await order_status_becomes(stack, order_id, "cancelled", timeout=20)
        assert order.cancel_reason == "expired"


async def test_cancel_treats_a_session_stripe_does_not_know_as_closed(
    client: TestClientProtocol, stack: Stack, shop: Shop
) -> None:
    me = await buyer(client, stack)
    order_id = await pending_order(client, me, await movies(client, stack, "5.00"))
    await shop.checkout_ok(me, order_id)
    # A session row Stripe has no record of (e.g. made with another account's key).
    async with stack.sessions() as session, session.begin():
        await session.execute(
            text(
                "INSERT INTO checkout_sessions (order_id, stripe_session_id, url, amount_total, "
                "currency, expires_at) VALUES (:o, 'cs_test_unknown', 'x', 500, 'usd', now())"
            ),
            {"o": order_id},
        )
    response = await shop.http.post(f"/orders/cancel/{order_id}/", headers=me.headers)
    assert response.status_code == 200, response.text
    assert await rows(
        stack, "SELECT DISTINCT status FROM checkout_sessions WHERE order_id = :o", o=order_id
    ) == [("expired",)]
