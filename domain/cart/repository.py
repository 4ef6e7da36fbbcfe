"""Every cart query. A race between two writers is settled by a constraint in the statement
itself (ON CONFLICT DO NOTHING, DELETE ... RETURNING), never by a check made before it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, bindparam, delete, exists, select
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
    cart (`lock_cart` holds FOR UPDATE): the add waits for it to commit, so the statement that
    follows (with a snapshot of its own) sees the new pending order. ON CONFLICT DO NOTHING
    alone does not wait for a row lock, and the add would then re-insert a line the order had
    just taken out of the cart. Two adds do not wait for each other (KEY SHARE locks do not
    conflict).

    The cart usually exists: one round trip, and no sequence value spent by an insert that
    conflicts.
    """
    locked = select(Cart.id).where(Cart.user_id == user_id).with_for_update(key_share=True)
    found = await session.scalar(locked)
    if found is not None:
        return int(found)
    created = await session.scalar(
        insert(Cart)
        .values(user_id=user_id)
        .on_conflict_do_nothing(index_elements=[Cart.user_id])
        .returning(Cart.id)
    )
    if created is not None:
        return int(created)
    return int((await session.execute(locked)).scalar_one())  # another first use won


@dataclass(frozen=True)
class AddOutcome:
    """What adding a movie found: the movie (None: no such movie) with each reason to refuse
    it, and the new line's `added_at` (None: refused, or in the cart already)."""

    movie: MovieForSale | None
    owned: bool = False
    pending: bool = False
    added_at: datetime | None = None


def _owned_by(user_id: Any) -> Any:
    """Whether the user owns the movie of the row (a correlated EXISTS on `Movie.id`)."""
    return exists().where(Purchase.user_id == user_id, Purchase.movie_id == Movie.id)


def _add_statement() -> Any:
    user_id = bindparam("user_id", type_=BigInteger)
    movie = (
        select(
            Movie.id,
            Movie.uuid,
            Movie.name,
            Movie.price,
            (Movie.archived_at.is_not(None)).label("archived"),
            _owned_by(user_id).label("owned"),
            exists()
            .where(
                OrderItem.order_id == Order.id,
                Order.user_id == user_id,
                Order.status == OrderStatus.PENDING,
                OrderItem.movie_id == Movie.id,
            )
            .label("pending"),
        )
        .where(Movie.uuid == bindparam("movie_uuid"))
        .cte("movie")
    )
    added = (
        insert(CartItem)
        .from_select(
            ["cart_id", "movie_id"],
            select(bindparam("cart_id", type_=BigInteger), movie.c.id).where(
                ~movie.c.archived, ~movie.c.owned, ~movie.c.pending
            ),
        )
        .on_conflict_do_nothing(index_elements=[CartItem.cart_id, CartItem.movie_id])
        .returning(CartItem.added_at)
        .cte("added")
    )
    return select(
        movie.c.id,
        movie.c.uuid,
        movie.c.name,
        movie.c.price,
        movie.c.archived,
        movie.c.owned,
        movie.c.pending,
        select(added.c.added_at).scalar_subquery().label("added_at"),
    )


# Built once, like the order read. The checks and the insert are one statement, one round
# trip; it runs after `ensure_cart`'s lock, so its snapshot sees an order made meanwhile.
_ADD = _add_statement()


async def add_item(
    session: AsyncSession, cart_id: int, user_id: int, movie_uuid: uuid.UUID
) -> AddOutcome:
    """Insert the movie into the cart unless it is unknown, archived, owned by the user or in
    their pending order. A line already there stays as it is: the UNIQUE (cart_id, movie_id)
    constraint decides, also between two concurrent adds."""
    params = {"cart_id": cart_id, "user_id": user_id, "movie_uuid": movie_uuid}
    row = (await session.execute(_ADD, params)).one_or_none()
    if row is None:
        return AddOutcome(None)
    movie = MovieForSale(row.id, row.uuid, row.name, row.price, row.archived)
    return AddOutcome(movie, row.owned, row.pending, row.added_at)


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


async def lines_for_order(
    session: AsyncSession, cart_id: int, user_id: int
) -> list[dict[str, Any]]:
    """The cart's lines with each movie's current state, whether the user owns it, and the
    user's pending order if any, in one statement. The lines are locked (no concurrent remove
    can slip between reading them and ordering them). Run under `lock_cart`'s lock, so no
    other order can be made from this cart meanwhile."""
    pending = (
        select(Order.id)
        .where(Order.user_id == user_id, Order.status == OrderStatus.PENDING)
        .scalar_subquery()
    )
    rows = await session.execute(
        select(
            CartItem.id.label("item_id"),
            Movie.id.label("movie_id"),
            *_line_columns(),
            _owned_by(user_id).label("owned"),
            pending.label("pending_order_id"),
        )
        .select_from(CartItem)
        .join(Movie, Movie.id == CartItem.movie_id)
        .where(CartItem.cart_id == cart_id)
        .order_by(CartItem.added_at, CartItem.id)
        .with_for_update(of=CartItem)
    )
    return [dict(r._mapping) for r in rows]
