"""A delayed payment method (a bank debit) end to end over HTTP with the emulator's delayed
"cards": the page completes unpaid, the money comes (or fails) later. While it is in flight the
order stays pending: checkout and cancel answer 409 `payment_processing`, the order detail says
so, and the payment window does not cancel it; success pays it once, failure lets the buyer
check out again on a new page."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from quart.typing import TestClientProtocol
from sqlalchemy import text

from tests.commerce.conftest import open_shop
from tests.commerce.support import (
    GOOD_CARD,
    Buyer,
    Shop,
    buyer,
    eventually,
    movies,
    order_row,
    order_status_becomes,
    pending_order,
    rows,
    signed,
)
from tests.commerce.test_reconcile import _reconcile
from tests.conftest import Stack, StripeEmulator
from tests.support import wait_for_mail
from tests.workflows.support import history_text, maybe_record
from workflows.checkout import CheckoutWorkflow
from workflows.ids import checkout_workflow_id
from workflows.reconcile_messages import ReconcileResult

ASYNC_SUCCEEDS = "4000000000006009"
ASYNC_FAILS = "4000000000006017"
SETTLE = 61  # the emulator settles a delayed payment a minute after the page completed


async def _detail(shop: Shop, me: Buyer, order_id: int) -> dict[str, Any]:
    response = await shop.http.get(f"/orders/{order_id}/", headers=me.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _processing(shop: Shop, me: Buyer, order_id: int) -> bool:
    checkout = (await _detail(shop, me, order_id))["checkout"]
    return bool(checkout and checkout["payment_processing"])


async def _pay_delayed(shop: Shop, me: Buyer, order_id: int, card: str) -> str:
    page = await shop.checkout_ok(me, order_id)
    paid = await shop.pay(page["session_id"], card)
    assert paid.status_code == 200, paid.text
    assert paid.json()["session"]["payment_status"] == "unpaid"
    await eventually(
        lambda: _processing(shop, me, order_id), what="the order shows the payment processing"
    )
    return str(page["session_id"])


async def _landing(shop: Shop, session_id: str) -> str:
    """The status Stripe's success page (where the buyer comes back to) shows."""
    response = await shop.http.get("/payments/success/", params={"session_id": session_id})
    assert response.status_code == 200, response.text
    return str(response.json()["status"])


async def _refused_while_processing(shop: Shop, me: Buyer, order_id: int) -> None:
    for response in (
        await shop.checkout(me, order_id),
        await shop.http.post(
            "/payments/checkout-session/", json={"order_id": order_id}, headers=me.headers
        ),
        await shop.http.post(f"/orders/cancel/{order_id}/", headers=me.headers),
    ):
        assert response.status_code == 409, response.text
        assert response.json()["error"] == "payment_processing"
        assert response.json()["order_id"] == order_id
    assert (await order_row(shop.stack, order_id)).status == "pending"


async def _settle_at_stripe(shop: Shop) -> None:
    advanced = await shop.emu.post("/_emulator/clock/advance", json={"seconds": SETTLE})
    assert advanced.status_code == 200, advanced.text


async def test_a_delayed_payment_in_flight_refuses_checkout_and_cancel_then_pays_once(
    client: TestClientProtocol, stack: Stack, shop: Shop
) -> None:
    me = await buyer(client, stack)
    films = await movies(client, stack, "9.99", "4.50")
    order_id = await pending_order(client, me, films)
    session_id = await _pay_delayed(shop, me, order_id, ASYNC_SUCCEEDS)
    detail = await _detail(shop, me, order_id)
    assert detail["status"] == "pending" and detail["payment"] is None
    assert detail["checkout"]["session_id"] == session_id
    await _refused_while_processing(shop, me, order_id)
    assert await _landing(shop, session_id) == "payment_processing"

    await _settle_at_stripe(shop)
    await order_status_becomes(stack, order_id, "paid")
    payments = await rows(stack, "SELECT amount, applied FROM payments WHERE order_id = :o",
                          o=order_id)  # fmt: skip
    assert [(str(a), applied) for a, applied in payments] == [("14.49", True)]
    owned = await rows(stack, "SELECT movie_id FROM purchases WHERE user_id = :u", u=me.id)
    assert sorted(m for (m,) in owned) == sorted(f["id"] for f in films)
    await wait_for_mail(stack.mail, me.email, "receipt")
    assert not await _processing(shop, me, order_id)
    handle = stack.client.get_workflow_handle(checkout_workflow_id(order_id))
    status = await handle.query(CheckoutWorkflow.status)
    assert status.sessions_made == 1 and status.processing_session_id is None
    await asyncio.wait_for(handle.result(), timeout=30)
    assert me.email not in history_text(await handle.fetch_history())
    await maybe_record(handle, "checkout_async_payment_succeeded")


