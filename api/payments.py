"""Payments: open a checkout, the Stripe webhook, the caller's payments, and the landing pages
Stripe sends the buyer back to."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel, Field, ValidationError
from quart import Blueprint, request
from quart_schema import (
    document_request,
    security_scheme,
    tag_blueprint,
    validate_querystring,
    validate_response,
)

from api.auth import current_user, require_user
from api.checkout import CheckoutSessionOut, open_checkout
from api.pagination import PageLinks, PageQuery, page_links
from api.schemas import BEARER, MONEY, MessageResponse, Strict, error_responses
from api.services import services
from domain.db import MAX_ID, transaction
from domain.errors import InvalidFields
from domain.models import OrderStatus
from domain.payments import service as payments
from domain.payments.errors import InvalidWebhookSignature
from domain.payments.handoff import deliver_event
from domain.stripe import InvalidWebhook, StripeFailure

bp = Blueprint("payments", __name__, url_prefix="/payments")
tag_blueprint(bp, ["payments"])
M = TypeVar("M", bound=BaseModel)


class CheckoutSessionBody(Strict):
    order_id: int | None = Field(
        default=None, ge=1, le=MAX_ID, description="Default: your pending order."
    )


class RefundOut(BaseModel):
    id: int
    amount: Decimal
    status: str


class PaymentOut(BaseModel):
    id: int
    order_id: int
    amount: Decimal = Field(description=MONEY)
    currency: str
    status: str = Field(description="successful | partially_refunded | refunded")
    applied: bool = Field(
        description="False for a payment that came when its order could no longer be paid "
        "(it is refunded automatically)."
    )
    refunded_amount: Decimal
    stripe_checkout_session_id: str
    stripe_payment_intent_id: str | None
    created_at: datetime
    refunds: list[RefundOut]


class PaymentList(PageLinks):
    payments: list[PaymentOut]


class SuccessQuery(Strict):
    session_id: str = Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9_]+$")


class CancelQuery(Strict):
    order_id: int = Field(ge=1, le=MAX_ID)


class LandingOut(BaseModel):
    order_id: int
    status: str = Field(
        description="pending | processing (Stripe took the payment; we are recording it) | "
        "payment_processing (a delayed payment such as a bank debit is on its way) | "
        "paid | cancelled | refunded"
    )
    message: str


MESSAGES = {
    "pending": "The order is waiting for its payment.",
    "processing": "Payment received; your order is being confirmed.",
    "payment_processing": "Your payment is on its way (this can take a few days with a bank "
    "debit); the order is confirmed when it arrives.",
    "paid": "Payment was successful! Thank you!",
    "cancelled": "The order was cancelled.",
    "refunded": "The order was refunded.",
}


async def _optional_body(model: type[M]) -> M:
    """The JSON body, or the model's defaults when no body was sent."""
    if not (await request.get_data()).strip():
        return model()
    try:
        return model.model_validate(await request.get_json())
    except ValidationError as exc:
        raise InvalidFields.from_validation(exc, "body") from None


@bp.post("/checkout-session/")
@require_user
@document_request(CheckoutSessionBody)
@validate_response(CheckoutSessionOut, 200)
@error_responses(400, 401, 404, 409, 422, 502, 503)
@security_scheme(BEARER)
async def checkout_session() -> CheckoutSessionOut:
    """The Stripe payment page of your pending order (or of `order_id`; the body is optional).

    404 `no_pending_order` when you have none. See `POST /orders/{order_id}/checkout/`.
    """
    body = await _optional_body(CheckoutSessionBody)
    return await open_checkout(current_user().id, body.order_id)


@bp.post("/webhook/")
@validate_response(MessageResponse, 200)
@error_responses(400, 503)
async def webhook() -> MessageResponse:
    """Stripe's events (signed with the endpoint secret).

    Each event is recorded once before the answer, then handed to its workflow; 5xx when it
    could not be, so Stripe retries. 400 `invalid_signature` (nothing recorded) for a missing
    or bad signature. Unknown event types are acknowledged and ignored.
    """
    svc = services()
    raw = await request.get_data(as_text=False)  # the signature covers the raw bytes
    body = raw.encode() if isinstance(raw, str) else raw  # (typing only: as_text=False)
    try:
        event = svc.stripe.parse_webhook(body, request.headers.get("Stripe-Signature"))
    except InvalidWebhook as exc:
        raise InvalidWebhookSignature(str(exc)) from None
    await deliver_event(svc.sessions, svc.settings, svc.temporal, event)
    return MessageResponse(message="Webhook handled")


@bp.get("/")
@require_user
@validate_querystring(PageQuery)
@validate_response(PaymentList, 200)
@error_responses(401, 422, 503)
@security_scheme(BEARER)
async def list_payments(query_args: PageQuery) -> dict[str, Any]:
    """Your payments, newest first, with their refunds."""
    async with transaction(services().sessions) as session:
        rows, total = await payments.list_payments(
            session, current_user().id, query_args.per_page, query_args.offset
        )
    return {"payments": rows, **page_links(query_args, total)}


@bp.get("/success/")
@validate_querystring(SuccessQuery)
@validate_response(LandingOut, 200)
@error_responses(404, 422, 503)
async def success(query_args: SuccessQuery) -> LandingOut:
    """Where Stripe sends the buyer after paying: the order's real state (no login needed; no
    personal data). `processing` while Stripe has the payment and the webhook has not landed;
    `payment_processing` while a delayed payment (a bank debit) is on its way.
    """
    svc = services()
    async with transaction(svc.sessions) as session:
        order = await payments.order_of_session(session, query_args.session_id)
    status = order.status
    if status == OrderStatus.PENDING:
        try:
            info = await svc.stripe.retrieve_checkout_session(query_args.session_id)
        except StripeFailure:
            info = None  # the order's own state is still a true answer
        if info is not None and info.payment_status == "paid":
            status = "processing"
        elif info is not None and info.status == "complete":
            # A delayed method (a bank debit): the money is on its way, unless it failed.
            async with transaction(svc.sessions) as session:
                if await payments.delayed_payment_may_be_in_flight(session, info.id):
                    status = "payment_processing"
    return LandingOut(order_id=order.id, status=status, message=MESSAGES[status])


@bp.get("/cancel/")
@validate_querystring(CancelQuery)
@validate_response(LandingOut, 200)
@error_responses(404, 422, 503)
async def cancelled(query_args: CancelQuery) -> LandingOut:
    """Where Stripe sends the buyer who left the payment page: the order's real state (no
    login needed). The order stays pending until it is paid, cancelled or its time runs out."""
    async with transaction(services().sessions) as session:
        order = await payments.order_for_landing(session, query_args.order_id)
    return LandingOut(order_id=order.id, status=order.status, message=MESSAGES[order.status])
