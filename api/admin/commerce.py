"""Admin views of every user's cart, orders, payments and refunds (read-only, newest first),
and refunding any paid order through the refund workflow."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field
from quart import Blueprint
from quart_schema import (
    security_scheme,
    tag_blueprint,
    validate_querystring,
    validate_request,
    validate_response,
)

from api.admin.common import (
    CreatedRangeQuery,
    admin_only,
    range_end,
    range_start,
    read_only,
)
from api.auth import current_user
from api.pagination import PageLinks, page_links
from api.refunds import RefundAccepted, accepted
from api.schemas import BEARER, MONEY, Strict, error_responses
from api.services import services
from domain.accounts.errors import UserNotFound
from domain.admin import commerce as admin_commerce
from domain.admin.refunds import request_admin_refund
from domain.db import MAX_ID, transaction
from domain.models import OrderStatus, PaymentStatus, RefundReason, RefundStatus

bp = Blueprint("admin_commerce", __name__, url_prefix="/admin")
tag_blueprint(bp, ["admin"])


class CartLineOut(BaseModel):
    movie_uuid: UUID
    movie_name: str
    price: Decimal = Field(description="The movie's current price. " + MONEY)
    added_at: datetime


class AdminCartOut(BaseModel):
    user_id: int
    items: list[CartLineOut] = Field(description="Newest first; empty when there is no cart.")


@bp.get("/carts/<int:user_id>/")
@admin_only
@validate_response(AdminCartOut, 200)
@error_responses(401, 403, 404, 503)
@security_scheme(BEARER)
async def cart(user_id: int) -> dict[str, Any]:
    """Any user's cart."""
    if user_id > MAX_ID:
        raise UserNotFound("User with the given id was not found.")
    async with read_only() as session:
        return {"user_id": user_id, "items": await admin_commerce.cart_of(session, user_id)}


class OrderQuery(CreatedRangeQuery):
    status: OrderStatus | None = None


class PaymentQuery(CreatedRangeQuery):
    status: PaymentStatus | None = None


class RefundQuery(CreatedRangeQuery):
    status: RefundStatus | None = None


class AdminOrderOut(BaseModel):
    id: int
    user_id: int
    email: str
    status: OrderStatus
    total_amount: Decimal = Field(description=MONEY)
    currency: str
    item_count: int
    created_at: datetime
    paid_at: datetime | None
    cancelled_at: datetime | None
    cancel_reason: str | None


class AdminPaymentOut(BaseModel):
    id: int
    order_id: int
    user_id: int
    email: str
    amount: Decimal = Field(description=MONEY)
    currency: str
    status: PaymentStatus
    refunded_amount: Decimal = Field(description=MONEY)
    applied: bool = Field(description="False: it came when the order could not take it.")
    stripe_payment_intent_id: str | None
    created_at: datetime


class AdminRefundOut(BaseModel):
    id: int
    order_id: int
    payment_id: int
    user_id: int
    email: str
    amount: Decimal = Field(description=MONEY)
    currency: str
    status: RefundStatus
    reason: RefundReason
    requested_by: int | None
    failure_reason: str | None
    created_at: datetime
    completed_at: datetime | None


class AdminOrderList(PageLinks):
    orders: list[AdminOrderOut]


class AdminPaymentList(PageLinks):
    payments: list[AdminPaymentOut]


class AdminRefundList(PageLinks):
    refunds: list[AdminRefundOut]


def _filter(query: CreatedRangeQuery, status: str | None) -> admin_commerce.RecordFilter:
    return admin_commerce.RecordFilter(
        user_id=query.user_id,
        email=query.normalised_email,
        status=status,
        created_from=range_start(query.created_from),
        created_before=range_end(query.created_to),
    )


@bp.get("/orders/")
@admin_only
@validate_querystring(OrderQuery)
@validate_response(AdminOrderList, 200)
@error_responses(401, 403, 422, 503)
@security_scheme(BEARER)
async def orders(query_args: OrderQuery) -> dict[str, Any]:
    """Every user's orders, newest first; filter by user (`user_id` or exact `email`),
    `status` and `created_from`/`created_to`."""
    async with read_only() as session:
        rows, total = await admin_commerce.list_orders(
            session, _filter(query_args, query_args.status), query_args.per_page, query_args.offset
        )
    return {"orders": rows, **page_links(query_args, total)}


@bp.get("/payments/")
@admin_only
@validate_querystring(PaymentQuery)
@validate_response(AdminPaymentList, 200)
@error_responses(401, 403, 422, 503)
@security_scheme(BEARER)
async def payments(query_args: PaymentQuery) -> dict[str, Any]:
    """Every user's payments, newest first, with the filters of the order list."""
    async with read_only() as session:
        rows, total = await admin_commerce.list_payments(
            session, _filter(query_args, query_args.status), query_args.per_page, query_args.offset
        )
    return {"payments": rows, **page_links(query_args, total)}


@bp.get("/refunds/")
@admin_only
@validate_querystring(RefundQuery)
@validate_response(AdminRefundList, 200)
@error_responses(401, 403, 422, 503)
@security_scheme(BEARER)
async def refunds(query_args: RefundQuery) -> dict[str, Any]:
    """Every refund, newest first, with the filters of the order list (the user is the
    payer)."""
    async with read_only() as session:
        rows, total = await admin_commerce.list_refunds(
            session, _filter(query_args, query_args.status), query_args.per_page, query_args.offset
        )
    return {"refunds": rows, **page_links(query_args, total)}


class AdminRefundBody(Strict):
    lines: list[UUID | int] | None = Field(
        default=None,
        min_length=1,
        max_length=1000,
        description="The lines to refund: movie uuids or order-item ids. Omitted: every line "
        "not refunded yet.",
    )


@bp.post("/orders/<int:order_id>/refund/")
@admin_only
@validate_request(AdminRefundBody)
@validate_response(RefundAccepted, 202)
@error_responses(401, 403, 404, 409, 422, 503)
@security_scheme(BEARER)
async def refund_order(order_id: int, data: AdminRefundBody) -> tuple[RefundAccepted, int]:
    """Refund any paid order, in full or by lines, with no refund window. Answers 202; the
    refund workflow asks Stripe and emails the buyer. 409s as the buyer's route
    (`order_not_paid`, `order_not_refundable`, `already_refunded`), and `refund_in_progress`
    (with `refund_id`) while another refund of the order is in flight; 422
    `unknown_order_items` for lines not in the order."""
    async with transaction(services().sessions) as session:
        opened = await request_admin_refund(
            session, order_id=order_id, admin_id=current_user().id, lines=data.lines
        )
    return await accepted(opened.refund, buyer_id=opened.buyer_id)