async def test_a_failed_delayed_payment_lets_the_buyer_check_out_again(
    client: TestClientProtocol, stack: Stack, shop: Shop
) -> None:
    me = await buyer(client, stack)
    films = await movies(client, stack, "3.00")
    order_id = await pending_order(client, me, films)
    first = await _pay_delayed(shop, me, order_id, ASYNC_FAILS)
    await _refused_while_processing(shop, me, order_id)

    await _settle_at_stripe(shop)

    async def not_processing() -> bool:
        return not await _processing(shop, me, order_id)

    await eventually(not_processing, what="the failed payment is no longer processing")
    assert (await order_row(stack, order_id)).status == "pending"
    assert await _landing(shop, first) == "pending"  # that payment failed
    # Stripe's `completed` (unpaid) of that page, delivered late (after a failed delivery was
    # retried): it must not put the order back into processing.
    stale = {
        "id": f"evt_stale_completed_{order_id}",
        "object": "event",
        "type": "checkout.session.completed",
        "created": int(time.time()),
        "data": {"object": await shop.stripe_get(f"/checkout/sessions/{first}")},
    }
    body, signature = signed(shop.emulator.webhook_secret, stale)
    delivered = await shop.http.post(
        "/payments/webhook/",
        content=body,
        headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
    )
    assert delivered.status_code == 200, delivered.text
    again = await shop.checkout_ok(me, order_id)
    assert again["session_id"] != first  # a new page: the old one is complete at Stripe
    paid = await shop.pay(again["session_id"], GOOD_CARD)
    assert paid.status_code == 200, paid.text
    await order_status_becomes(stack, order_id, "paid")
    payments = await rows(stack, "SELECT stripe_checkout_session_id FROM payments "
                          "WHERE order_id = :o", o=order_id)  # fmt: skip
    assert [s for (s,) in payments] == [again["session_id"]]
    handle = stack.client.get_workflow_handle(checkout_workflow_id(order_id))
    await asyncio.wait_for(handle.result(), timeout=30)
    await maybe_record(handle, "checkout_async_payment_failed_then_paid")


async def test_the_payment_window_waits_for_money_in_flight_up_to_its_cap(
    client: TestClientProtocol, stack: Stack, stripe_emulator: StripeEmulator
) -> None:
    window, cap = 6, 14
    async with open_shop(
        stack,
        stripe_emulator,
        checkout_payment_window_seconds=window,
        checkout_async_payment_max_wait_seconds=cap,
    ) as shop:
        me = await buyer(client, stack)
        order_id = await pending_order(client, me, await movies(client, stack, "2.00"))
        started = time.monotonic()
        await _pay_delayed(shop, me, order_id, ASYNC_SUCCEEDS)
        # Past the payment window: still pending, and the buyer still cannot cancel.
        await asyncio.sleep(max(0.0, started + window + 2 - time.monotonic()))
        await _refused_while_processing(shop, me, order_id)
        # Past the cap the order is cancelled as expired (money landing later is refunded).
        cancelled = await order_status_becomes(stack, order_id, "cancelled", timeout=cap + 15)
        assert cancelled.cancel_reason == "expired"
        assert not await _processing(shop, me, order_id)


