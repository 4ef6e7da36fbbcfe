"""Events: a snapshot of an object when something happened to it, kept for listing and sent
to the webhook endpoint (`webhooks.py`).

`pending_webhooks` counts endpoints still owed a successful delivery (0 or 1 here: one endpoint);
it drops to 0 on the first 2xx. `GET /v1/events?delivery_success=false` lists the events whose
delivery has not succeeded yet (still retrying, given up, or dropped by a fault knob), which is
what reconciliation looks for.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

from devstack.stripe_emulator.objects import API_VERSION
from devstack.stripe_emulator.store import Store, paginate
from devstack.stripe_emulator.wire import (
    Params,
    invalid,
    new_id,
    opt_bool,
    opt_int,
    opt_list,
    opt_str,
    reject_unknown,
)

__all__ = ["EVENT_TYPES", "Events", "RequestRef", "enabled_events", "list_events"]

# The events the emulator emits (the ones the service's checkout and refund flows consume).
EVENT_TYPES = (
    "checkout.session.completed",
    "checkout.session.expired",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "payment_intent.processing",
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "charge.refunded",
    "refund.created",
    "refund.updated",
    "refund.failed",
)


def enabled_events(values: Sequence[Any], param: str = "enabled_events") -> list[str]:
    """A webhook endpoint's `enabled_events`, checked as Stripe does: known types or "*"."""
    if not values:
        raise invalid(f"Missing required param: {param}.", param=param)
    for value in values:
        if value != "*" and value not in EVENT_TYPES:
            raise invalid(f"Invalid {param}[]: {value!r} is not an event type.", param=param)
    return [str(v) for v in values]


RequestRef = dict[str, str | None]  # {"id": "req_...", "idempotency_key": ...}
NO_REQUEST: RequestRef = {"id": None, "idempotency_key": None}


def event_object(
    event_type: str,
    data: dict[str, Any],
    created: int,
    *,
    request: dict[str, str | None],
    pending_webhooks: int,
) -> dict[str, Any]:
    return {
        "id": new_id("evt_3"),
        "object": "event",
        "api_version": API_VERSION,
        "created": created,
        "data": data,
        "livemode": False,
        "pending_webhooks": pending_webhooks,
        "request": request,
        "type": event_type,
    }


class Events:
    def __init__(self, store: Store, on_event: Callable[[dict[str, Any]], None]) -> None:
        self.store = store
        self.on_event = on_event

    def emit(
        self,
        event_type: str,
        obj: dict[str, Any],
        *,
        previous: dict[str, Any] | None = None,
        request: RequestRef | None = None,
    ) -> dict[str, Any]:
        assert event_type in EVENT_TYPES, event_type
        subscribed = self.store.subscribed(event_type)
        data: dict[str, Any] = {"object": copy.deepcopy(obj)}
        if previous:
            data["previous_attributes"] = copy.deepcopy(previous)
        event = event_object(
            event_type,
            data,
            self.store.now(),
            request=dict(request or NO_REQUEST),
            pending_webhooks=1 if subscribed else 0,
        )
        self.store.events[event["id"]] = event
        self.store.changed()
        if subscribed:
            self.on_event(event)
        return event


def _created_matches(created: int, condition: Any) -> bool:
    if isinstance(condition, str):
        return created == int(condition)
    checks = {
        "gt": lambda v: created > v,
        "gte": lambda v: created >= v,
        "lt": lambda v: created < v,
        "lte": lambda v: created <= v,
    }
    return all(checks[op](int(value)) for op, value in condition.items())


def list_events(store: Store, params: Params) -> dict[str, Any]:
    reject_unknown(
        params,
        ("type", "types", "created", "delivery_success", "limit", "starting_after",
         "ending_before", "expand"),
    )  # fmt: skip
    wanted_type = opt_str(params, "type")
    types = [str(t) for t in opt_list(params, "types")]
    if wanted_type and types:
        raise invalid("You may only specify one of these parameters: type, types.")
    delivered = opt_bool(params, "delivery_success")
    created = params.get("created")
    if isinstance(created, dict):
        reject_unknown(created, ("gt", "gte", "lt", "lte"), "created")
        for op in created:
            opt_int(created, op, f"created[{op}]")
    elif created is not None:
        opt_int(params, "created")

    def keep(event: dict[str, Any]) -> bool:
        if wanted_type and not _type_matches(event["type"], wanted_type):
            return False
        if types and not any(_type_matches(event["type"], t) for t in types):
            return False
        if delivered is not None and (event["pending_webhooks"] == 0) != delivered:
            return False
        return created is None or _created_matches(event["created"], created)

    events = [e for e in store.events.values() if keep(e)]
    return paginate(events, params, "/v1/events", "event")


def _type_matches(event_type: str, pattern: str) -> bool:
    """Stripe's `type` filter allows a `*` wildcard (`checkout.session.*`)."""
    if pattern.endswith("*"):
        return event_type.startswith(pattern[:-1])
    return event_type == pattern
