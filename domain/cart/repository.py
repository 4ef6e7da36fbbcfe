"""Every cart query. A race between two writers is settled by a constraint in the statement
itself (ON CONFLICT DO NOTHING, DELETE ... RETURNING), never by a check made before it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, exists, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from domain.models import Cart, CartItem, Movie, Order, OrderItem, OrderStatus, Purchase


@dataclass(frozen=True)
class MovieForSale:
    id: int
    uuid: uuid.UUID
    name: str
    price: Decimal
    archived: bool


def _line_columns() -> tuple[Any, ...]:
    return (
        Movie.uuid.label("movie_uuid"),
        Movie.name.label("movie_name"),
        Movie.price,
        CartItem.added_at,
        (Movie.archived_at.is_not(None)).label("archived"),
    )


async def ensure_cart(session: AsyncSession, user_id: int) -> int:
    """The user's cart id, created on first use, held with a KEY SHARE lock until the
    transaction ends. Two first uses at once both end with the one row the UNIQUE(user_id)
    constraint lets in.

    The lock is what orders an add after an order create that is making an order from this
    cart (`lock_cart` holds FOR UPDATE): the add waits for it to commit, so the checks that
    follow see the new pending order. ON CONFLICT DO NOTHING alone does not wait for a row
    lock, and the add would then re-insert a line the order had just taken out of the cart.
    Two adds do not wait for each other (KEY SHARE locks do not conflict).
    """
    created = await session.scalar(
        insert(Cart)
        .values(user_id=user_id)
        .on_conflict_do_nothing(index_elements=[Cart.user_id])
        .returning(Cart.id)
    )
    if created is not None:
        return int(created)
    locked = select(Cart.id).where(Cart.user_id == user_id).with_for_update(key_share=True)
    return int((await session.execute(locked)).scalar_one())


async def movie_for_sale(session: AsyncSession, movie_uuid: uuid.UUID) -> MovieForSale | None:
    row = (
        await session.execute(
            select(Movie.id, Movie.uuid, Movie.name, Movie.price, Movie.archived_at).where(
                Movie.uuid == movie_uuid
            )
        )
    ).one_or_none()
    if row is None:
        return None
    return MovieForSale(row.id, row.uuid, row.name, row.price, row.archived_at is not None)


async def owns_movie(session: AsyncSession, user_id: int, movie_id: int) -> bool:
    query = select(exists().where(Purchase.user_id == user_id, Purchase.movie_id == movie_id))
    return bool(await session.scalar(query))


async def in_pending_order(session: AsyncSession, user_id: int, movie_id: int) -> bool:
    query = select(
        exists().where(
            OrderItem.order_id == Order.id,
            Order.user_id == user_id,
            Order.status == OrderStatus.PENDING,
            OrderItem.movie_id == movie_id,
        )
    )
    return bool(await session.scalar(query))


async def insert_item(session: AsyncSession, cart_id: int, movie_id: int) -> datetime | None:
    """The new line's `added_at`, or None when the movie is in the cart already (the UNIQUE
    (cart_id, movie_id) constraint decides, also between two concurrent adds)."""
    added_at: datetime | None = await session.scalar(
        insert(CartItem)
        .values(cart_id=cart_id, movie_id=movie_id)
        .on_conflict_do_nothing(index_elements=[CartItem.cart_id, CartItem.movie_id])
        .returning(CartItem.added_at)
    )
    return added_at


async def cart_lines(session: AsyncSession, user_id: int) -> list[dict[str, Any]]:
    """The user's cart lines in the order they were added (no cart: no lines)."""
    rows = await session.execute(
        select(*_line_columns())
        .select_from(CartItem)
        .join(Cart, Cart.id == CartItem.cart_id)
        .join(Movie, Movie.id == CartItem.movie_id)
        .where(Cart.user_id == user_id)
        .order_by(CartItem.added_at, CartItem.id)
    )
    return [dict(r._mapping) for r in rows]


def _cart_of(user_id: int) -> Any:
    return select(Cart.id).where(Cart.user_id == user_id).scalar_subquery()


async def delete_item(session: AsyncSession, user_id: int, movie_uuid: uuid.UUID) -> bool:
    deleted = await session.scalar(
        delete(CartItem)
        .where(
            CartItem.cart_id == _cart_of(user_id),
            CartItem.movie_id == select(Movie.id).where(Movie.uuid == movie_uuid).scalar_subquery(),
        )
        .returning(CartItem.id)
    )
    return deleted is not None


async def delete_all_items(session: AsyncSession, user_id: int) -> None:
    await session.execute(delete(CartItem).where(CartItem.cart_id == _cart_of(user_id)))


async def lock_cart(session: AsyncSession, user_id: int) -> int | None:
    """Lock the user's cart row until the transaction ends (an order is being made from it):
    a concurrent order create waits, and so does an add (its foreign key needs the row)."""
    found = await session.scalar(select(Cart.id).where(Cart.user_id == user_id).with_for_update())
    return int(found) if found is not None else None


async def locked_lines(session: AsyncSession, cart_id: int) -> list[dict[str, Any]]:
    """The cart's lines with each movie's current state, the lines locked (no concurrent
    remove can slip between reading them and ordering them)."""
    rows = await session.execute(
        select(CartItem.id.label("item_id"), Movie.id.label("movie_id"), *_line_columns())
        .select_from(CartItem)
        .join(Movie, Movie.id == CartItem.movie_id)
        .where(CartItem.cart_id == cart_id)
        .order_by(CartItem.added_at, CartItem.id)
        .with_for_update(of=CartItem)
    )
    return [dict(r._mapping) for r in rows]


async def delete_items_by_id(session: AsyncSession, item_ids: list[int]) -> None:
    await session.execute(delete(CartItem).where(CartItem.id.in_(item_ids)))


async def owned_among(session: AsyncSession, user_id: int, movie_ids: list[int]) -> set[int]:
    rows = await session.scalars(
        select(Purchase.movie_id).where(
            Purchase.user_id == user_id, Purchase.movie_id.in_(movie_ids)
        )
    )
    return set(rows)
