"""Order use cases: make an order from the cart, list and read orders, list purchases.

`get_order_for_user` is the one way other areas (checkout, cancel) load an order for a caller:
another user's order and an order that does not exist look the same (404). A refund locks its
order with the refund repository's lock (`domain.refunds.service.lock_refundable_order`, the
same 404 for another user's order).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from domain.cart import repository as cart_repo
from domain.cart.errors import CartEmpty, MovieAlreadyPurchased, MovieArchived, PendingOrderExists
from domain.db import MAX_ID
from domain.models import Order, OrderStatus
from domain.orders import repository as repo
from domain.payments.errors import OrderNotFound


def _valid_id(order_id: int) -> bool:
    return 1 <= order_id <= MAX_ID


async def get_order_for_user(
    session: AsyncSession, order_id: int, user_id: int, *, for_update: bool = False
) -> Order:
    """The caller's order (locked until the transaction ends with `for_update`), or
    OrderNotFound: someone else's order is not found either."""
    order = (
        await repo.get_for_user(session, order_id, user_id, for_update=for_update)
        if _valid_id(order_id)
        else None
    )
    if order is None:
        raise OrderNotFound()
    return order


async def order_detail(
    session: AsyncSession | AsyncConnection, order_id: int, user_id: int
) -> dict[str, Any]:
    """One statement: on an autocommit connection it needs no BEGIN/COMMIT round trips."""
    detail = await repo.order_detail(session, order_id, user_id) if _valid_id(order_id) else None
    if detail is None:
        raise OrderNotFound()
    return detail


async def _pending_order_exists(session: AsyncSession, user_id: int) -> PendingOrderExists:
    return PendingOrderExists(order_id=await repo.pending_order_id(session, user_id))


async def create_order(session: AsyncSession, user_id: int, currency: str) -> dict[str, Any]:
    """Turn the cart into a pending order, in one transaction: each line keeps the price the
    buyer sees now, the total is their sum, and the cart is emptied of exactly those lines.

    The cart row is locked first, so two creates by one user run one after the other and the
    second sees the first's order; the partial unique index (one pending order per user)
    still decides if anything else races. Three statements: the lock, the lines with what
    refuses them, the order with its lines (and the detail read back).
    """
    cart_id = await cart_repo.lock_cart(session, user_id)
    lines = await cart_repo.lines_for_order(session, cart_id, user_id) if cart_id else []
    # A pending order is reported before an empty cart: the buyer who made an order twice
    # learns which one to pay.
    pending = (
        lines[0]["pending_order_id"] if lines else await repo.pending_order_id(session, user_id)
    )
    if pending is not None:
        raise PendingOrderExists(order_id=pending)
    if not lines:
        raise CartEmpty()
    owned = [str(ln["movie_uuid"]) for ln in lines if ln["owned"]]
    if owned:
        raise MovieAlreadyPurchased(
            "You already own some movies in your cart; remove them first.", movies=owned
        )
    archived = [str(ln["movie_uuid"]) for ln in lines if ln["archived"]]
    if archived:
        raise MovieArchived(movies=archived)
    total = sum((ln["price"] for ln in lines), Decimal("0.00"))
    order_id = await repo.create_from_lines(session, user_id, total, currency, lines)
    if order_id is None:  # made meanwhile by something that did not lock the cart
        raise await _pending_order_exists(session, user_id)
    return await order_detail(session, order_id, user_id)


async def list_orders(
    session: AsyncSession, user_id: int, status: OrderStatus | None, limit: int, offset: int
) -> repo.Page:
    return await repo.order_page(session, user_id, status, limit, offset)


async def list_purchases(session: AsyncSession, user_id: int, limit: int, offset: int) -> repo.Page:
    return await repo.purchase_page(session, user_id, limit, offset)
