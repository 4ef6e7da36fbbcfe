"""The queries that settle a refund: its final state (compare-and-set, so settling twice changes
nothing), and what follows for its payment, its order and the purchases of its lines.

The caller has locked the order and then the payment (domain/refunds/repository.py, the lock
order) before the refund row changes here.
"""

from __future__ import annotations

from collections.abc import Collection
from decimal import Decimal

from sqlalchemy import delete, func, literal, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from domain.models import (
    Order,
    OrderItem,
    OrderStatus,
    Payment,
    PaymentStatus,
    Purchase,
    Refund,
    RefundItem,
    RefundStatus,
)
from domain.refunds.repository import IN_FLIGHT


async def finish_refund(
    session: AsyncSession,
    refund_id: int,
    status: RefundStatus,
    failure_reason: str | None,
    *,
    was: Collection[RefundStatus] = IN_FLIGHT,
) -> Refund | None:
    """`was` (requested/pending unless told) → `status`; None when the refund was in none of
    those states (final already, or never got there): nothing changes twice."""
    stmt = (
        update(Refund)
        .where(Refund.id == refund_id, Refund.status.in_(list(was)))
        .values(status=status, failure_reason=failure_reason, completed_at=func.now())
        .returning(Refund)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def release_amount(session: AsyncSession, payment_id: int, amount: Decimal) -> None:
    await session.execute(
        update(Payment)
        .where(Payment.id == payment_id)
        .values(refunded_amount=Payment.refunded_amount - amount)
    )


async def payment_follows(
    session: AsyncSession, refund_id: int, payment: Payment, order_id: int, *, succeeded: bool
) -> None:
    """After a refund of `payment` succeeded, or failed after it had succeeded: the payment's
    status follows what its succeeded refunds add up to now. For an applied payment, the
    purchases of the refund's lines go (succeeded) or come back (failed), and its order is
    refunded once the whole payment is, or paid again once it is not any more."""
    refunded = await _succeeded_total(session, payment.id)
    whole = refunded >= payment.amount
    if refunded <= 0:
        status = PaymentStatus.SUCCESSFUL
    elif whole:
        status = PaymentStatus.REFUNDED
    else:
        status = PaymentStatus.PARTIALLY_REFUNDED
    await session.execute(update(Payment).where(Payment.id == payment.id).values(status=status))
    if not payment.applied:
        return
    if succeeded:
        await _revoke_purchases(session, refund_id, payment.id)
        if whole:
            await _move_order(session, order_id, OrderStatus.PAID, OrderStatus.REFUNDED)
    else:
        await _restore_purchases(session, refund_id, payment)
        if not whole:
            await _move_order(session, order_id, OrderStatus.REFUNDED, OrderStatus.PAID)


async def _succeeded_total(session: AsyncSession, payment_id: int) -> Decimal:
    stmt = select(func.coalesce(func.sum(Refund.amount), 0)).where(
        Refund.payment_id == payment_id, Refund.status == RefundStatus.SUCCEEDED
    )
    return Decimal((await session.execute(stmt)).scalar_one())


async def _revoke_purchases(session: AsyncSession, refund_id: int, payment_id: int) -> None:
    """Delete the purchases this payment made for the refund's lines."""
    movies = (
        select(OrderItem.movie_id)
        .join(RefundItem, RefundItem.order_item_id == OrderItem.id)
        .where(RefundItem.refund_id == refund_id)
    )
    await session.execute(
        delete(Purchase).where(Purchase.payment_id == payment_id, Purchase.movie_id.in_(movies))
    )


async def _restore_purchases(session: AsyncSession, refund_id: int, payment: Payment) -> None:
    """Give back the purchases a refund's lines had revoked (a movie the buyer owns again by
    another order stays as it is)."""
    user_id = select(Order.user_id).where(Order.id == payment.order_id).scalar_subquery()
    lines = (
        select(
            user_id,
            OrderItem.movie_id,
            literal(payment.order_id),
            literal(payment.id),
            RefundItem.amount,
        )
        .join(RefundItem, RefundItem.order_item_id == OrderItem.id)
        .where(RefundItem.refund_id == refund_id)
    )
    await session.execute(
        pg_insert(Purchase)
        .from_select(["user_id", "movie_id", "order_id", "payment_id", "price"], lines)
        .on_conflict_do_nothing(index_elements=[Purchase.user_id, Purchase.movie_id])
    )


async def _move_order(
    session: AsyncSession, order_id: int, was: OrderStatus, status: OrderStatus
) -> None:
    await session.execute(
        update(Order).where(Order.id == order_id, Order.status == was).values(status=status)
    )
