"""Payment queries: recording a payment once, applying it to its order (the order paid, its
payment lines and purchases), the receipt, and the buyer's payments list."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, bindparam, exists, func, literal, select, true, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from domain.models import (
    Movie,
    Order,
    OrderItem,
    OrderStatus,
    Payment,
    PaymentItem,
    Purchase,
    Refund,
    User,
)
from domain.payments.repository import OrderLine, order_lines


async def insert_payment(
    session: AsyncSession,
    *,
    order_id: int,
    amount: Decimal,
    currency: str,
    stripe_session_id: str,
    payment_intent: str | None,
) -> int | None:
    """A new payment (not applied yet); None when this session's payment is recorded already."""
    source = select(
        Order.id,
        Order.user_id,
        literal(amount, Payment.amount.type),
        literal(currency),
        literal(False),
        literal(stripe_session_id),
        literal(payment_intent, Payment.stripe_payment_intent_id.type),
    ).where(Order.id == order_id)
    result = await session.execute(
        insert(Payment)
        .from_select(
            [
                "order_id",
                "user_id",
                "amount",
                "currency",
                "applied",
                "stripe_checkout_session_id",
                "stripe_payment_intent_id",
            ],
            source,
        )
        .on_conflict_do_nothing()
        .returning(Payment.id)
    )
    value = result.scalar_one_or_none()
    return None if value is None else int(value)


async def payment_of_session(
    session: AsyncSession, stripe_session_id: str, payment_intent: str | None
) -> tuple[int, int, bool] | None:
    """(id, order id, applied) of the payment recorded for this session (or PaymentIntent)."""
    condition = Payment.stripe_checkout_session_id == stripe_session_id
    if payment_intent:
        condition = condition | (Payment.stripe_payment_intent_id == payment_intent)
    query = select(Payment.id, Payment.order_id, Payment.applied).where(condition)
    row = (await session.execute(query)).first()
    return None if row is None else (int(row.id), int(row.order_id), bool(row.applied))


async def lock_order(session: AsyncSession, order_id: int) -> Order | None:
    result = await session.execute(select(Order).where(Order.id == order_id).with_for_update())
    return result.scalar_one_or_none()


def _apply_statement() -> Any:
    # No parameter is named like a column: SQLAlchemy would add it to an UPDATE's SET clause.
    order_id = bindparam("the_order", type_=BigInteger)
    payment_id = bindparam("the_payment", type_=BigInteger)
    paid = (
        update(Order)
        .where(Order.id == order_id, Order.status == OrderStatus.PENDING)
        .values(status=OrderStatus.PAID, paid_at=func.now())
        .returning(Order.user_id)
        .cte("paid")
    )
    lines = select(OrderItem).where(OrderItem.order_id == order_id).subquery("line")
    payment_items = (
        insert(PaymentItem)
        .from_select(
            ["payment_id", "order_item_id", "price"],
            select(payment_id, lines.c.id, lines.c.price).select_from(paid).join(lines, true()),
        )
        .on_conflict_do_nothing()
        .cte("payment_items")
    )
    purchases = (
        insert(Purchase)
        .from_select(
            ["user_id", "movie_id", "order_id", "payment_id", "price"],
            select(paid.c.user_id, lines.c.movie_id, order_id, payment_id, lines.c.price)
            .select_from(paid)
            .join(lines, true()),
        )
        .on_conflict_do_nothing(index_elements=[Purchase.user_id, Purchase.movie_id])
        .cte("purchases")
    )
    applied = (
        update(Payment)
        .where(Payment.id == payment_id, exists(select(paid.c.user_id)))
        .values(applied=true())
        .cte("applied")
    )
    return select(paid.c.user_id).add_cte(payment_items, purchases, applied)


# Built once: one statement, one round trip (was four).
_APPLY = _apply_statement()


async def apply_payment(session: AsyncSession, order_id: int, payment_id: int) -> bool:
    """Order pending → paid (compare-and-set), with the payment's lines, the purchases and the
    payment marked applied, in one statement. False (and nothing written) when the order was
    not pending: every other part hangs on the order's update."""
    paid = await session.execute(_APPLY, {"the_order": order_id, "the_payment": payment_id})
    return paid.scalar_one_or_none() is not None


@dataclass(frozen=True)
class Receipt:
    payment_id: int
    order_id: int
    email: str
    amount: Decimal
    currency: str
    lines: list[OrderLine]
    sent: bool  # the SMTP server accepted it already


_RECEIPT = (
    select(
        Payment.id,
        Payment.order_id,
        Payment.amount,
        Payment.currency,
        Payment.receipt_sent_at,
        User.email,
        Movie.name,
        PaymentItem.price,
    )
    .join(User, User.id == Payment.user_id)
    .outerjoin(PaymentItem, PaymentItem.payment_id == Payment.id)
    .outerjoin(OrderItem, OrderItem.id == PaymentItem.order_item_id)
    .outerjoin(Movie, Movie.id == OrderItem.movie_id)
    .order_by(PaymentItem.id)
)


async def receipt(session: AsyncSession, payment_id: int) -> Receipt | None:
    """The payment, its buyer's email and its lines: one statement, a row per line."""
    rows = (await session.execute(_RECEIPT.where(Payment.id == payment_id))).all()
    if not rows:
        return None
    first = rows[0]
    return Receipt(
        int(first.id),
        int(first.order_id),
        first.email,
        first.amount,
        first.currency,
        order_lines(rows),
        first.receipt_sent_at is not None,
    )


async def mark_receipt_sent(session: AsyncSession, payment_id: int) -> None:
    await session.execute(
        update(Payment)
        .where(Payment.id == payment_id, Payment.receipt_sent_at.is_(None))
        .values(receipt_sent_at=func.now(), updated_at=Payment.updated_at)
    )


async def payments_page(
    session: AsyncSession, user_id: int, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """The user's payments, newest first, each with its refunds; and how many there are."""
    total = await session.scalar(
        select(func.count()).select_from(Payment).where(Payment.user_id == user_id)
    )
    rows = (
        await session.execute(
            select(Payment)
            .where(Payment.user_id == user_id)
            .order_by(Payment.created_at.desc(), Payment.id.desc())
            .limit(limit)
            .offset(offset)
        )
    ).scalars()
    payments: list[dict[str, Any]] = [
        {
            "id": p.id,
            "order_id": p.order_id,
            "amount": p.amount,
            "currency": p.currency,
            "status": str(p.status),
            "applied": p.applied,
            "refunded_amount": p.refunded_amount,
            "stripe_checkout_session_id": p.stripe_checkout_session_id,
            "stripe_payment_intent_id": p.stripe_payment_intent_id,
            "created_at": p.created_at,
            "refunds": [],
        }
        for p in rows
    ]
    by_id = {p["id"]: p for p in payments}
    if by_id:
        refunds = await session.execute(
            select(Refund.payment_id, Refund.id, Refund.amount, Refund.status)
            .where(Refund.payment_id.in_(by_id))
            .order_by(Refund.id)
        )
        for payment_id, refund_id, amount, status in refunds:
            by_id[payment_id]["refunds"].append(
                {"id": refund_id, "amount": amount, "status": str(status)}
            )
    return payments, int(total or 0)
