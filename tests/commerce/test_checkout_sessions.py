"""The Stripe pages of one order over the life of its checkout runs: a run that replaces a lost
one (terminated by an operator) takes over the page that run left open instead of opening a
second one, and a run notices by its own timer that its page expired when Stripe's webhook
never comes."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from quart.typing import TestClientProtocol
from sqlalchemy import text
from temporalio import activity
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from tests.commerce.conftest import open_shop
from tests.commerce.support import (
    Shop,
    buyer,
    eventually,
    movies,
    order_status_becomes,
    pending_order,
    rows,
)
from tests.conftest import Stack, StripeEmulator
from tests.workflows.support import activities_replacing, maybe_record
from workflows.checkout import CheckoutWorkflow
from workflows.checkout_messages import (
    CheckoutResult,
    CheckoutStatus,
    CreateCheckoutSession,
    CreatedCheckoutSession,
)
from workflows.checkout_policy import CREATE_SESSION
from workflows.ids import checkout_workflow_id

_SET_EXPIRY = "UPDATE checkout_sessions SET expires_at = :at WHERE stripe_session_id = :s"


async def _pages(shop: Shop, order_id: int) -> dict[str, str]:
    """The order's Stripe pages and their status, as Stripe has them."""
    listed = await shop.stripe_get("/checkout/sessions", limit=100)
    return {
        s["id"]: s["status"]
        for s in listed["data"]
        if s["metadata"].get("order_id") == str(order_id)
    }


def _checkout(stack: Stack, order_id: int) -> WorkflowHandle[Any, CheckoutResult]:
    """The order's checkout: its latest run."""
    return stack.client.get_workflow_handle(
        checkout_workflow_id(order_id), result_type=CheckoutResult
    )


async def _status(stack: Stack, order_id: int) -> CheckoutStatus:
    return await _checkout(stack, order_id).query(CheckoutWorkflow.status)


# --- a run that replaces a lost one ---------------------------------------------------------
async def test_a_run_replacing_a_lost_one_hands_out_the_page_already_open(
    client: TestClientProtocol, stack: Stack, shop: Shop
) -> None:
    me = await buyer(client, stack)
    order_id = await pending_order(client, me, await movies(client, stack, "5.00"))
    first = await shop.checkout_ok(me, order_id)
    await _checkout(stack, order_id).terminate("test: the run is lost")

    again = await shop.checkout_ok(me, order_id)

    # The same page, and Stripe holds that one page for the order: no second one can take money.
    assert again == first
    assert await _pages(shop, order_id) == {first["session_id"]: "open"}
    status = await _status(stack, order_id)
    assert (status.sessions_adopted, status.sessions_made) == (1, 0)
    assert status.current_session_id == first["session_id"]
    # The new run watches that page: paying it pays the order.
    assert (await shop.pay(first["session_id"])).status_code == 200
    await order_status_becomes(stack, order_id, "paid")
    handle = _checkout(stack, order_id)
    assert (await handle.result()).outcome == "paid"
    await maybe_record(handle, "checkout_adopted_lost_run_page")


async def test_cancel_after_a_lost_run_closes_the_page_it_left_open(
    client: TestClientProtocol, stack: Stack, shop: Shop
) -> None:
    """No run is left to ask, but a page is: the cancel closes it at Stripe first (through a
    new run), so the order is cancelled and nothing can be paid on that page any more."""
    me = await buyer(client, stack)
    order_id = await pending_order(client, me, await movies(client, stack, "5.00"))
    first = await shop.checkout_ok(me, order_id)
    await _checkout(stack, order_id).terminate("test: the run is lost")

    response = await shop.http.post(f"/orders/cancel/{order_id}/", headers=me.headers)

    assert response.status_code == 200, response.text
    assert response.json() == {"message": "Order cancelled.", "status": "cancelled"}
    assert await _pages(shop, order_id) == {first["session_id"]: "expired"}
    assert (await shop.pay(first["session_id"])).status_code == 400  # takes no money now
    assert await rows(stack, "SELECT status FROM orders WHERE id = :o", o=order_id) == [
        ("cancelled",)
    ]


async def test_cancel_without_any_page_needs_no_run(
    client: TestClientProtocol, stack: Stack, shop: Shop
) -> None:
    me = await buyer(client, stack)
    order_id = await pending_order(client, me, await movies(client, stack, "5.00"))
    response = await shop.http.post(f"/orders/cancel/{order_id}/", headers=me.headers)
    assert response.status_code == 200, response.text
    with pytest.raises(RPCError) as no_run:  # no run was started for it
        await stack.client.get_workflow_handle(checkout_workflow_id(order_id)).describe()
    assert no_run.value.status == RPCStatusCode.NOT_FOUND


