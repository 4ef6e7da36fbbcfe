"""The Stripe pages of one order over the life of its checkout runs: a run that replaces a lost
one (terminated by an operator) takes over the page that run left open instead of opening a
second one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from quart.typing import TestClientProtocol
from sqlalchemy import text
from temporalio.client import WorkflowHandle

from tests.commerce.support import (
    Shop,
    buyer,
    movies,
    order_status_becomes,
    pending_order,
    rows,
)
from tests.conftest import Stack
from tests.workflows.support import maybe_record
from workflows.checkout import CheckoutWorkflow
from workflows.checkout_messages import (
    CheckoutResult,
    CheckoutStatus,
)
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
