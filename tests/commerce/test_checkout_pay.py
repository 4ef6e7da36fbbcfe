"""Pay an order end to end: checkout URL, the emulator's hosted payment, its webhook, the
order paid, the payment and purchases listed, and the receipt in the mailbox."""

from __future__ import annotations

import asyncio

from quart.typing import TestClientProtocol
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory

from tests.commerce.support import (
    DECLINED_CARD,
    Shop,
    buyer,
    eventually,
    movies,
    order_status_becomes,
    pending_order,
    rows,
)
from tests.conftest import Stack
from tests.support import html_of, text_of, wait_for_mail
from tests.workflows.support import history_text, maybe_record
from workflows.checkout import CheckoutWorkflow
from workflows.checkout_messages import CheckoutResult, CheckoutStatus
from workflows.checkout_policy import PATCHES_TO_2026_11_28
from workflows.ids import ORDER_ID, USER_ID, checkout_workflow_id


async def test_paying_makes_the_order_paid_lists_payment_and_purchases_and_mails_receipt(
    client: TestClientProtocol, stack: Stack, shop: Shop
) -> None:
    me = await buyer(client, stack)
    films = await movies(client, stack, "9.99", "4.50")
    order_id = await pending_order(client, me, films)

    first = await shop.checkout_ok(me, order_id)
    assert first["checkout_url"].startswith(shop.emulator.url)
    assert first["session_id"].startswith("cs_")
    # Calling again (or through /payments/checkout-session/) gives the same open page.
    assert (await shop.checkout_ok(me, order_id))["session_id"] == first["session_id"]
    again = await shop.http.post("/payments/checkout-session/", headers=me.headers)
    assert again.status_code == 200 and again.json()["session_id"] == first["session_id"]

    # Stripe was asked for exactly the snapshot prices, in minor units, with our ids.
    session = await shop.stripe_get(f"/checkout/sessions/{first['session_id']}")
    assert session["amount_total"] == 1449 and session["currency"] == "usd"
    assert session["metadata"] == {"order_id": str(order_id)}
    assert session["client_reference_id"] == str(me.id)
    assert session["customer_email"] == me.email
    assert session["success_url"] == (
        "http://cinema.test/payments/success/?session_id={CHECKOUT_SESSION_ID}"
    )
    assert session["cancel_url"] == f"http://cinema.test/payments/cancel/?order_id={order_id}"
    items = await shop.stripe_get(f"/checkout/sessions/{first['session_id']}/line_items")
    assert sorted(i["amount_total"] for i in items["data"]) == [450, 999]

    paid = await shop.pay(first["session_id"])
    assert paid.status_code == 200, paid.text
    await order_status_becomes(stack, order_id, "paid")

    landing = await shop.http.get("/payments/success/", params={"session_id": first["session_id"]})
    assert landing.json() == {
        "order_id": order_id,
        "status": "paid",
        "message": "Payment was successful! Thank you!",
    }
    listed = (await shop.http.get("/payments/", headers=me.headers)).json()
    assert listed["total_items"] == 1
    [payment] = listed["payments"]
    assert payment["order_id"] == order_id
    assert payment["amount"] == "14.49" and payment["currency"] == "usd"
    assert payment["applied"] is True and payment["status"] == "successful"
    assert payment["stripe_checkout_session_id"] == first["session_id"]
    assert payment["stripe_payment_intent_id"].startswith("pi_")
    assert payment["refunds"] == []
    owned = await rows(
        stack, "SELECT movie_id, price FROM purchases WHERE user_id = :u ORDER BY movie_id", u=me.id
    )
    assert sorted((m, str(p)) for m, p in owned) == sorted((f["id"], f["price"]) for f in films)

    [mail] = await wait_for_mail(stack.mail, me.email, "receipt")
    for part in (text_of(mail), html_of(mail)):
        assert films[0]["name"] in part and films[1]["name"] in part
        assert "9.99" in part and "4.50" in part and "14.49" in part
        assert f"http://cinema.test/orders/{order_id}/" in part

    # A paid order cannot be checked out again.
    refused = await shop.checkout(me, order_id)
    assert refused.status_code == 409
    assert refused.json()["error"] == "order_not_pending"
    assert refused.json()["order_status"] == "paid"

    handle = stack.client.get_workflow_handle(
        checkout_workflow_id(order_id), result_type=CheckoutResult
    )
    result = await handle.result()
    assert result.outcome == "paid" and result.payment_id == payment["id"]
    status = await handle.query(CheckoutWorkflow.status)
    assert isinstance(status, CheckoutStatus)
    assert status.sessions_made == 1 and status.payment_id == payment["id"]
    description = await handle.describe()
    assert await description.static_summary() == f"Checkout of order {order_id} (user {me.id})"
    attrs = description.typed_search_attributes
    assert attrs.get(ORDER_ID) == order_id and attrs.get(USER_ID) == me.id
    events = (await handle.fetch_history()).events
    history = history_text(WorkflowHistory(handle.id, events))
    assert me.email not in history  # no personal data in what operators read
    # A new run takes its patches on one marker (the bundle), not one marker and one
    # TemporalChangeVersion upsert per patch: each is a history event and a visibility write.
    markers = [
        e.marker_recorded_event_attributes.details["patch-data"]
        for e in events
        if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
        and e.marker_recorded_event_attributes.marker_name == "core_patch"
    ]
    assert [PATCHES_TO_2026_11_28 in m.payloads[0].data.decode() for m in markers] == [True]
    upserts = [
        e for e in events if e.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES
    ]
    assert len(upserts) == 1
    # Every step ran inside a workflow task, the receipt too (it went out at the first try):
    # no activity task travelled through the server.
    kinds = {e.event_type for e in events}
    assert EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED not in kinds
    await maybe_record(handle, "checkout_paid")


async def test_a_declined_card_leaves_the_order_pending_and_shows_the_decline(
    client: TestClientProtocol, stack: Stack, shop: Shop
) -> None:
    me = await buyer(client, stack)
    order_id = await pending_order(client, me, await movies(client, stack, "7.00"))
    session_id = (await shop.checkout_ok(me, order_id))["session_id"]

    declined = await shop.pay(session_id, DECLINED_CARD)
    assert declined.status_code == 402
    handle = stack.client.get_workflow_handle(checkout_workflow_id(order_id))

    async def decline_seen() -> bool:
        status = await handle.query(CheckoutWorkflow.status)
        return status.last_decline is not None

    await eventually(decline_seen, what="the decline in the workflow's status")
    status = await handle.query(CheckoutWorkflow.status)
    assert status.last_decline in ("generic_decline", "card_declined")
    await asyncio.sleep(0.5)
    assert (await rows(stack, "SELECT status FROM orders WHERE id = :o", o=order_id)) == [
        ("pending",)
    ]
    # The same page still takes a good card.
    assert (await shop.checkout_ok(me, order_id))["session_id"] == session_id
    assert (await shop.pay(session_id)).status_code == 200
    await order_status_becomes(stack, order_id, "paid")
