"""Every checkout and payment query. Writes are idempotent (conditional UPDATEs, INSERT ... ON
CONFLICT DO NOTHING), so an activity retried after its commit changes nothing twice."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from domain.models import (
    CheckoutSession,
    CheckoutSessionStatus,
    Movie,
    Order,
    OrderItem,
    OrderStatus,
    User,
)


@dataclass(frozen=True)
class OrderRef:
    id: int
    user_id: int
    status: str


@dataclass(frozen=True)
class OrderLine:
    name: str
    price: Decimal


@dataclass(frozen=True)
class CheckoutOrder:
    id: int
    user_id: int
    status: str
    currency: str
    total_amount: Decimal
    email: str
    lines: list[OrderLine]


def _ref(row: Any) -> OrderRef | None:
    return None if row is None else OrderRef(int(row.id), int(row.user_id), str(row.status))


_ORDER_REF = select(Order.id, Order.user_id, Order.status)


async def order_of_user(session: AsyncSession, order_id: int, user_id: int) -> OrderRef | None:
    query = _ORDER_REF.where(Order.id == order_id, Order.user_id == user_id)
    return _ref((await session.execute(query)).one_or_none())


async def pending_order_of(session: AsyncSession, user_id: int) -> OrderRef | None:
    query = _ORDER_REF.where(Order.user_id == user_id, Order.status == OrderStatus.PENDING)
    return _ref((await session.execute(query)).one_or_none())


async def order_ref(session: AsyncSession, order_id: int) -> OrderRef | None:
    return _ref((await session.execute(_ORDER_REF.where(Order.id == order_id))).one_or_none())


async def cancel_pending_order(session: AsyncSession, order_id: int, reason: str) -> bool:
    """Compare-and-set pending → cancelled; False when the order was not pending."""
    result = await session.execute(
        update(Order)
        .where(Order.id == order_id, Order.status == OrderStatus.PENDING)
        .values(status=OrderStatus.CANCELLED, cancelled_at=func.now(), cancel_reason=reason)
        .returning(Order.id)
    )
    return result.scalar_one_or_none() is not None


def order_lines(rows: Sequence[Any]) -> list[OrderLine]:
    """The lines of a statement that outer-joins an order's (or payment's) items with their
    movies, a row per line (`name`, `price`): none when the only row has no item."""
    return [OrderLine(row.name, row.price) for row in rows if row.name is not None]


_CHECKOUT_ORDER = (
    select(
        Order.id,
        Order.user_id,
        Order.status,
        Order.currency,
        Order.total_amount,
        User.email,
        Movie.name,
        OrderItem.price,
    )
    .join(User, User.id == Order.user_id)
    .outerjoin(OrderItem, OrderItem.order_id == Order.id)
    .outerjoin(Movie, Movie.id == OrderItem.movie_id)
    .order_by(OrderItem.id)
)


async def checkout_order(session: AsyncSession, order_id: int) -> CheckoutOrder | None:
    """The order with its lines (name and snapshot price) and the buyer's email: one
    statement, a row per line."""
    rows = (await session.execute(_CHECKOUT_ORDER.where(Order.id == order_id))).all()
    if not rows:
        return None
    first = rows[0]
    return CheckoutOrder(
        id=first.id,
        user_id=first.user_id,
        status=str(first.status),
        currency=first.currency,
        total_amount=first.total_amount,
        email=first.email,
        lines=order_lines(rows),
    )


# --- checkout sessions ------------------------------------------------------------------------
async def save_checkout_session(
    session: AsyncSession,
    *,
    order_id: int,
    stripe_session_id: str,
    url: str,
    amount_total: int,
    currency: str,
    expires_at: datetime,
) -> None:
    await session.execute(
        insert(CheckoutSession)
        .values(
            order_id=order_id,
            stripe_session_id=stripe_session_id,
            url=url,
            amount_total=amount_total,
            currency=currency,
            expires_at=expires_at,
        )
        .on_conflict_do_nothing(index_elements=[CheckoutSession.stripe_session_id])
    )


async def open_session_ids(session: AsyncSession, order_id: int) -> list[str]:
    rows = await session.execute(
        select(CheckoutSession.stripe_session_id)
        .where(
            CheckoutSession.order_id == order_id,
            CheckoutSession.status == CheckoutSessionStatus.OPEN,
        )
        .order_by(CheckoutSession.id)
    )
    return list(rows.scalars())


@dataclass(frozen=True)
class OpenSession:
    stripe_session_id: str
    url: str
    expires_at: datetime


@dataclass(frozen=True)
class ProcessingSession:
    stripe_session_id: str
    since: datetime


@dataclass(frozen=True)
class OrderSessions:
    """What a checkout run starts from: the order, its sessions still open by our rows (oldest
    first), and the one whose delayed payment is in flight, and since when: the row's last
    change, which is the one that marked it processing (it is complete from then on, so nothing
    else updates it until the money lands or fails)."""

    order: OrderRef
    open: list[OpenSession]
    processing: ProcessingSession | None


_ORDER_SESSIONS = (
    select(
        Order.id,
        Order.user_id,
        Order.status,
        CheckoutSession.stripe_session_id,
        CheckoutSession.url,
        CheckoutSession.expires_at,
        CheckoutSession.status.label("session_status"),
        CheckoutSession.payment_processing,
        CheckoutSession.updated_at,
    )
    .outerjoin(
        CheckoutSession,
        (CheckoutSession.order_id == Order.id)
        & or_(
            CheckoutSession.status == CheckoutSessionStatus.OPEN,
            CheckoutSession.payment_processing.is_(True),
        ),
    )
    .order_by(CheckoutSession.id)
)


async def order_sessions(session: AsyncSession, order_id: int) -> OrderSessions | None:
    """One statement: the order with its open and processing sessions (None: no such order)."""
    rows = (await session.execute(_ORDER_SESSIONS.where(Order.id == order_id))).all()
    if not rows:
        return None
    open_, processing = [], None
    for row in rows:
        if row.stripe_session_id is None:
            continue  # the order has no such session
        if row.session_status == CheckoutSessionStatus.OPEN:
            open_.append(OpenSession(row.stripe_session_id, row.url, row.expires_at))
        if row.payment_processing:
            processing = ProcessingSession(row.stripe_session_id, row.updated_at)  # the newest
    order = _ref(rows[0])
    assert order is not None
    return OrderSessions(order, open_, processing)


async def has_live_sessions(session: AsyncSession, order_id: int) -> bool:
    """Whether a session of the order is open by our rows, or its delayed payment in flight."""
    query = select(CheckoutSession.id).where(
        CheckoutSession.order_id == order_id,
        or_(
            CheckoutSession.status == CheckoutSessionStatus.OPEN,
            CheckoutSession.payment_processing.is_(True),
        ),
    )
    return (await session.execute(query.limit(1))).first() is not None


async def set_session_status(
    session: AsyncSession, stripe_session_id: str, status: CheckoutSessionStatus
) -> None:
    await session.execute(
        update(CheckoutSession)
        .where(
            CheckoutSession.stripe_session_id == stripe_session_id,
            CheckoutSession.status == CheckoutSessionStatus.OPEN,
        )
        .values(status=status)
    )


async def order_of_session(session: AsyncSession, stripe_session_id: str) -> OrderRef | None:
    query = _ORDER_REF.join(CheckoutSession, CheckoutSession.order_id == Order.id).where(
        CheckoutSession.stripe_session_id == stripe_session_id
    )
    return _ref((await session.execute(query)).one_or_none())


async def delayed_payment_may_be_in_flight(session: AsyncSession, stripe_session_id: str) -> bool:
    """For a session Stripe has completed unpaid: True while its delayed payment may still come
    (our row says processing, or the checkout has not heard of the completion yet); False once
    that payment failed."""
    row = (
        await session.execute(
            select(CheckoutSession.status, CheckoutSession.payment_processing).where(
                CheckoutSession.stripe_session_id == stripe_session_id
            )
        )
    ).one_or_none()
    return row is not None and (row.payment_processing or row.status == CheckoutSessionStatus.OPEN)


async def set_payment_processing(
    session: AsyncSession, order_id: int, stripe_session_id: str, processing: bool
) -> None:
    """A session completed unpaid (a delayed method: complete at Stripe, money in flight), or
    its money failed (processing no more)."""
    values: dict[str, object] = {"payment_processing": processing}
    if processing:
        values["status"] = CheckoutSessionStatus.COMPLETE
    await session.execute(
        update(CheckoutSession)
        .where(
            CheckoutSession.stripe_session_id == stripe_session_id,
            CheckoutSession.order_id == order_id,
        )
        .values(**values)
    )
