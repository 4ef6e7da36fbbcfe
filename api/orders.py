"""Orders: made from the cart, listed, read in detail. Every route needs a logged-in user, and
another user's order answers exactly like one that does not exist (404 `order_not_found`).

The cancel, checkout and refund routes live with the code of their workflows; they load the
order through `domain.orders.service.get_order_for_user`."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field
from quart import Blueprint
from quart_schema import security_scheme, tag_blueprint, validate_querystring, validate_response

from api.auth import current_user, require_user
from api.order_watch import MAX_WAIT_SECONDS
from api.pagination import PageLinks, PageQuery, page_links
from api.schemas import BEARER, MONEY, error_responses
from api.services import services
from domain.db import transaction
from domain.models import (
    CheckoutSessionStatus,
    OrderStatus,
    PaymentStatus,
    RefundReason,
    RefundStatus,
)
from domain.orders import service as orders

bp = Blueprint("orders", __name__, url_prefix="/orders")
tag_blueprint(bp, ["orders"])


class OrderLine(BaseModel):
    movie_uuid: UUID
    movie_name: str
    price: Decimal = Field(description="The price when the order was made (what is charged).")


class PaymentOut(BaseModel):
    id: int
    amount: Decimal = Field(description=MONEY)
    currency: str
    status: PaymentStatus
    refunded_amount: Decimal = Field(description=MONEY)
    created_at: datetime


class RefundOut(BaseModel):
    id: int
    amount: Decimal = Field(description=MONEY)
    status: RefundStatus
    reason: RefundReason
    created_at: datetime
    completed_at: datetime | None


class CheckoutOut(BaseModel):
    session_id: str
    status: CheckoutSessionStatus
    expires_at: datetime
    payment_processing: bool = Field(
        default=False,
        description="The buyer paid with a delayed method (e.g. a bank debit) and the money "
        "is on its way: the order stays pending until it lands or fails.",
    )


class OrderOut(BaseModel):
    id: int
    status: OrderStatus
    total_amount: Decimal = Field(description="The sum of the lines' prices. " + MONEY)
    currency: str
    created_at: datetime
    paid_at: datetime | None
    cancelled_at: datetime | None
    cancel_reason: str | None
    items: list[OrderLine]
    payment: PaymentOut | None = Field(description="The payment that paid the order, or null.")
    refunds: list[RefundOut] = Field(description="Oldest first.")
    checkout: CheckoutOut | None = Field(description="The latest Stripe Checkout session.")


class OrderSummary(BaseModel):
    id: int
    status: OrderStatus
    total_amount: Decimal = Field(description=MONEY)
    currency: str
    created_at: datetime
    item_count: int


class OrderList(PageLinks):
    orders: list[OrderSummary]


class DetailQuery(BaseModel):
    wait: int = Field(
        default=0,
        ge=0,
        le=MAX_WAIT_SECONDS,
        description="Seconds (at most 20) to wait, when the order is pending, for its status or "
        "payment state to change; the answer comes as soon as it does, else after `wait` "
        "seconds with the order as it is. 0 (default): answer at once. Use it on the page the "
        "buyer sees after paying instead of polling.",
    )


class OrderQuery(PageQuery):
    status: OrderStatus | None = Field(default=None, description="Only orders in this status.")


@bp.post("/create/")
@require_user
@validate_response(OrderOut, 201)
@error_responses(401, 409, 503)
@security_scheme(BEARER)
async def create() -> tuple[dict[str, Any], int]:
    """Turn the cart into a pending order (no body). Each line keeps the price shown now; the
    cart is emptied in the same step.

    Refused with 409: an empty cart (`cart_empty`); a pending order already exists
    (`pending_order_exists`, with its `order_id`: pay or cancel it first); movies the caller
    owns (`movie_already_purchased`) or that were withdrawn from sale (`movie_archived`), each
    with the list of their uuids in `movies`.
    """
    svc = services()
    async with transaction(svc.sessions) as session:
        return await orders.create_order(session, current_user().id, svc.settings.currency), 201


@bp.get("/")
@require_user
@validate_querystring(OrderQuery)
@validate_response(OrderList, 200)
@error_responses(401, 422, 503)
@security_scheme(BEARER)
async def list_orders(query_args: OrderQuery) -> dict[str, Any]:
    """The caller's orders, newest first, optionally only those in one `status`."""
    async with transaction(services().sessions) as session:
        page = await orders.list_orders(
            session, current_user().id, query_args.status, query_args.per_page, query_args.offset
        )
    return {"orders": page.rows, **page_links(query_args, page.total)}


@bp.get("/<int:order_id>/")
@require_user
@validate_querystring(DetailQuery)
@validate_response(OrderOut, 200)
@error_responses(401, 404, 422, 503)
@security_scheme(BEARER)
async def detail(order_id: int, query_args: DetailQuery) -> dict[str, Any]:
    """One of the caller's orders: lines and prices, amounts, status, the payment, refunds and
    the latest checkout session.

    With `wait=N` a pending order's answer waits up to N seconds for the order to change (paid,
    cancelled, a delayed payment under way): one request instead of polling. Past 4 waits of
    one user at once (per API process) it answers after a second, unchanged: ask again then.
    """
    svc, user_id = services(), current_user().id

    async def read() -> dict[str, Any]:
        async with svc.autocommit.connect() as conn:  # one statement: no BEGIN/COMMIT
            return await orders.order_detail(conn, order_id, user_id)

    return await svc.order_watch.read_when_changed(order_id, user_id, read, query_args.wait)
