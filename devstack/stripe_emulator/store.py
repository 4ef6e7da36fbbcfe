"""The emulator's state: every object, event and delivery, a clock, and JSON persistence.

Everything lives in plain dicts shaped like Stripe's JSON, so that answering a request is a copy
and persisting is `json.dumps`. The clock is the wall clock plus an offset that the control
API can advance (to reach a session's `expires_at` without waiting). With a state file, a
`Persister` writes the whole state atomically (temporary file + rename) shortly after every
change, and on shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from devstack.stripe_emulator.wire import Params, StripeError, invalid, opt_int, opt_str

__all__ = ["KINDS", "Persister", "Store", "paginate"]

log = logging.getLogger("stripe_emulator")

# id prefix -> (collection attribute, Stripe's name of the kind, in "No such ..." errors)
KINDS: dict[str, tuple[str, str]] = {
    "cs_": ("sessions", "checkout.session"),
    "pi_": ("payment_intents", "payment_intent"),
    "ch_": ("charges", "charge"),
    "re_": ("refunds", "refund"),
    "evt_": ("events", "event"),
}
_COLLECTIONS = (
    "sessions",
    "line_items",
    "extras",
    "payment_intents",
    "charges",
    "refunds",
    "events",
)
_LISTS = ("deliveries", "timers", "api_faults", "webhook_faults")


class Store:
    def __init__(
        self, webhook_url: str | None = None, enabled_events: Sequence[str] = ("*",)
    ) -> None:
        self.webhook_url = webhook_url
        # The endpoint's `enabled_events`, as on a Stripe webhook endpoint: "*" is every type.
        self.enabled_events = list(enabled_events)
        self.clock_offset = 0.0
        self.sessions: dict[str, dict[str, Any]] = {}
        self.line_items: dict[str, list[dict[str, Any]]] = {}  # by session id
        # by object id: what Stripe keeps but does not show (a session's payment_intent_data,
        # how a charge's card behaves when refunded)
        self.extras: dict[str, dict[str, Any]] = {}
        self.payment_intents: dict[str, dict[str, Any]] = {}
        self.charges: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.events: dict[str, dict[str, Any]] = {}  # in creation order
        self.idempotency: dict[str, dict[str, Any]] = {}
        self.webhook_queue: dict[str, int] = {}  # event id -> attempts made, while undelivered
        self.deliveries: list[dict[str, Any]] = []
        self.timers: list[dict[str, Any]] = []  # {"at", "kind", "id", ...}: due work
        self.api_faults: list[dict[str, Any]] = []
        self.webhook_faults: list[dict[str, Any]] = []
        self.dirty = asyncio.Event()

    # ------------------------------------------------------------------ clock
    def now(self) -> int:
        return int(time.time() + self.clock_offset)

    # ------------------------------------------------------------------ objects
    def changed(self) -> None:
        self.dirty.set()

    def get(self, object_id: str, *, param: str = "id", kind: str | None = None) -> dict[str, Any]:
        for prefix, (attribute, name) in KINDS.items():
            if object_id.startswith(prefix) and (kind is None or kind == name):
                found: dict[str, Any] | None = getattr(self, attribute).get(object_id)
                if found is not None:
                    return found
        raise StripeError(
            404,
            f"No such {kind or 'object'}: '{object_id}'",
            param=param,
            code="resource_missing",
        )

    def reset(self) -> None:
        """Forget every object, event, delivery, fault and clock offset (not the endpoint)."""
        for name in (*_COLLECTIONS, *_LISTS, "idempotency", "webhook_queue"):
            getattr(self, name).clear()
        self.clock_offset = 0.0
        self.changed()

    # ------------------------------------------------------------------ persistence
    def to_json(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            name: getattr(self, name) for name in (*_COLLECTIONS, *_LISTS, "idempotency")
        }
        state["webhook_queue"] = self.webhook_queue
        state["clock_offset"] = self.clock_offset
        state["webhook_url"] = self.webhook_url
        state["enabled_events"] = self.enabled_events
        return state

    def load(self, state: Mapping[str, Any]) -> None:
        for name in (*_COLLECTIONS, *_LISTS, "idempotency", "webhook_queue"):
            if name in state:
                setattr(self, name, state[name])
        self.clock_offset = float(state.get("clock_offset", 0.0))
        self.webhook_url = state.get("webhook_url", self.webhook_url)
        self.enabled_events = list(state.get("enabled_events", self.enabled_events))

    def subscribed(self, event_type: str) -> bool:
        """Whether the endpoint is owed this event: there is one and it enabled the type."""
        return bool(self.webhook_url) and (
            "*" in self.enabled_events or event_type in self.enabled_events
        )


class Persister:
    """Writes the store to `path` (atomically) soon after each change, and on `flush`."""

    def __init__(self, store: Store, path: Path) -> None:
        self.store = store
        self.path = path

    def load(self) -> bool:
        if not self.path.exists():
            return False
        with self.path.open(encoding="utf-8") as fp:
            self.store.load(json.load(fp))
        return True

    def _write(self, text: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        with tmp.open("w", encoding="utf-8") as fp:
            fp.write(text)
            fp.flush()
            os.fsync(fp.fileno())
        os.replace(tmp, self.path)

    async def flush(self) -> None:
        self.store.dirty.clear()
        text = json.dumps(self.store.to_json(), separators=(",", ":"))
        await asyncio.to_thread(self._write, text)

    async def run(self) -> None:
        while True:
            await self.store.dirty.wait()
            await asyncio.sleep(0.05)  # coalesce a burst of changes into one write
            try:
                await self.flush()
            except OSError:
                log.exception("writing the state file %s failed", self.path)
                with contextlib.suppress(Exception):
                    await asyncio.sleep(1)


def paginate(
    items: Sequence[dict[str, Any]],
    params: Params,
    url: str,
    kind: str,
    *,
    newest_first: bool = True,
) -> dict[str, Any]:
    """A Stripe list (`object: list`) of `items` (given oldest first), with cursor pagination.

    Lists of resources come newest first; a session's line items keep their own order.
    """
    limit = opt_int(params, "limit", minimum=1)
    if limit is None:
        limit = 10
    if limit > 100:
        raise invalid("This value must be less than or equal to 100.", param="limit")
    ordered = list(reversed(items)) if newest_first else list(items)
    ids = [item["id"] for item in ordered]
    after, before = opt_str(params, "starting_after"), opt_str(params, "ending_before")
    if after is not None and before is not None:
        raise invalid(
            "You may only specify one of these parameters: ending_before, starting_after."
        )
    for cursor, name in ((after, "starting_after"), (before, "ending_before")):
        if cursor is not None and cursor not in ids:
            raise StripeError(
                404, f"No such {kind}: '{cursor}'", param=name, code="resource_missing"
            )
    if after is not None:
        window = ordered[ids.index(after) + 1 :]
        data, has_more = window[:limit], len(window) > limit
    elif before is not None:
        window = ordered[: ids.index(before)]
        data, has_more = window[-limit:], len(window) > limit
    else:
        data, has_more = ordered[:limit], len(ordered) > limit
    return {"object": "list", "data": copy.deepcopy(data), "has_more": has_more, "url": url}