async def test_a_delayed_payment_whose_success_webhook_was_lost_is_reconciled(
    client: TestClientProtocol, stack: Stack, shop: Shop
) -> None:
    me = await buyer(client, stack)
    order_id = await pending_order(client, me, await movies(client, stack, "5.00"))
    session_id = await _pay_delayed(shop, me, order_id, ASYNC_SUCCEEDS)
    # While the money is in flight, reconciling finds nothing to record.
    assert await _reconcile(shop, order_id) == ReconcileResult(checked=1, still_open=1)
    # Its payment_intent.succeeded and async_payment_succeeded are both lost.
    await shop.fault("webhooks", "drop", count=2)
    await _settle_at_stripe(shop)

    async def paid_at_stripe() -> bool:
        session = await shop.stripe_get(f"/checkout/sessions/{session_id}")
        return bool(session["payment_status"] == "paid")

    await eventually(paid_at_stripe, what="Stripe has the money")
    await asyncio.sleep(1)
    assert (await order_row(stack, order_id)).status == "pending"

    assert await _reconcile(shop, order_id) == ReconcileResult(checked=1, recorded_paid=1)
    await order_status_becomes(stack, order_id, "paid")
    assert not await _processing(shop, me, order_id)


async def test_a_run_replacing_a_lost_one_waits_for_the_payment_in_flight(
    client: TestClientProtocol, stack: Stack, shop: Shop
) -> None:
    me = await buyer(client, stack)
    order_id = await pending_order(client, me, await movies(client, stack, "8.00"))
    session_id = await _pay_delayed(shop, me, order_id, ASYNC_SUCCEEDS)
    handle = stack.client.get_workflow_handle(checkout_workflow_id(order_id))
    since = (await handle.query(CheckoutWorkflow.status)).processing_since
    assert since is not None
    await asyncio.sleep(2)  # the replacement starts well after the money went in flight
    await handle.terminate("test: the run is lost")

    # No run: the cancel starts one (the money in flight is for a run to decide on, not a plain
    # cancel), which refuses as the lost run would have; so do checkouts.
    cancel = await shop.http.post(f"/orders/cancel/{order_id}/", headers=me.headers)
    assert cancel.status_code == 409, cancel.text
    assert cancel.json()["error"] == "payment_processing"
    await _refused_while_processing(shop, me, order_id)
    replacement = stack.client.get_workflow_handle(checkout_workflow_id(order_id))
    status = await replacement.query(CheckoutWorkflow.status)
    assert status.processing_session_id == session_id and status.sessions_made == 0
    # It waits counting from when the money went in flight, not from its own start.
    assert status.processing_since is not None
    assert abs((status.processing_since - since).total_seconds()) < 1

    await _settle_at_stripe(shop)
    await order_status_becomes(stack, order_id, "paid")
    payments = await rows(stack, "SELECT stripe_checkout_session_id, amount, applied "
                          "FROM payments WHERE order_id = :o", o=order_id)  # fmt: skip
    assert [(s, str(a), applied) for s, a, applied in payments] == [(session_id, "8.00", True)]
    await wait_for_mail(stack.mail, me.email, "receipt")
    assert not await _processing(shop, me, order_id)
    await asyncio.wait_for(replacement.result(), timeout=30)
    assert me.email not in history_text(await replacement.fetch_history())
    await maybe_record(replacement, "checkout_async_payment_adopted")


async def test_payments_in_flight_do_not_starve_an_open_session_out_of_reconciling(
    client: TestClientProtocol, stack: Stack, shop: Shop
) -> None:
    in_flight = []
    for price in ("2.00", "3.00"):
        payer = await buyer(client, stack)
        order_id = await pending_order(client, payer, await movies(client, stack, price))
        in_flight.append(await _pay_delayed(shop, payer, order_id, ASYNC_SUCCEEDS))
    me = await buyer(client, stack)
    order_id = await pending_order(client, me, await movies(client, stack, "6.00"))
    lost = (await shop.checkout_ok(me, order_id))["session_id"]
    await shop.fault("webhooks", "drop", count=2)  # its payment's webhooks are lost
    assert (await shop.pay(lost)).status_code == 200
    await asyncio.sleep(1)
    assert (await order_row(stack, order_id)).status == "pending"
    # All three sessions are years old; every other test's are younger than the minimum age
    # below, so the batch is these three alone, the in-flight ones oldest by id.
    async with stack.sessions() as session, session.begin():
        await session.execute(
            text(
                "UPDATE checkout_sessions SET created_at = now() - interval '11 years' "
                "WHERE stripe_session_id = ANY(:s)"
            ),
            {"s": [*in_flight, lost]},
        )

    result = await _reconcile(shop, None, min_age_seconds=10 * 365 * 86400, batch_size=2)

    assert result == ReconcileResult(checked=2, recorded_paid=1, still_open=1)
    await order_status_becomes(stack, order_id, "paid")
