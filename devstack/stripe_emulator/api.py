"""The `/v1` routes: what the service calls, spoken the way Stripe speaks it.

Every call goes through `_answer`: the API fault knobs, the API key, the form or query
parameters, `Idempotency-Key`, the handler, `expand[]`, and Stripe's headers (`Request-Id`,
`Stripe-Version`, `Idempotency-Key`, `Idempotent-Replayed`). Unknown URLs are Stripe's
"Unrecognized request URL" 404.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from quart import Blueprint, Response, request

from devstack.stripe_emulator.checkout import (
    create_session,
    expire_session,
    list_line_items,
    list_sessions,
)
from devstack.stripe_emulator.events import RequestRef, list_events
from devstack.stripe_emulator.expand import expand
from devstack.stripe_emulator.faults import take_fault
from devstack.stripe_emulator.objects import API_VERSION
from devstack.stripe_emulator.payments import create_refund, list_refunds
from devstack.stripe_emulator.wire import (
    Params,
    StripeError,
    api_key_from_header,
    check_api_key,
    decode_params,
    new_id,
    reject_unknown,
)

if TYPE_CHECKING:
    from devstack.stripe_emulator.app import Emulator

__all__ = ["api_blueprint"]

log = logging.getLogger("stripe_emulator")

Handler = Callable[..., dict[str, Any]]


def _fault_error(knob: dict[str, Any]) -> StripeError:
    if knob["mode"] == "429":
        return StripeError(
            429,
            "Request rate limit exceeded. Learn more about rate limits here "
            "https://stripe.com/docs/rate-limits.",
            code="rate_limit",
        )
    return StripeError(500, "An unknown error occurred", type="api_error")


async def _params() -> Params:
    pairs = parse_qsl(request.query_string.decode("utf-8", "replace"), keep_blank_values=True)
    if request.method == "POST":
        body = await request.get_data(as_text=False)
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        pairs += parse_qsl(text, keep_blank_values=True)
    return decode_params(pairs)


async def _stalled(data: bytes, seconds: float) -> AsyncIterator[bytes]:
    """The answer's first half now (with the status and headers), the rest after `seconds`."""
    yield data[: len(data) // 2]
    await asyncio.sleep(seconds)
    yield data[len(data) // 2 :]


def api_blueprint(emu: Emulator) -> Blueprint:
    bp = Blueprint("stripe_v1", __name__)
    store = emu.store

    async def _answer(handler: Handler, **path_args: str) -> Response:
        request_id = new_id("req_", 14)
        headers = {
            "Request-Id": request_id,
            "Stripe-Version": request.headers.get("Stripe-Version", API_VERSION),
        }
        idem_key = request.headers.get("Idempotency-Key") if request.method == "POST" else None
        if idem_key is not None:
            headers["Idempotency-Key"] = idem_key
        knob = take_fault(store.api_faults)
        if knob is not None:
            store.changed()
            log.info("fault %s on %s %s", knob["mode"], request.method, request.path)
        reserved: tuple[str, str, Params] | None = None
        try:
            if knob is not None and knob["mode"] in ("500", "429"):
                raise _fault_error(knob)
            if knob is not None and knob["mode"] == "timeout" and not knob["after"]:
                # timeout before doing anything
                await asyncio.sleep(knob["seconds"])
                raise StripeError(500, "An unknown error occurred", type="api_error")
            api_key = api_key_from_header(request.headers.get("Authorization"))
            check_api_key(api_key, emu.config.api_key)
            assert api_key is not None
            params = await _params()
            if idem_key is not None:
                saved = emu.idempotency.begin(
                    api_key, idem_key, request.method, request.path, params
                )
                if saved is not None:
                    headers.update({"Request-Id": saved.request_id, "Idempotent-Replayed": "true"})
                    return Response(saved.body, saved.status, headers,
                                    content_type="application/json")  # fmt: skip
                reserved = (api_key, idem_key, params)
            ref: RequestRef = {"id": request_id, "idempotency_key": idem_key}
            status, body = 200, expand(store, handler(params, ref, **path_args), params)
        except StripeError as exc:
            status, body = exc.status, exc.body()
            headers.update(exc.headers)
        except Exception:  # an emulator bug: Stripe's 500, and a traceback in the log
            log.exception("%s %s failed", request.method, request.path)
            body = StripeError(500, "An unknown error occurred", type="api_error").body()
            status = 500
        text = json.dumps(body, indent=2)
        if reserved is not None:
            api_key, idem_key, params = reserved
            emu.idempotency.finish(api_key, idem_key, endpoint=f"{request.method} {request.path}",
                                   params=params, status=status, body=text,
                                   request_id=request_id)  # fmt: skip
        log.info("%s %s -> %d", request.method, request.path, status)
        if knob is not None and knob["after"]:  # done, but the answer comes too late
            await asyncio.sleep(knob["seconds"])
        if knob is not None and knob["mode"] == "stall_body":  # done; the answer stalls midway
            return Response(_stalled(text.encode(), knob["seconds"]), status, headers,
                            content_type="application/json")  # fmt: skip
        return Response(text, status, headers, content_type="application/json")

    def route(rule: str, method: str, handler: Handler) -> None:
        async def view(**path_args: str) -> Response:
            return await _answer(handler, **path_args)

        bp.add_url_rule(rule, f"{method} {rule}", view, methods=[method])

    def retrieve(kind: str, param: str) -> Handler:
        def handler(params: Params, _ref: RequestRef, object_id: str) -> dict[str, Any]:
            reject_unknown(params, ("expand",))
            return copy.deepcopy(store.get(object_id, param=param, kind=kind))

        return handler

    def create_session_h(params: Params, _ref: RequestRef) -> dict[str, Any]:
        return copy.deepcopy(create_session(store, params, emu.public_url))

    def expire_h(params: Params, ref: RequestRef, object_id: str) -> dict[str, Any]:
        reject_unknown(params, ("expand",))
        session = store.get(object_id, param="session", kind="checkout.session")
        return copy.deepcopy(expire_session(store, emu.events, session, ref))

    route("/v1/checkout/sessions", "POST", create_session_h)
    route("/v1/checkout/sessions", "GET", lambda params, _ref: list_sessions(store, params))
    route("/v1/checkout/sessions/<object_id>", "GET", retrieve("checkout.session", "session"))
    route("/v1/checkout/sessions/<object_id>/expire", "POST", expire_h)
    route(
        "/v1/checkout/sessions/<object_id>/line_items",
        "GET",
        lambda params, _ref, object_id: list_line_items(store, object_id, params),
    )
    route("/v1/payment_intents/<object_id>", "GET", retrieve("payment_intent", "intent"))
    route("/v1/charges/<object_id>", "GET", retrieve("charge", "charge"))
    route(
        "/v1/refunds",
        "POST",
        lambda params, ref: copy.deepcopy(create_refund(store, emu.events, params, ref)),
    )
    route("/v1/refunds", "GET", lambda params, _ref: list_refunds(store, params))
    route("/v1/refunds/<object_id>", "GET", retrieve("refund", "refund"))
    route("/v1/events", "GET", lambda params, _ref: list_events(store, params))
    route("/v1/events/<object_id>", "GET", retrieve("event", "id"))

    def unrecognized(params: Params, _ref: RequestRef, rest: str) -> dict[str, Any]:
        raise StripeError(
            404,
            f"Unrecognized request URL ({request.method}: {request.path}). Please see "
            "https://stripe.com/docs or we can help at https://support.stripe.com/. (The "
            "Stripe emulator implements only the calls listed in its README section.)",
        )

    async def fallback(rest: str) -> Response:
        return await _answer(unrecognized, rest=rest)

    bp.add_url_rule("/v1/<path:rest>", "unrecognized", fallback,
                    methods=["GET", "POST", "DELETE", "PUT", "PATCH"])  # fmt: skip
    return bp
