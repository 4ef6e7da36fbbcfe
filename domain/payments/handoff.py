"""Handing a Stripe event on: the one path the webhook and the checkout reconciliation share.

The event is recorded once (its id is the key), handed to its workflow (signal-with-start of
`checkout:{order_id}` for checkout events), then marked handled. An event recorded and handed on
before is a duplicate and does nothing, so a redelivery or a reconcile re-run acts once.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from domain.config import Settings
from domain.db import SessionFactory, autocommit
from domain.models import OrderStatus
from domain.payments import events
from domain.payments import service as payments
from domain.refunds import repository as refunds
from workflows.ids import checkout_workflow_id, refund_workflow_id
from workflows.starts import StartSpec, checkout_start, refund_late_failure_start
from workflows.stripe_events import STRIPE_EVENT_SIGNAL

log = logging.getLogger("cinema.payments.handoff")


class Signaller(Protocol):
    """What handing on needs from Temporal (api/temporal.py's `Temporal` is one)."""

    async def signal(self, target: str | StartSpec, signal: str, arg: Any) -> bool: ...


async def deliver_event(
    sessions: SessionFactory, settings: Settings, temporal: Signaller, event: dict[str, Any]
) -> bool:
    """Record `event` once and hand it on; False when it was handed on before (a duplicate).
    Raises when handing on failed (the event stays unhandled, so a retry hands it on).

    Each statement commits on its own (no BEGIN/COMMIT round trips): the event is recorded
    first, so whatever fails after it, a redelivery finds it recorded and not handled, and hands
    it on. An event with nowhere to go (a type we do not act on, an unknown order) is marked
    handled at once."""
    route = events.route(event)
    event_id = str(event["id"])
    async with autocommit(sessions) as session:
        if await payments.record_event(session, event):
            return False
        target = await _target(session, settings, route, event)
        if target is None:
            await payments.mark_handled(session, event_id)
            return True
    assert route.signal is not None
    await temporal.signal(target, STRIPE_EVENT_SIGNAL, route.signal)
    async with autocommit(sessions) as session:  # one statement
        await payments.mark_handled(session, event_id)
    return True


async def _target(
    session: AsyncSession, settings: Settings, route: events.Route, event: dict[str, Any]
) -> str | StartSpec | None:
    """The workflow the event goes to (a StartSpec: signal-with-start), or None: nowhere."""
    if route.kind == "checkout":
        assert route.target_id is not None and route.signal is not None
        order = await payments.event_order(session, route.target_id)
        if order is None:
            log.warning("stripe event %s names unknown order %s", event["id"], route.target_id)
            return None
        if route.signal.type in events.NO_MONEY and order.status != OrderStatus.PENDING:
            return None  # an expiry or failure for a settled order: nothing left to decide
        # Signal-with-start: a run that ended (a late payment) is followed by one handling it.
        return checkout_start(settings, order.id, order.user_id)
    if route.kind == "payment_failed":
        assert route.target_id is not None
        return checkout_workflow_id(route.target_id)
    if route.kind == "refund":
        assert route.target_id is not None and route.signal is not None
        if route.signal.status in events.REFUND_FAILED:
            # It may come after the refund's run ended (Stripe fails a refund that had
            # succeeded): signal-with-start, so a new run applies it if none is running.
            owner = await refunds.refund_owner(session, route.target_id)
            if owner is None:
                log.warning("stripe event %s names unknown refund %s", event["id"], route.target_id)
                return None
            return refund_late_failure_start(settings, route.target_id, *owner)
        # No such run is fine (the signal then finds nothing): the refund's polling settles it.
        return refund_workflow_id(route.target_id)
    log.info("stripe event %s (%s) ignored: %s", event["id"], event["type"], route.why)
    return None
