"""Handing a Stripe event on: the one path the webhook and the checkout reconciliation share.

The event is recorded once (its id is the key), handed to its workflow (signal-with-start of
`checkout:{order_id}` for checkout events), then marked handled. An event recorded and handed on
before is a duplicate and does nothing, so a redelivery or a reconcile re-run acts once.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from domain.config import Settings
from domain.db import SessionFactory, transaction
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
    Raises when handing on failed (the event stays unhandled, so a retry hands it on)."""
    async with transaction(sessions) as session:
        duplicate = await payments.record_event(session, event)
    if duplicate:
        return False
    await _hand_on(sessions, settings, temporal, event)
    async with transaction(sessions) as session:
        await payments.mark_handled(session, str(event["id"]))
    return True


async def _hand_on(
    sessions: SessionFactory, settings: Settings, temporal: Signaller, event: dict[str, Any]
) -> None:
    route = events.route(event)
    if route.kind == "checkout":
        assert route.target_id is not None and route.signal is not None
        async with transaction(sessions) as session:
            order = await payments.event_order(session, route.target_id)
        if order is None:
            log.warning("stripe event %s names unknown order %s", event["id"], route.target_id)
            return
        if route.signal.type in events.NO_MONEY and order.status != OrderStatus.PENDING:
            return  # an expiry or failure for a settled order: nothing left to decide
        # Signal-with-start: a run that ended (a late payment) is followed by one handling it.
        start = checkout_start(settings, order.id, order.user_id)
        await temporal.signal(start, STRIPE_EVENT_SIGNAL, route.signal)
    elif route.kind == "payment_failed":
        assert route.target_id is not None
        await temporal.signal(
            checkout_workflow_id(route.target_id), STRIPE_EVENT_SIGNAL, route.signal
        )
    elif route.kind == "refund":
        assert route.target_id is not None and route.signal is not None
        if route.signal.status in events.REFUND_FAILED:
            # It may come after the refund's run ended (Stripe fails a refund that had
            # succeeded): signal-with-start, so a new run applies it if none is running.
            async with transaction(sessions) as session:
                owner = await refunds.refund_owner(session, route.target_id)
            if owner is None:
                log.warning("stripe event %s names unknown refund %s", event["id"], route.target_id)
                return
            start = refund_late_failure_start(settings, route.target_id, *owner)
            await temporal.signal(start, STRIPE_EVENT_SIGNAL, route.signal)
            return
        # False (no such run) is fine: the refund's own polling settles it.
        await temporal.signal(
            refund_workflow_id(route.target_id), STRIPE_EVENT_SIGNAL, route.signal
        )
    else:
        log.info("stripe event %s (%s) ignored: %s", event["id"], event["type"], route.why)