async def test_a_lost_runs_page_about_to_expire_is_closed_at_stripe_before_a_new_one(
    client: TestClientProtocol, stack: Stack, shop: Shop
) -> None:
    me = await buyer(client, stack)
    order_id = await pending_order(client, me, await movies(client, stack, "5.00"))
    old = (await shop.checkout_ok(me, order_id))["session_id"]
    await _checkout(stack, order_id).terminate("test: the run is lost")
    # Time passed while no run watched: our row says the page expires in 30 s (Stripe's own
    # minimum is 30 minutes, too long for a test), too close to hand out (REUSE_MARGIN).
    async with stack.sessions() as session, session.begin():
        await session.execute(
            text(_SET_EXPIRY), {"s": old, "at": datetime.now(UTC) + timedelta(seconds=30)}
        )

    new = (await shop.checkout_ok(me, order_id))["session_id"]

    assert new != old
    assert await _pages(shop, order_id) == {old: "expired", new: "open"}
    # The run expired the old page itself (an API call, not Stripe's clock), before making the
    # new one.
    [expired] = (await shop.stripe_get("/events", type="checkout.session.expired"))["data"]
    assert expired["data"]["object"]["id"] == old
    assert expired["request"]["id"] is not None
    new_page = await shop.stripe_get(f"/checkout/sessions/{new}")
    assert expired["created"] <= new_page["created"]
    assert await rows(
        stack,
        "SELECT stripe_session_id, status FROM checkout_sessions WHERE order_id = :o ORDER BY id",
        o=order_id,
    ) == [(old, "expired"), (new, "open")]
    status = await _status(stack, order_id)
    assert (status.sessions_adopted, status.sessions_made) == (1, 1)


# --- the run's own expiry timer ---------------------------------------------------------------
def _pages_expiring_in(
    stack: Stack, seconds: int, pages: set[int] | None = None
) -> tuple[Callable[[Any], list[Any]], list[str]]:
    """Worker activities whose Stripe pages (the first, or those numbered in `pages`, counting
    from 1) expire, as the run sees them, `seconds` after they were made. Stripe's minimum is
    30 minutes, longer than a test can wait; the run's timer and what it does when it fires are
    what the tests are about. Returns the pages made (so shortened or not), in order."""
    real: dict[str, Callable[..., Any]] = {}
    made_pages: list[str] = []
    shorten = pages or {1}

    @activity.defn(name=CREATE_SESSION)
    async def short_lived(data: CreateCheckoutSession) -> CreatedCheckoutSession:
        made: CreatedCheckoutSession = await real[CREATE_SESSION](data)
        if made.session_id not in made_pages:  # a retry returns the same page
            made_pages.append(made.session_id)
        if made_pages.index(made.session_id) + 1 not in shorten:
            return made
        return dataclasses.replace(made, expires_at=datetime.now(UTC) + timedelta(seconds=seconds))

    def replacements(settings: Any) -> list[Any]:
        activities, found = activities_replacing(stack, settings, short_lived)
        real.update(found)
        return activities

    return replacements, made_pages


async def _expires_without_a_webhook(shop: Shop, session_id: str) -> None:
    """Stripe expires the page; its `checkout.session.expired` webhook is lost."""
    await shop.fault("webhooks", "drop", count=1)
    expired = await shop.emu.post(f"/_emulator/checkout/sessions/{session_id}/expire")
    assert expired.status_code == 200, expired.text


