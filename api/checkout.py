"""Checkout and cancel of one order: `POST /orders/{id}/checkout/`, `POST /orders/cancel/{id}/`.

Both talk to the order's CheckoutWorkflow (`checkout:{order_id}`) through updates: the first
answers the Stripe Checkout URL (update-with-start), the second whether the order was cancelled
or Stripe had already taken the payment. `open_checkout` also serves
`POST /payments/checkout-session/`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field
from quart import Blueprint
from quart_schema import security_scheme, tag_blueprint, validate_response

from api.auth import current_user, require_user
from api.schemas import BEARER, error_responses
from api.services import services
from api.temporal import Refusal
from domain.db import MAX_ID, autocommit, transaction
from domain.errors import ServiceUnavailable
from domain.payments import service as payments
from domain.payments.errors import (
    OrderNotFound,
    OrderPaid,
    PaymentProcessing,
    PaymentProviderError,
    PaymentProviderUnavailable,
)
from workflows.checkout_messages import (
    CancelCheckout,
    CancelCheckoutResult,
    CheckoutSessionRequest,
    CheckoutSessionResult,
)
from workflows.ids import checkout_workflow_id
from workflows.starts import checkout_start

bp = Blueprint("checkout", __name__)
tag_blueprint(bp, ["orders"])


class CheckoutSessionOut(BaseModel):
    checkout_url: str = Field(description="Stripe's hosted payment page for this order.")
    session_id: str = Field(description="The Stripe Checkout Session id (cs_...).")
    expires_at: datetime = Field(description="When the page stops taking payments.")


class CancelOut(BaseModel):
    message: str
    status: Literal["cancelled"]


def _known_id(order_id: int) -> int:
    if not 0 < order_id <= MAX_ID:  # beyond bigint: no such order
        raise OrderNotFound()
    return order_id


async def _refuse_settled(order_id: int) -> None:
    async with transaction(services().sessions) as session:
        await payments.refuse_settled(session, order_id)


async def open_checkout(user_id: int, order_id: int | None) -> CheckoutSessionOut:
    svc = services()
    async with autocommit(svc.sessions) as session:  # one read: no BEGIN/COMMIT
        order = await payments.payable_order(session, user_id, order_id)
    outcome = await svc.temporal.update(
        checkout_start(svc.settings, order.id, order.user_id),
        "checkout_session",
        CheckoutSessionRequest(),
        result_type=CheckoutSessionResult,
    )
    result = outcome.result
    if result is not None and result.error is None and result.expires_at is not None:
        return CheckoutSessionOut(
            checkout_url=result.checkout_url,
            session_id=result.session_id,
            expires_at=result.expires_at,
        )
    if result is not None and result.error == "payment_processing":
        raise PaymentProcessing(order_id=order.id)
    if result is not None and result.error == "payment_provider_error":
        raise PaymentProviderError()
    if result is not None and result.error == "payment_provider_unavailable":
        raise PaymentProviderUnavailable()
    # The run said the order is settled (paid, cancelled), or ended meanwhile.
    await _refuse_settled(order.id)
    raise ServiceUnavailable("The checkout is changing state; try again shortly.")


async def cancel_order(user_id: int, order_id: int) -> CancelOut:
    svc = services()
    async with transaction(svc.sessions) as session:
        order = await payments.cancellable_order(session, user_id, order_id)
    outcome = await svc.temporal.update(
        checkout_workflow_id(order.id),
        "cancel",
        CancelCheckout(reason="user"),
        result_type=CancelCheckoutResult,
    )
    if outcome.refused is Refusal.NO_RUN:
        async with transaction(svc.sessions) as session:
            pages_open = await payments.has_open_sessions(session, order.id)
            if not pages_open:
                # No checkout runs and no page is open: a plain compare-and-set.
                await payments.cancel_without_checkout(session, order.id)
                return CancelOut(message="Order cancelled.", status="cancelled")
        # A lost run left a page open: a new run closes it at Stripe before cancelling (a
        # payment that got in wins), as a running one would.
        outcome = await svc.temporal.update(
            checkout_start(svc.settings, order.id, order.user_id),
            "cancel",
            CancelCheckout(reason="user"),
            result_type=CancelCheckoutResult,
        )
    if outcome.result is not None and outcome.result.outcome == "paid":
        raise OrderPaid()
    elif outcome.result is not None and outcome.result.outcome == "payment_processing":
        raise PaymentProcessing(order_id=order.id)
    elif outcome.result is None or outcome.result.outcome != "cancelled":
        await _refuse_settled(order.id)
        raise ServiceUnavailable("The checkout is changing state; try again shortly.")
    return CancelOut(message="Order cancelled.", status="cancelled")


@bp.post("/orders/<int:order_id>/checkout/")
@require_user
@validate_response(CheckoutSessionOut, 200)
@error_responses(401, 404, 409, 502, 503)
@security_scheme(BEARER)
async def checkout(order_id: int) -> CheckoutSessionOut:
    """The Stripe payment page of one of your pending orders.

    Calling again returns the same open page; once a page has expired while the order is still
    pending, a new one is made. 404 for an order that is not yours; 409 `order_not_pending`
    (with the order's `order_status`) once it is paid or cancelled; 409 `payment_processing`
    (with `order_id`) while a delayed payment (e.g. a bank debit) is in flight: no second page
    then; if that payment fails, a new page can be had while the payment window is open.
    """
    return await open_checkout(current_user().id, _known_id(order_id))


@bp.post("/orders/cancel/<int:order_id>/")
@require_user
@validate_response(CancelOut, 200)
@error_responses(401, 404, 409, 503)
@security_scheme(BEARER)
async def cancel(order_id: int) -> CancelOut:
    """Cancel one of your pending orders.

    Its Stripe payment page is closed first; if Stripe had already taken the payment, the
    payment wins: 409 `order_paid` (the order is paid; ask for a refund). 409
    `order_not_pending` (with `order_status`) for an order already paid or cancelled; 409
    `payment_processing` (with `order_id`) while a delayed payment is in flight.
    """
    return await cancel_order(current_user().id, _known_id(order_id))
