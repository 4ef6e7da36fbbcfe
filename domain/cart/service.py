"""Cart use cases. Every user has a cart when they need one: the first add creates it; reading
a cart nobody created yet is an empty cart (a GET never writes)."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from domain.cart import repository as repo
from domain.cart.errors import (
    MovieAlreadyInCart,
    MovieAlreadyPurchased,
    MovieInPendingOrder,
    MovieNotInCart,
)
from domain.catalog.errors import MovieNotFound

ZERO = Decimal("0.00")


async def get_cart(session: AsyncSession, user_id: int, currency: str) -> dict[str, Any]:
    """The lines in the order they were added, at today's prices, and their total.

    A line whose movie was archived after it was added stays visible (marked `archived`, not
    counted in the total) so the buyer sees why the order refuses it and can remove it.
    """
    lines = await repo.cart_lines(session, user_id)
    total = sum((line["price"] for line in lines if not line["archived"]), ZERO)
    return {"cart_items": lines, "total": total, "currency": currency}


async def add_movie(session: AsyncSession, user_id: int, movie_uuid: uuid.UUID) -> dict[str, Any]:
    """Put a movie in the user's cart; each refusal is its own error. Two statements: the
    cart's lock, then the checks with the insert."""
    cart_id = await repo.ensure_cart(session, user_id)  # first: waits for an order create
    outcome = await repo.add_item(session, cart_id, user_id, movie_uuid)
    movie = outcome.movie
    # An archived movie is invisible to buyers, exactly as on GET /movies/{uuid}/. A refusal
    # rolls the transaction back, with a cart made by this add.
    if movie is None or movie.archived:
        raise MovieNotFound()
    if outcome.owned:
        raise MovieAlreadyPurchased()
    if outcome.pending:
        raise MovieInPendingOrder()
    if outcome.added_at is None:
        raise MovieAlreadyInCart()
    return {
        "movie_uuid": movie.uuid,
        "movie_name": movie.name,
        "price": movie.price,
        "added_at": outcome.added_at,
        "archived": False,
    }


async def remove_movie(
    session: AsyncSession, user_id: int, movie_uuid: uuid.UUID, currency: str
) -> dict[str, Any]:
    """Take one movie out of the cart; the cart as it is now."""
    if not await repo.delete_item(session, user_id, movie_uuid):
        raise MovieNotInCart()
    return await get_cart(session, user_id, currency)


async def clear(session: AsyncSession, user_id: int, currency: str) -> dict[str, Any]:
    """Empty the cart (fine when it is empty already); the empty cart."""
    await repo.delete_all_items(session, user_id)
    return await get_cart(session, user_id, currency)
