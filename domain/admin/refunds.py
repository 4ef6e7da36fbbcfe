"""An admin refunds any paid order, in full or by lines, with no refund window and no
ownership check. The same refund rules as the buyer's path (domain/refunds): the payment is
locked, a line is refunded at most once, never more than was paid."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.models import Movie, Order, OrderItem, OrderStatus, Refund, RefundItem, RefundReason
from domain.payments.errors import OrderNotFound
from domain.refunds import repository as refunds_repo
from domain.refunds.errors import (
    AlreadyRefunded,
    OrderNotPaid,
    OrderNotRefundable,
    UnknownOrderItems,
)
from domain.refunds.service import open_refund

MAX_ORDER_ID = 2**63 - 1


async def _order_item_ids(
    session: AsyncSession, order_id: int, lines: list[UUID | int]
) -> list[int]:
    """Order-item ids for the named lines (an order-item id, or the uuid of the line's movie).
    A line not in this order is kept as an id no order has, so the refund reports it unknown."""
    uuids = [line for line in lines if isinstance(line, UUID)]
    found: dict[UUID, int] = {}
    if uuids:
        rows = await session.execute(
            select(Movie.uuid, OrderItem.id)
            .join(Movie, Movie.id == OrderItem.movie_id)
            .where(OrderItem.order_id == order_id, Movie.uuid.in_(uuids))
        )
        found = {movie_uuid: item_id for movie_uuid, item_id in rows.all()}
    missing = [u for u in uuids if u not in found]
    if missing:
        raise UnknownOrderItems(
            "Some movies to refund are not in this order.", movies=[str(u) for u in missing]
        )
    ids = [found[line] if isinstance(line, UUID) else line for line in lines]
    return list(dict.fromkeys(ids))  # the same line named twice is refunded once


async def _refund_item_ids(session: AsyncSession, refund_id: int) -> set[int]:
    rows = await session.execute(
        select(RefundItem.order_item_id).where(RefundItem.refund_id == refund_id)
    )
    return set(rows.scalars())


async def request_admin_refund(
    session: AsyncSession, *, order_id: int, admin_id: int, lines: list[UUID | int] | None
) -> Refund:
    order = None
    if 1 <= order_id <= MAX_ORDER_ID:
        query = select(Order).where(Order.id == order_id).with_for_update()
        order = (await session.execute(query)).scalar_one_or_none()
    if order is None:
        raise OrderNotFound()
    if order.status == OrderStatus.PENDING:
        raise OrderNotPaid()
    if order.status == OrderStatus.REFUNDED:
        raise AlreadyRefunded(
            "This order has been refunded already.", order_status=order.status.value
        )
    if order.status != OrderStatus.PAID:
        raise OrderNotRefundable(
            f"A {order.status.value} order cannot be refunded.", order_status=order.status.value
        )
    payment_id = await refunds_repo.applied_payment_id(session, order_id)
    if payment_id is None:
        raise OrderNotPaid("No payment of this order was found.")
    item_ids = None if lines is None else await _order_item_ids(session, order_id, lines)
    # A retried request (e.g. after a 503 once the row was committed) reaches the refund it
    # opened, so its workflow is started then; a different request is a 409 (open_refund).
    payment = await refunds_repo.lock_payment(session, payment_id)
    assert payment is not None
    in_flight = await refunds_repo.in_flight_refund(session, payment_id)
    if in_flight is not None:
        covered = await _refund_item_ids(session, in_flight.id)
        if item_ids is None:  # "everything left": what the other refunds do not cover
            others = await refunds_repo.refunded_line_ids(session, payment_id) - covered
            wanted = set(await refunds_repo.payment_lines(session, payment_id)) - others
        else:
            wanted = set(item_ids)
        if wanted == covered:
            return in_flight
    return await open_refund(
        session,
        payment_id=payment_id,
        reason=RefundReason.ADMIN,
        requested_by=admin_id,
        order_item_ids=item_ids,
    )
