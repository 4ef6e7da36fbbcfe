"""What the webhook hands a workflow about a Stripe event: the few facts the workflow decides
on, never the whole event (it can carry the buyer's email, which must not reach a history)."""

# Annotations stay evaluated (no `from __future__ import annotations`): Temporal's data converter
# calls typing.get_type_hints on every dataclass it decodes, and string ones cost it ~3x more.
from dataclasses import dataclass

# The signal name both the checkout and the refund workflow take events under (never rename).
STRIPE_EVENT_SIGNAL = "stripe_event"


@dataclass
class StripeEventSignal:
    event_id: str  # evt_...: workflows keep the ids they saw, so a duplicate acts once
    type: str  # e.g. checkout.session.completed, refund.updated
    object_id: str  # the object it is about: cs_..., re_..., ch_...
    created: int = 0  # Stripe's unix time of the event
    # checkout.session.* events
    payment_status: str | None = None
    amount_total: int | None = None  # minor units
    currency: str | None = None
    payment_intent: str | None = None
    # refund.* events
    status: str | None = None
    failure_reason: str | None = None
