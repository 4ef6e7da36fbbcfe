"""Checkout reconciliation: which sessions to ask Stripe about, and the event a retrieved session
stands for (in Stripe's event shape, so it goes the webhook's way: domain/payments/handoff.py)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.models import CheckoutSession, CheckoutSessionStatus, Order, OrderStatus
from domain.stripe import CheckoutSessionInfo

COMPLETED = "checkout.session.completed"
EXPIRED = "checkout.session.expired"


async def stale_sessions(
    session: AsyncSession, min_age_seconds: int, limit: int, order_id: int | None = None
) -> list[tuple[str, int]]:
    """(session id, order id) of sessions still open in our rows (or whose delayed payment is
    processing), of pending orders (of `order_id` only, when given), made at least
    `min_age_seconds` ago; at most `limit`. A session leaves the list once handed on (paid:
    complete; expired: expired).

    A delayed payment stays in flight for days, so its session comes back run after run: open
    sessions come first, and processing ones take at most half of a batch that open ones would
    fill (all of what they leave), so neither kind starves the other. Within each kind, the session
    not looked at for longest comes first: since it was last checked (`reconciled_at`, which
    `mark_reconciled` stamps) or, never checked, since it was made. Successive runs rotate
    through all of them, and a steady stream of new sessions cannot starve the re-checks."""
    cutoff = func.now() - func.make_interval(0, 0, 0, 0, 0, 0, min_age_seconds)
    base = (
        select(CheckoutSession.stripe_session_id, CheckoutSession.order_id)
        .join(Order, Order.id == CheckoutSession.order_id)
        .where(Order.status == OrderStatus.PENDING, CheckoutSession.created_at <= cutoff)
        .order_by(
            func.coalesce(CheckoutSession.reconciled_at, CheckoutSession.created_at),
            CheckoutSession.id,
        )
        .limit(limit)
    )
    if order_id is not None:
        base = base.where(CheckoutSession.order_id == order_id)
    plain = await session.execute(
        base.where(
            CheckoutSession.status == CheckoutSessionStatus.OPEN,
            CheckoutSession.payment_processing.is_(False),
        )
    )
    # A completed session whose delayed payment is in flight may still be paid.
    processing = await session.execute(base.where(CheckoutSession.payment_processing.is_(True)))
    open_rows, processing_rows = list(plain.all()), list(processing.all())
    reserved = min(len(processing_rows), limit // 2)
    chosen = open_rows[: limit - reserved]
    chosen += processing_rows[: limit - len(chosen)]
    return [(str(sid), int(oid)) for sid, oid in chosen]


async def mark_reconciled(session: AsyncSession, session_id: str) -> None:
    """Stamp the session as asked about at Stripe now (whatever the answer), so the next runs
    take the ones asked about longest ago first. `updated_at` is kept: for a session whose
    delayed payment is in flight it says since when (repository.order_sessions)."""
    await session.execute(
        update(CheckoutSession)
        .where(CheckoutSession.stripe_session_id == session_id)
        .values(reconciled_at=func.now(), updated_at=CheckoutSession.updated_at)
    )


def unknown_session(session_id: str) -> CheckoutSessionInfo:
    """A session Stripe does not know (any more): it can take no money, so it counts as
    expired (the rule the checkout's own expiry follows)."""
    return CheckoutSessionInfo(
        id=session_id,
        url=None,
        status="expired",
        payment_status="unpaid",
        amount_total=0,
        currency="",
        payment_intent=None,
        expires_at=datetime.now(UTC),
        order_id=None,
    )


def outcome(info: CheckoutSessionInfo) -> str:
    """paid | expired | open (open also covers a completed session still waiting for money)."""
    if info.status == "complete" and info.payment_status == "paid":
        return "paid"
    if info.status == "expired":
        return "expired"
    return "open"


def event_for(info: CheckoutSessionInfo, order_id: int) -> dict[str, Any]:
    """The event a paid or expired session stands for. Its id is deterministic, so a re-run (or
    an activity retry) is recorded once and acts once. Only the facts the run decides on are
    kept (no email, no name: the event is stored)."""
    kind = COMPLETED if outcome(info) == "paid" else EXPIRED
    return {
        "id": f"reconcile:{info.id}:{info.status}",
        "object": "event",
        "type": kind,
        "created": int(time.time()),
        "data": {
            "object": {
                "id": info.id,
                "object": "checkout.session",
                "status": info.status,
                "payment_status": info.payment_status,
                "amount_total": info.amount_total,
                "currency": info.currency,
                "payment_intent": info.payment_intent,
                "metadata": {"order_id": str(order_id)},
            }
        },
    }
