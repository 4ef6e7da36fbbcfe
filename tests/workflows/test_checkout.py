"""CheckoutWorkflow driven straight through Temporal (no Stripe session needed): Stripe events
are acted on once per event id, and the status query says what happened."""

from __future__ import annotations

import pytest
from quart.typing import TestClientProtocol
from temporalio.client import WorkflowExecutionStatus

from api.temporal import Temporal
from tests.commerce.support import buyer, movies, order_row, order_status_becomes, pending_order
from tests.conftest import Stack
from tests.workflows.support import eventually
from workflows.checkout import CheckoutWorkflow
from workflows.checkout_messages import CancelCheckout, CancelCheckoutResult, CheckoutResult
from workflows.ids import checkout_workflow_id, refund_workflow_id
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
    order_id = await pending_order(client, me, await movies(client, stack, "5.00"))
    temporal = Temporal(stack.settings, stack.client)
    start = checkout_start(stack.settings, order_id, me.id)
    # Signal-with-start, as the webhook does; the same event id twice, then another event.
    await temporal.signal(start, STRIPE_EVENT_SIGNAL, _decline("evt_1", "insufficient_funds"))
    await temporal.signal(start, STRIPE_EVENT_SIGNAL, _decline("evt_1", "insufficient_funds"))
    await temporal.signal(start, STRIPE_EVENT_SIGNAL, _decline("evt_2", "generic_decline"))
    handle = stack.client.get_workflow_handle(
        checkout_workflow_id(order_id), result_type=CheckoutResult
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


def _session_event(
    event_id: str, kind: str, payment_status: str, amount: int, order_id: int
) -> StripeEventSignal:
    return StripeEventSignal(
        event_id=event_id,
        type=kind,
        object_id=f"cs_test_{order_id}",
        payment_status=payment_status,
        amount_total=amount,
        currency="usd",
        payment_intent=f"pi_{event_id}",
    )


@pytest.mark.usefixtures("worker")
async def test_a_delayed_payment_counts_only_when_it_succeeds(
    client: TestClientProtocol, stack: Stack
) -> None:
    me = await buyer(client, stack)
    order_id = await pending_order(client, me, await movies(client, stack, "5.00"))
    temporal = Temporal(stack.settings, stack.client)
    start = checkout_start(stack.settings, order_id, me.id)
    handle = stack.client.get_workflow_handle(
        checkout_workflow_id(order_id), result_type=CheckoutResult
    )
    completed = "checkout.session.completed"
    await temporal.signal(
        start, STRIPE_EVENT_SIGNAL, _session_event("evt_a", completed, "unpaid", 500, order_id)
    )

    async def state_is(state: str) -> bool:
        return (await handle.query(CheckoutWorkflow.status)).state == state

    await eventually(lambda: state_is("awaiting_async_payment"), what="waiting for the money")
    assert (await order_row(stack, order_id)).status == "pending"
    succeeded = "checkout.session.async_payment_succeeded"
    await temporal.signal(
        start, STRIPE_EVENT_SIGNAL, _session_event("evt_b", succeeded, "paid", 500, order_id)
    )
    assert (await handle.result()).outcome == "paid"
    assert (await order_row(stack, order_id)).status == "paid"


@pytest.mark.usefixtures("worker")
async def test_a_payment_of_the_wrong_amount_is_not_applied(
    client: TestClientProtocol, stack: Stack
) -> None:
    me = await buyer(client, stack)
    order_id = await pending_order(client, me, await movies(client, stack, "5.00"))
    temporal = Temporal(stack.settings, stack.client)
    start = checkout_start(stack.settings, order_id, me.id)
    handle = stack.client.get_workflow_handle(
        checkout_workflow_id(order_id), result_type=CheckoutResult
    )
    completed = "checkout.session.completed"
    await temporal.signal(
        start, STRIPE_EVENT_SIGNAL, _session_event("evt_c", completed, "paid", 499, order_id)
    )

    async def refund_started() -> bool:
        return bool((await handle.query(CheckoutWorkflow.status)).refund_ids)

    await eventually(refund_started, what="the mismatched payment sent to a refund")
    status = await handle.query(CheckoutWorkflow.status)
    assert len(status.unapplied_payment_ids) == len(status.refund_ids) == 1
    assert (await order_row(stack, order_id)).status == "pending"
    # Its RefundWorkflow runs on: this test has no Stripe to refund at, so it is stopped here.
    refund = stack.client.get_workflow_handle(refund_workflow_id(status.refund_ids[0]))
    assert (await refund.describe()).status == WorkflowExecutionStatus.RUNNING
    await refund.terminate("test: no Stripe here")
    await temporal.update(
        checkout_workflow_id(order_id), "cancel", CancelCheckout(), result_type=CancelCheckoutResult
    )


@pytest.mark.usefixtures("worker")
async def test_a_session_recorded_for_another_order_never_pays_this_one(
    client: TestClientProtocol, stack: Stack
) -> None:
    films = await movies(client, stack, "5.00")
    temporal = Temporal(stack.settings, stack.client)
    first, second = await buyer(client, stack), await buyer(client, stack)
    paid_order = await pending_order(client, first, films)
    other_order = await pending_order(client, second, films)
    event = _session_event("evt_p", "checkout.session.completed", "paid", 500, paid_order)
    await temporal.signal(
        checkout_start(stack.settings, paid_order, first.id), STRIPE_EVENT_SIGNAL, event
    )
    await order_status_becomes(stack, paid_order, "paid")
    # The same Stripe session (and PaymentIntent) claimed for another order.
    event.event_id = "evt_q"
    await temporal.signal(
        checkout_start(stack.settings, other_order, second.id), STRIPE_EVENT_SIGNAL, event
    )
    handle = stack.client.get_workflow_handle(
        checkout_workflow_id(other_order), result_type=CheckoutResult
    )

    async def reported() -> bool:
        return bool((await handle.query(CheckoutWorkflow.status)).problems)

    await eventually(reported, what="the refused event reported")
    status = await handle.query(CheckoutWorkflow.status)
    assert status.problems == ["evt_q: PaymentOfAnotherOrder"] and status.payment_id is None
    assert (await order_row(stack, other_order)).status == "pending"
    await temporal.update(
        checkout_workflow_id(other_order),
        "cancel",
        CancelCheckout(),
        result_type=CancelCheckoutResult,
    )
