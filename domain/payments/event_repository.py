"""The Stripe events the webhook received: stored once (the event id is the key), then marked
handled once handed on."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from domain.models import StripeEvent


async def record_event(
    session: AsyncSession,
    *,
    event_id: str,
    type: str,
    object_id: str | None,
    order_id: int | None,
    created: datetime,
    payload: dict[str, Any],
) -> datetime | None:
    """Store the event once; its `handled_at` (None until it was handed on). One statement: a
    duplicate's no-op update (its id set to itself) returns the stored row."""
    stored = insert(StripeEvent).values(
        id=event_id,
        type=type,
        object_id=object_id,
        order_id=order_id,
        stripe_created=created,
        payload=payload,
    )
    handled: datetime | None = await session.scalar(
        stored.on_conflict_do_update(
            index_elements=[StripeEvent.id], set_={"id": stored.excluded.id}
        ).returning(StripeEvent.handled_at)
    )
    return handled


async def mark_event_handled(session: AsyncSession, event_id: str) -> None:
    await session.execute(
        update(StripeEvent)
        .where(StripeEvent.id == event_id, StripeEvent.handled_at.is_(None))
        .values(handled_at=func.now())
    )
