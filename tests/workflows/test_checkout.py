"""CheckoutWorkflow driven straight through Temporal (no Stripe session needed): Stripe events
are acted on once per event id, and the status query says what happened."""

from __future__ import annotations

import pytest
from quart.typing import TestClientProtocol

from api.temporal import Temporal
from tests.commerce.support import buyer, movies, order_row, pending_order
from tests.conftest import Stack
from tests.workflows.support import eventually
from workflows.checkout import CheckoutWorkflow
from workflows.checkout_messages import CancelCheckout, CancelCheckoutResult
from workflows.ids import checkout_workflow_id
from workflows.starts import checkout_start
from workflows.stripe_events import STRIPE_EVENT_SIGNAL, StripeEventSignal


def _decline(event_id: str, reason: str) -> StripeEventSignal:
    return StripeEventSignal(
        event_id=event_id,
        type="payment_intent.payment_failed",
        object_id="pi_test",
        status="requires_payment_method",
        failure_reason=reason,
    )


@pytest.mark.usefixtures("worker")
async def test_each_stripe_event_acts_once_and_the_status_says_so(
    client: TestClientProtocol, stack: Stack
) -> None:
    me = await buyer(client, stack)
    order_id = await pending_order(stack, me.id, await movies(client, stack, "5.00"))
    temporal = Temporal(stack.settings, stack.client)
    start = checkout_start(stack.settings, order_id, me.id)
    # Signal-with-start, as the webhook does; the same event id twice, then another event.
    await temporal.signal(start, STRIPE_EVENT_SIGNAL, _decline("evt_1", "insufficient_funds"))
    await temporal.signal(start, STRIPE_EVENT_SIGNAL, _decline("evt_1", "insufficient_funds"))
    await temporal.signal(start, STRIPE_EVENT_SIGNAL, _decline("evt_2", "generic_decline"))
    handle = stack.client.get_workflow_handle_for(
        CheckoutWorkflow.run, checkout_workflow_id(order_id)
    )

    async def both_seen() -> bool:
        status = await handle.query(CheckoutWorkflow.status)
        return status.last_decline == "generic_decline"

    await eventually(both_seen, what="the second decline")
    status = await handle.query(CheckoutWorkflow.status)
    assert status.events_seen == 2
    assert (status.order_id, status.user_id, status.order_status) == (order_id, me.id, "pending")
    assert status.sessions_made == 0 and status.payment_id is None

    outcome = await temporal.update(
        checkout_workflow_id(order_id), "cancel", CancelCheckout(), result_type=CancelCheckoutResult
    )
    assert outcome.result == CancelCheckoutResult("cancelled", "cancelled")
    assert (await handle.result()).outcome == "cancelled"
    order = await order_row(stack, order_id)
    assert (order.status, order.cancel_reason) == ("cancelled", "user")
