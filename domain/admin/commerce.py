"""Admin reads of every user's cart, orders, payments and refunds. Read-only (W26): these
queries never write; newest first with the id as tie-breaker, so pages are stable."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.accounts.errors import UserNotFound
from domain.admin.pages import newest_first
from domain.models import Cart, CartItem, Movie, Order, OrderItem, Payment, Refund, User


@dataclass(frozen=True, slots=True)
class RecordFilter:
    user_id: int | None = None
    email: str | None = None  # normalised; an exact match
    status: str | None = None
    created_from: datetime | None = None  # inclusive
    created_before: datetime | None = None  # exclusive


async def _page(
    session: AsyncSession, query: Any, model: Any, f: RecordFilter, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    where: list[ColumnElement[bool]] = []
    if f.user_id is not None:
        where.append(User.id == f.user_id)
    if f.email is not None:
        where.append(User.email == f.email)
    if f.status is not None:
        where.append(model.status == f.status)
    if f.created_from is not None:
        where.append(model.created_at >= f.created_from)
    if f.created_before is not None:
        where.append(model.created_at < f.created_before)
    return await newest_first(session, query.where(*where), model, limit, offset)


async def list_orders(
    session: AsyncSession, f: RecordFilter, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    item_count = (
        select(func.count())
        .select_from(OrderItem)
        .where(OrderItem.order_id == Order.id)
        .scalar_subquery()
    )
    query = select(
        Order.id,
        Order.user_id,
        User.email,
        Order.status,
        Order.total_amount,
        Order.currency,
        Order.created_at,
        Order.paid_at,
        Order.cancelled_at,
        Order.cancel_reason,
        item_count.label("item_count"),
    ).join(User, User.id == Order.user_id)
    return await _page(session, query, Order, f, limit, offset)


async def list_payments(
    session: AsyncSession, f: RecordFilter, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    query = select(
        Payment.id,
        Payment.order_id,
        Payment.user_id,
        User.email,
        Payment.amount,
        Payment.currency,
        Payment.status,
        Payment.refunded_amount,
        Payment.applied,
        Payment.stripe_payment_intent_id,
        Payment.created_at,
    ).join(User, User.id == Payment.user_id)
    return await _page(session, query, Payment, f, limit, offset)


async def list_refunds(
    session: AsyncSession, f: RecordFilter, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    query = (
        select(
            Refund.id,
            Refund.order_id,
            Refund.payment_id,
            Payment.user_id,
            User.email,
            Refund.amount,
            Refund.currency,
            Refund.status,
            Refund.reason,
            Refund.requested_by,
            Refund.failure_reason,
            Refund.created_at,
            Refund.completed_at,
        )
        .join(Payment, Payment.id == Refund.payment_id)
        .join(User, User.id == Payment.user_id)
    )
    return await _page(session, query, Refund, f, limit, offset)


async def order_refund_ids(session: AsyncSession, order_id: int) -> list[int]:
    rows = await session.execute(
        select(Refund.id).where(Refund.order_id == order_id).order_by(Refund.id)
    )
    return list(rows.scalars())


async def order_exists(session: AsyncSession, order_id: int) -> bool:
    return (await session.execute(select(Order.id).where(Order.id == order_id))).first() is not None


async def cart_of(session: AsyncSession, user_id: int) -> list[dict[str, Any]]:
    """The user's cart lines, newest first (empty when they have no cart)."""
    if (await session.execute(select(User.id).where(User.id == user_id))).first() is None:
        raise UserNotFound("User with the given id was not found.")
    rows = await session.execute(
        select(
            Movie.uuid.label("movie_uuid"),
            Movie.name.label("movie_name"),
            Movie.price,
            CartItem.added_at,
        )
        .select_from(CartItem)
        .join(Cart, Cart.id == CartItem.cart_id)
        .join(Movie, Movie.id == CartItem.movie_id)
        .where(Cart.user_id == user_id)
        .order_by(CartItem.added_at.desc(), CartItem.id.desc())
    )
    return [dict(r._mapping) for r in rows]
