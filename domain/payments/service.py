"""Checkout and payment use cases the API needs before or instead of a workflow: whose order it
is, whether it can still be paid or cancelled, the payments list, the landing pages' answer,
and recording Stripe events. Raise DomainErrors; never commit (the boundary does)."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from domain.models import CheckoutSessionStatus, OrderStatus
from domain.payments import event_repository as stripe_events
from domain.payments import events
from domain.payments import payment_repository as ledger
from domain.payments import repository as repo
from domain.payments.errors import (
    CheckoutSessionNotFound,
    NoPendingOrder,
    OrderNotFound,
    OrderNotPending,
)
from domain.payments.repository import OrderRef

log = logging.getLogger("cinema.payments")


def _not_pending(order: OrderRef) -> OrderNotPending:
    return OrderNotPending(f"The order is {order.status}.", order_status=order.status)


async def payable_order(session: AsyncSession, user_id: int, order_id: int | None) -> OrderRef:
    """The caller's order to check out: the one named (another user's is a 404), or else the
    caller's pending order. It must be pending."""
    if order_id is None:
        order = await repo.pending_order_of(session, user_id)
        if order is None:
            raise NoPendingOrder()
        return order
    order = await repo.order_of_user(session, order_id, user_id)
    if order is None:
        raise OrderNotFound()
    if order.status != OrderStatus.PENDING:
        raise _not_pending(order)
    return order


async def cancellable_order(session: AsyncSession, user_id: int, order_id: int) -> OrderRef:
    order = await repo.order_of_user(session, order_id, user_id)
    if order is None:
        raise OrderNotFound()
    if order.status != OrderStatus.PENDING:
        raise _not_pending(order)
    return order


async def refuse_settled(session: AsyncSession, order_id: int) -> None:
    """Raise OrderNotPending if the order is no longer pending (after a workflow said no)."""
    order = await repo.order_ref(session, order_id)
    if order is not None and order.status != OrderStatus.PENDING:
        raise _not_pending(order)


async def has_open_sessions(session: AsyncSession, order_id: int) -> bool:
    """Whether our rows hold a Stripe page of the order still open (one a lost run made), or
    one whose delayed payment is in flight: either way a run must decide, not a plain cancel."""
    return await repo.has_live_sessions(session, order_id)


async def cancel_without_checkout(session: AsyncSession, order_id: int) -> None:
    """No checkout is running for the order, so no Stripe session can be open: cancel it here
    (compare-and-set)."""
    if not await repo.cancel_pending_order(session, order_id, "user"):
        order = await repo.order_ref(session, order_id)
        if order is None:
            raise OrderNotFound()
        raise _not_pending(order)


async def list_payments(
    session: AsyncSession, user_id: int, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    return await ledger.payments_page(session, user_id, limit, offset)


async def order_of_session(session: AsyncSession, stripe_session_id: str) -> OrderRef:
    order = await repo.order_of_session(session, stripe_session_id)
    if order is None:
        raise CheckoutSessionNotFound()
    return order


async def delayed_payment_may_be_in_flight(session: AsyncSession, stripe_session_id: str) -> bool:
    return await repo.delayed_payment_may_be_in_flight(session, stripe_session_id)


async def order_for_landing(session: AsyncSession, order_id: int) -> OrderRef:
    order = await repo.order_ref(session, order_id)
    if order is None:
        raise OrderNotFound()
    return order


# --- the webhook ------------------------------------------------------------------------------
async def record_event(session: AsyncSession, event: dict[str, Any]) -> bool:
    """Store a verified event once; True if it was handed on already (a duplicate)."""
    handled = await stripe_events.record_event(
        session,
        event_id=str(event["id"]),
        type=str(event["type"]),
        object_id=events.object_id(event),
        order_id=events.order_id(event),
        created=events.created_at(event),
        payload=event,
    )
    if event["type"] == "checkout.session.expired" and (sid := events.object_id(event)):
        await repo.set_session_status(session, sid, CheckoutSessionStatus.EXPIRED)
    return handled is not None


async def event_order(session: AsyncSession, order_id: int) -> OrderRef | None:
    return await repo.order_ref(session, order_id)


async def mark_handled(session: AsyncSession, event_id: str) -> None:
    await stripe_events.mark_event_handled(session, event_id)
