"""An admin refunds any paid order, in full or by lines, with no refund window and no
ownership check. The same checked, locked step as the buyer's path (domain/refunds/service.py
`lock_refundable_order`) and the same refund rules: a line is refunded at most once, never
more than was paid."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.models import Movie, OrderItem, Refund, RefundItem, RefundReason
from domain.refunds import repository as refunds_repo
from domain.refunds.errors import UnknownOrderItems
from domain.refunds.service import lock_refundable_order, open_refund


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


@dataclass(frozen=True)
class AdminRefund:
    refund: Refund
    buyer_id: int  # who placed the order (the refund workflow emails them)


async def request_admin_refund(
    session: AsyncSession, *, order_id: int, admin_id: int, lines: list[UUID | int] | None
) -> AdminRefund:
    """The buyer's checked, locked step (lock_refundable_order) without the owner and the
    refund window; then the named lines, or every line not refunded yet."""
    locked = await lock_refundable_order(session, order_id)
    buyer_id, payment_id = locked.order.user_id, locked.payment.id
    item_ids = None if lines is None else await _order_item_ids(session, order_id, lines)
    # A retried request (e.g. after a 503 once the row was committed) reaches the refund it
    # opened, so its workflow is started then; a different request is a 409 (open_refund).
    in_flight = locked.in_flight
    if in_flight is not None:
        covered = await _refund_item_ids(session, in_flight.id)
        if item_ids is None:  # "everything left": what the other refunds do not cover
            others = await refunds_repo.refunded_line_ids(session, payment_id) - covered
            wanted = set(await refunds_repo.payment_lines(session, payment_id)) - others
        else:
            wanted = set(item_ids)
        if wanted == covered:
            return AdminRefund(in_flight, buyer_id)
    refund = await open_refund(
        session,
        payment_id=payment_id,
        reason=RefundReason.ADMIN,
        requested_by=admin_id,
        order_item_ids=item_ids,
    )
    return AdminRefund(refund, buyer_id)
