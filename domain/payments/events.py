"""What a verified Stripe event means for us: which workflow hears it, and what it is told.

Pure functions over the event's JSON. The signal carries the few facts a workflow decides on,
never the whole event (a Checkout Session carries the buyer's email and name).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from domain.db import MAX_ID
from workflows.refund import FAILED
from workflows.stripe_events import StripeEventSignal

CHECKOUT_EVENTS = frozenset(
    [
        "checkout.session.completed",
        "checkout.session.async_payment_succeeded",
        "checkout.session.async_payment_failed",
        "checkout.session.expired",
    ]
)
# Checkout events that carry no money: for an order already settled they need no workflow.
NO_MONEY = frozenset(["checkout.session.async_payment_failed", "checkout.session.expired"])
PAYMENT_FAILED = "payment_intent.payment_failed"
REFUND_EVENTS = frozenset(["refund.created", "refund.updated", "refund.failed"])
# A refund event with one of these statuses may fail a refund that had succeeded (the refund
# workflow's own set: one definition, on the workflow side).
REFUND_FAILED = FAILED
# Every event type the service acts on; any other is recorded and ignored. A Stripe webhook
# endpoint for the service needs only these as its `enabled_events` (README, "Stripe").
HANDLED_EVENTS = tuple(sorted(CHECKOUT_EVENTS | {PAYMENT_FAILED} | REFUND_EVENTS))


@dataclass(frozen=True)
class Route:
    """Where an event goes: `checkout` (signal-with-start of `checkout:{order_id}`),
    `payment_failed` (signal the running checkout, if any), `refund` (signal `refund:{id}`),
    or `ignore` (recorded and acknowledged only)."""

    kind: Literal["checkout", "payment_failed", "refund", "ignore"]
    target_id: int | None = None  # order id or refund id
    signal: StripeEventSignal | None = None
    why: str = ""  # for the log when ignored


def _object(event: dict[str, Any]) -> dict[str, Any]:
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    return obj if isinstance(obj, dict) else {}


def _metadata_id(obj: dict[str, Any], key: str) -> int | None:
    metadata = obj.get("metadata")
    raw = metadata.get(key) if isinstance(metadata, dict) else None
    if not isinstance(raw, str) or not raw.isascii() or not raw.isdigit():
        return None
    value = int(raw)
    return value if 0 < value <= MAX_ID else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def object_id(event: dict[str, Any]) -> str | None:
    return _str(_object(event).get("id"))


def order_id(event: dict[str, Any]) -> int | None:
    return _metadata_id(_object(event), "order_id")


def created_at(event: dict[str, Any]) -> datetime:
    created = _int(event.get("created"))
    return datetime.fromtimestamp(created if created is not None else 0, UTC)


def route(event: dict[str, Any]) -> Route:
    kind = str(event["type"])
    obj = _object(event)
    oid = _str(obj.get("id")) or ""
    base: dict[str, Any] = {"event_id": str(event["id"]), "type": kind, "object_id": oid}
    base["created"] = _int(event.get("created")) or 0
    if kind in CHECKOUT_EVENTS or kind == PAYMENT_FAILED:
        order = _metadata_id(obj, "order_id")
        if order is None:
            return Route("ignore", why="no usable metadata.order_id")
        if kind == PAYMENT_FAILED:
            error = obj.get("last_payment_error")
            reason = None
            if isinstance(error, dict):
                reason = _str(error.get("decline_code")) or _str(error.get("code"))
            signal = StripeEventSignal(
                **base, status=_str(obj.get("status")), failure_reason=reason
            )
            return Route("payment_failed", order, signal)
        intent = obj.get("payment_intent")
        if isinstance(intent, dict):
            intent = intent.get("id")
        signal = StripeEventSignal(
            **base,
            payment_status=_str(obj.get("payment_status")),
            amount_total=_int(obj.get("amount_total")),
            currency=_str(obj.get("currency")),
            payment_intent=_str(intent),
        )
        return Route("checkout", order, signal)
    if kind in REFUND_EVENTS:
        refund = _metadata_id(obj, "refund_id")
        if refund is None:
            return Route("ignore", why="no usable metadata.refund_id")
        signal = StripeEventSignal(
            **base, status=_str(obj.get("status")), failure_reason=_str(obj.get("failure_reason"))
        )
        return Route("refund", refund, signal)
    return Route("ignore", why="an event type we do not act on")