async def test_the_runs_timer_notices_an_expired_page_whose_webhook_never_came(
    client: TestClientProtocol, stack: Stack, stripe_emulator: StripeEmulator
) -> None:
    me = await buyer(client, stack)
    order_id = await pending_order(client, me, await movies(client, stack, "5.00"))
    replacements, made_pages = _pages_expiring_in(stack, 4)
    async with open_shop(
        stack, stripe_emulator, replacements=replacements, checkout_expiry_grace_seconds=2
    ) as shop:
        old = (await shop.checkout_ok(me, order_id))["session_id"]
        assert made_pages == [old]
        await _expires_without_a_webhook(shop, old)
        detail = (await shop.http.get(f"/orders/{order_id}/", headers=me.headers)).json()
        assert (detail["status"], detail["checkout"]["status"]) == ("pending", "open")

        async def noticed() -> CheckoutStatus | None:
            status = await _status(stack, order_id)
            return status if status.state == "awaiting_checkout" else None

        # At the page's expiry + grace (6 s) the run asks Stripe itself.
        status = await eventually(noticed, timeout=30, what="the run's timer closing the page")
        assert status.events_seen == 0  # no webhook told it
        assert (status.current_session_id, status.order_status) == (None, "pending")
        # The buyer sees the order still payable, its page closed...
        detail = (await shop.http.get(f"/orders/{order_id}/", headers=me.headers)).json()
        assert detail["status"] == "pending"
        assert (detail["checkout"]["session_id"], detail["checkout"]["status"]) == (old, "expired")
        # ...and the next checkout opens a new page, which takes the payment.
        new = (await shop.checkout_ok(me, order_id))["session_id"]
        assert new != old
        assert await _pages(shop, order_id) == {old: "expired", new: "open"}
        assert (await shop.pay(new)).status_code == 200
        await order_status_becomes(stack, order_id, "paid")
        handle = _checkout(stack, order_id)
        assert (await handle.result()).outcome == "paid"
        await maybe_record(handle, "checkout_expiry_timer")


async def test_the_runs_timer_cancels_the_order_when_no_time_is_left_for_a_new_page(
    client: TestClientProtocol, stack: Stack, stripe_emulator: StripeEmulator
) -> None:
    me = await buyer(client, stack)
    order_id = await pending_order(client, me, await movies(client, stack, "5.00"))
    replacements, _ = _pages_expiring_in(stack, 4)
    # A 62 s payment window: when the timer fires (~6 s) less than REUSE_MARGIN (60 s) is left.
    async with open_shop(
        stack,
        stripe_emulator,
        replacements=replacements,
        checkout_expiry_grace_seconds=2,
        checkout_payment_window_seconds=62,
    ) as shop:
        old = (await shop.checkout_ok(me, order_id))["session_id"]
        await _expires_without_a_webhook(shop, old)

        # Well before the 62 s deadline: the timer settled it.
        order = await order_status_becomes(stack, order_id, "cancelled", timeout=30)
        assert order.cancel_reason == "expired"
        status = await _status(stack, order_id)
        assert (status.state, status.events_seen) == ("cancelled", 0)
        detail = (await shop.http.get(f"/orders/{order_id}/", headers=me.headers)).json()
        assert (detail["status"], detail["checkout"]["status"]) == ("cancelled", "expired")
        refused = await shop.checkout(me, order_id)
        assert refused.status_code == 409, refused.text
        assert refused.json()["order_status"] == "cancelled"
        assert await _pages(shop, order_id) == {old: "expired"}


async def test_the_timer_also_watches_a_page_made_while_the_run_was_waiting(
    client: TestClientProtocol, stack: Stack, stripe_emulator: StripeEmulator
) -> None:
    """The first page expires with its webhook: the run then waits for its deadline (an hour
    away). The second page is made during that wait; its expiry must be watched all the same."""
    me = await buyer(client, stack)
    order_id = await pending_order(client, me, await movies(client, stack, "5.00"))
    replacements, _ = _pages_expiring_in(stack, 4, pages={2})
    async with open_shop(
        stack, stripe_emulator, replacements=replacements, checkout_expiry_grace_seconds=2
    ) as shop:
        first = (await shop.checkout_ok(me, order_id))["session_id"]
        expired = await shop.emu.post(f"/_emulator/checkout/sessions/{first}/expire")
        assert expired.status_code == 200, expired.text

        async def awaiting_checkout() -> CheckoutStatus | None:
            status = await _status(stack, order_id)
            return status if status.state == "awaiting_checkout" else None

        status = await eventually(awaiting_checkout, what="the expired event handled")
        assert status.events_seen == 1
        second = (await shop.checkout_ok(me, order_id))["session_id"]
        await _expires_without_a_webhook(shop, second)

        status = await eventually(
            awaiting_checkout, timeout=30, what="the run's timer closing the second page"
        )
        assert status.events_seen == 1  # the first page's event only
        detail = (await shop.http.get(f"/orders/{order_id}/", headers=me.headers)).json()
        assert detail["status"] == "pending"
        assert (detail["checkout"]["session_id"], detail["checkout"]["status"]) == (
            second,
            "expired",
        )
        assert await _pages(shop, order_id) == {first: "expired", second: "expired"}
        cancelled = await shop.http.post(f"/orders/cancel/{order_id}/", headers=me.headers)
        assert cancelled.status_code == 200, cancelled.text
        handle = _checkout(stack, order_id)
        assert (await handle.result()).outcome == "cancelled"
        await maybe_record(handle, "checkout_timer_rearmed")
