"""The refund queries of opening, submitting and reading a refund (settling one is in
domain/refunds/settlement.py). State changes are compare-and-set (`UPDATE … WHERE status IN …`),
so an activity that runs twice changes nothing the second time.

Locks are taken in one order, order → payment → refund, each `FOR NO KEY UPDATE` (the rows'
keys never change), so inserting a refund, which key-share-locks its order and payment through
the foreign keys, never deadlocks with a settle.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.models import (
    Order,
    Payment,
    PaymentItem,
    Refund,
    RefundItem,
    RefundReason,
    RefundStatus,
    User,
)

IN_FLIGHT = (RefundStatus.REQUESTED, RefundStatus.PENDING)


async def lock_order(
    session: AsyncSession, order_id: int, *, owner: int | None = None
) -> Order | None:
    """The order, locked; with `owner`, only if that user placed it (another user's order is
    neither found nor locked)."""
    stmt = select(Order).where(Order.id == order_id).with_for_update(key_share=True)
    if owner is not None:
        stmt = stmt.where(Order.user_id == owner)
    return (await session.execute(stmt)).scalar_one_or_none()


async def applied_payment_id(session: AsyncSession, order_id: int) -> int | None:
    stmt = select(Payment.id).where(Payment.order_id == order_id, Payment.applied.is_(True))
    return (await session.execute(stmt)).scalar_one_or_none()


async def lock_payment(session: AsyncSession, payment_id: int) -> Payment | None:
    stmt = select(Payment).where(Payment.id == payment_id).with_for_update(key_share=True)
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_payment(session: AsyncSession, payment_id: int) -> Payment | None:
    return await session.get(Payment, payment_id)


async def in_flight_refund(session: AsyncSession, payment_id: int) -> Refund | None:
    stmt = select(Refund).where(Refund.payment_id == payment_id, Refund.status.in_(IN_FLIGHT))
    return (await session.execute(stmt)).scalar_one_or_none()


async def live_refund_with_reason(
    session: AsyncSession, payment_id: int, reason: RefundReason
) -> Refund | None:
    stmt = (
        select(Refund)
        .where(
            Refund.payment_id == payment_id,
            Refund.reason == reason,
            Refund.status != RefundStatus.FAILED,
        )
        .order_by(Refund.id)
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def payment_lines(session: AsyncSession, payment_id: int) -> dict[int, Decimal]:
    """Every line the payment paid for: order_item_id → price paid."""
    stmt = select(PaymentItem.order_item_id, PaymentItem.price).where(
        PaymentItem.payment_id == payment_id
    )
    return {row.order_item_id: row.price for row in await session.execute(stmt)}


async def refunded_line_ids(session: AsyncSession, payment_id: int) -> set[int]:
    """The lines of this payment that a refund covers, unless that refund failed."""
    stmt = (
        select(RefundItem.order_item_id)
        .join(Refund, Refund.id == RefundItem.refund_id)
        .where(Refund.payment_id == payment_id, Refund.status != RefundStatus.FAILED)
    )
    return set((await session.execute(stmt)).scalars())


async def reserve_amount(session: AsyncSession, payment_id: int, amount: Decimal) -> None:
    """Count `amount` as refunded; the CHECK `refunded_amount <= amount` refuses too much."""
    await session.execute(
        update(Payment)
        .where(Payment.id == payment_id)
        .values(refunded_amount=Payment.refunded_amount + amount)
    )


async def insert_refund(
    session: AsyncSession,
    *,
    payment: Payment,
    amount: Decimal,
    reason: RefundReason,
    requested_by: int | None,
    lines: dict[int, Decimal],
) -> Refund:
    refund = Refund(
        payment_id=payment.id,
        order_id=payment.order_id,
        amount=amount,
        currency=payment.currency,
        status=RefundStatus.REQUESTED,
        reason=reason,
        requested_by=requested_by,
    )
    session.add(refund)
    await session.flush()
    if lines:
        await session.execute(
            insert(RefundItem),
            [
                {"refund_id": refund.id, "order_item_id": item_id, "amount": price}
                for item_id, price in lines.items()
            ],
        )
    return refund


async def get_refund(session: AsyncSession, refund_id: int) -> Refund | None:
    return await session.get(Refund, refund_id)


@dataclass(frozen=True)
class RefundToSubmit:
    refund: Refund
    payment_intent: str | None


async def refund_to_submit(session: AsyncSession, refund_id: int) -> RefundToSubmit | None:
    stmt = (
        select(Refund, Payment.stripe_payment_intent_id)
        .join(Payment, Payment.id == Refund.payment_id)
        .where(Refund.id == refund_id)
    )
    row = (await session.execute(stmt)).one_or_none()
    return None if row is None else RefundToSubmit(row[0], row[1])


async def note_retry(session: AsyncSession, refund_id: int, reason: str) -> None:
    """Say why Stripe has not accepted the refund yet (it is being retried)."""
    await session.execute(
        update(Refund)
        .where(Refund.id == refund_id, Refund.status == RefundStatus.REQUESTED)
        .values(failure_reason=reason)
    )


async def mark_pending(session: AsyncSession, refund_id: int, stripe_refund_id: str) -> bool:
    result = await session.execute(
        update(Refund)
        .where(Refund.id == refund_id, Refund.status == RefundStatus.REQUESTED)
        .values(status=RefundStatus.PENDING, stripe_refund_id=stripe_refund_id, failure_reason=None)
        .returning(Refund.id)
    )
    return result.scalar_one_or_none() is not None


async def refund_owner(session: AsyncSession, refund_id: int) -> tuple[int, int] | None:
    """(order id, user id) of a refund, for starting its workflow; None if no such refund."""
    stmt = (
        select(Refund.order_id, Order.user_id)
        .join(Order, Order.id == Refund.order_id)
        .where(Refund.id == refund_id)
    )
    row = (await session.execute(stmt)).one_or_none()
    return None if row is None else (int(row[0]), int(row[1]))


@dataclass(frozen=True)
class RefundNotice:
    """What the refund email needs."""

    email: str
    refund: Refund
    order_id: int


async def refund_notice(session: AsyncSession, refund_id: int) -> RefundNotice | None:
    stmt = (
        select(Refund, User.email)
        .join(Order, Order.id == Refund.order_id)
        .join(User, User.id == Order.user_id)
        .where(Refund.id == refund_id)
    )
    row = (await session.execute(stmt)).one_or_none()
    if row is None:
        return None
    refund, email = row
    return RefundNotice(email=email, refund=refund, order_id=refund.order_id)


def paid_since(order: Order, payment: Payment) -> datetime:
    return order.paid_at or payment.created_at
