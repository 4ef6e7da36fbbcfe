"""Fault knobs: make the next N API calls or webhook deliveries misbehave.

API calls (`/v1/...`):
- `500`: answer `api_error` 500 without doing anything;
- `429`: answer Stripe's `rate_limit` 429 without doing anything;
- `timeout`: hold the request for `seconds` (default 30) so the client times out; with
  `"after": true` the request is carried out first (the object exists, its idempotent answer is
  saved) and only the answer is late, the case a retry with the same key must survive;
- `stall_body`: the request is carried out and the answer's status, headers and first half go
  out at once; the rest is held `seconds` (default 30): a connection that stalls mid-answer,
  which a client meets while reading the body, not while waiting for the headers.

Webhook deliveries (counted per event, not per retry):
- `duplicate`: the event is sent twice;
- `reorder`: the next N events are held and sent newest first once N have gathered (or after
  `seconds`, default 10);
- `delay`: the first attempt waits `seconds` (default 5);
- `drop`: the event is never sent (it stays `pending_webhooks: 1`, as a lost webhook would).

Knobs queue up; the oldest one with calls left applies.
"""

from __future__ import annotations

from typing import Any

from devstack.stripe_emulator.wire import invalid, new_id

__all__ = ["API_MODES", "WEBHOOK_MODES", "add_fault", "take_fault"]

API_MODES = {"500": 0.0, "429": 0.0, "timeout": 30.0, "stall_body": 30.0}  # mode -> seconds
WEBHOOK_MODES = {"duplicate": 0.0, "reorder": 10.0, "delay": 5.0, "drop": 0.0}


def add_fault(knobs: list[dict[str, Any]], spec: Any, modes: dict[str, float]) -> dict[str, Any]:
    """Validate a knob from the control API (`{"mode", "count", "seconds", "after"}`), queue it."""
    if not isinstance(spec, dict):
        raise invalid('Expected a JSON object like {"mode": "...", "count": 1}.')
    unknown = set(spec) - {"mode", "count", "seconds", "after"}
    if unknown:
        raise invalid(f"Unknown fault fields: {', '.join(sorted(unknown))}")
    mode = spec.get("mode")
    if mode not in modes:
        raise invalid(f"mode must be one of: {', '.join(modes)}", param="mode")
    count = spec.get("count", 1)
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise invalid("count must be a whole number >= 1", param="count")
    seconds = spec.get("seconds", modes[mode])
    if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
        raise invalid("seconds must be a number >= 0", param="seconds")
    after = spec.get("after", False)
    if not isinstance(after, bool) or (after and mode != "timeout"):
        raise invalid('"after" is a boolean, for the timeout mode only', param="after")
    knob = {
        "id": new_id("flt_", 12),
        "mode": mode,
        "count": count,
        "remaining": count,
        "seconds": float(seconds),
        "after": after,
    }
    knobs.append(knob)
    return knob


def take_fault(knobs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Use one call of the oldest knob with calls left; a copy of it (`remaining` after use)."""
    for knob in knobs:
        if knob["remaining"] > 0:
            knob["remaining"] -= 1
            taken = dict(knob)
            if knob["remaining"] == 0:
                knobs.remove(knob)
            return taken
    return None
