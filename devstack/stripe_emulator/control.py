"""The control API under `/_emulator/`: for tests, and for a person exploring.

    GET    /_emulator/                                  what is here
    GET    /_emulator/health                            200 when serving
    POST   /_emulator/checkout/sessions/{id}/pay        {"card": "4242424242424242"} pays it
    POST   /_emulator/checkout/sessions/{id}/expire     expires it now
    POST   /_emulator/faults/api                        {"mode": "500"|"429"|"timeout"|
                                                         "stall_body", "count": N,
                                                         "seconds": S, "after": bool}
    POST   /_emulator/faults/webhooks                   {"mode": "duplicate"|"reorder"|"delay"|
                                                         "drop", "count": N, "seconds": S}
    GET    /_emulator/faults                            the knobs still armed
    DELETE /_emulator/faults                            disarm them all
    GET    /_emulator/deliveries[?event=evt_...]        every webhook attempt and its answer,
                                                        and the events still being retried
    POST   /_emulator/webhook-endpoint                  {"url": "http://..." (or null),
                                                        "enabled_events": [...] (default ["*"])}:
                                                        move it, choose the event types it gets
    POST   /_emulator/clock/advance                     {"seconds": N}: the emulator's clock jumps
    POST   /_emulator/reset                             forget everything (objects, events, knobs)

Bodies are JSON (form fields work too); errors have Stripe's shape. Paying with a declined
card answers 402 with Stripe's `card_error`, like the card errors of the real API.
"""

from __future__ import annotations

import copy
import json
from typing import TYPE_CHECKING, Any

from quart import Blueprint, Response, request

from devstack.stripe_emulator.checkout import expire_session
from devstack.stripe_emulator.events import enabled_events
from devstack.stripe_emulator.faults import API_MODES, WEBHOOK_MODES, add_fault
from devstack.stripe_emulator.payments import pay_session
from devstack.stripe_emulator.wire import StripeError, invalid

if TYPE_CHECKING:
    from devstack.stripe_emulator.app import Emulator

__all__ = ["control_blueprint"]


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body, indent=2), status, content_type="application/json")


async def _body() -> dict[str, Any]:
    if request.mimetype == "application/json":
        data = await request.get_json(silent=True)
        if not isinstance(data, dict):
            raise invalid("Expected a JSON object body.")
        return data
    return dict((await request.form).items())


def control_blueprint(emu: Emulator) -> Blueprint:
    bp = Blueprint("stripe_emulator_control", __name__, url_prefix="/_emulator")
    store = emu.store

    @bp.errorhandler(StripeError)
    async def stripe_error(exc: StripeError) -> Response:
        return _json(exc.body(), exc.status)

    @bp.get("/")
    async def index() -> Response:
        doc = (__doc__ or "").split("\n\n")[1]
        return _json({"routes": [line.strip() for line in doc.splitlines() if line.strip()]})

    @bp.get("/health")
    async def health() -> Response:
        return _json({"ok": True, "webhook_url": store.webhook_url, "now": store.now()})

    @bp.post("/checkout/sessions/<session_id>/pay")
    async def pay(session_id: str) -> Response:
        body = await _body()
        card = body.get("card")
        if not isinstance(card, str):
            raise invalid('Give the card number: {"card": "4242424242424242"}', param="card")
        session = store.get(session_id, param="session", kind="checkout.session")
        fields = {k: str(body[k]) for k in ("exp_month", "exp_year", "cvc", "email", "name")
                  if body.get(k) is not None}  # fmt: skip
        intent = pay_session(store, emu.events, session, {"number": card, **fields})
        return _json({"session": copy.deepcopy(session), "payment_intent": copy.deepcopy(intent)})

    @bp.post("/checkout/sessions/<session_id>/expire")
    async def expire(session_id: str) -> Response:
        session = store.get(session_id, param="session", kind="checkout.session")
        return _json(copy.deepcopy(expire_session(store, emu.events, session)))

    @bp.post("/faults/api")
    async def api_fault() -> Response:
        knob = add_fault(store.api_faults, await _body(), API_MODES)
        store.changed()
        return _json(knob)

    @bp.post("/faults/webhooks")
    async def webhook_fault() -> Response:
        knob = add_fault(store.webhook_faults, await _body(), WEBHOOK_MODES)
        store.changed()
        return _json(knob)

    @bp.get("/faults")
    async def faults() -> Response:
        return _json({"api": store.api_faults, "webhooks": store.webhook_faults})

    @bp.delete("/faults")
    async def clear_faults() -> Response:
        store.api_faults.clear()
        store.webhook_faults.clear()
        store.changed()
        return _json({"api": [], "webhooks": []})

    @bp.get("/deliveries")
    async def deliveries() -> Response:
        event = request.args.get("event")
        rows = [d for d in store.deliveries if event is None or d["event"] == event]
        # events still being retried, with the attempts made so far
        return _json({"data": rows, "retrying": store.webhook_queue})

    @bp.post("/webhook-endpoint")
    async def webhook_endpoint() -> Response:
        body = await _body()
        url = body.get("url")
        if url is not None and not (
            isinstance(url, str) and url.startswith(("http://", "https://"))
        ):
            raise invalid("url must be an http(s) URL, or null to stop deliveries", param="url")
        wanted = body.get("enabled_events", ["*"])
        if not isinstance(wanted, list):
            raise invalid("enabled_events must be a list of event types", param="enabled_events")
        store.enabled_events = enabled_events(wanted)
        store.webhook_url = url
        store.changed()
        return _json({"url": url, "enabled_events": store.enabled_events})

    @bp.post("/clock/advance")
    async def advance_clock() -> Response:
        seconds = (await _body()).get("seconds")
        if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
            raise invalid("seconds must be a number >= 0", param="seconds")
        store.clock_offset += float(seconds)
        store.changed()
        return _json({"now": store.now(), "offset_seconds": store.clock_offset})

    @bp.post("/reset")
    async def reset() -> Response:
        emu.reset()
        return _json({"ok": True})

    return bp
