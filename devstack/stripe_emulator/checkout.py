"""Checkout Sessions: create (payment mode, `price_data` line items), expire, list.

Validation follows what Stripe enforces: required parameters, one currency per session, the
currency's minimum total, `expires_at` between 30 minutes and 24 hours after creation, metadata
limits (50 keys, 40-character keys, 500-character values). Paying is in `payments.py`.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from devstack.stripe_emulator.events import Events, RequestRef
from devstack.stripe_emulator.money import MAX_AMOUNT, MINIMUMS, check_currency, display
from devstack.stripe_emulator.objects import line_item_object, session_object
from devstack.stripe_emulator.store import Store, paginate
from devstack.stripe_emulator.wire import (
    Params,
    StripeError,
    invalid,
    missing,
    not_found,
    opt_dict,
    opt_int,
    opt_list,
    opt_str,
    reject_unknown,
)

__all__ = ["create_session", "expire_session", "list_line_items", "list_sessions", "metadata_of"]

MIN_EXPIRY, MAX_EXPIRY = 30 * 60, 24 * 3600
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CREATE_PARAMS = (
    "mode", "line_items", "success_url", "cancel_url", "client_reference_id", "customer_email",
    "metadata", "expires_at", "payment_method_types", "payment_intent_data", "locale",
    "submit_type", "expand",
)  # fmt: skip


def metadata_of(params: Params, name: str = "metadata", param: str = "metadata") -> dict[str, str]:
    """Stripe's metadata rules; an empty value unsets (on create: leaves out) a key."""
    raw = opt_dict(params, name, param)
    if len(raw) > 50:
        raise invalid("You can have at most 50 metadata keys.", param=param)
    metadata: dict[str, str] = {}
    for key, value in raw.items():
        where = f"{param}[{key}]"
        if not isinstance(value, str):
            raise invalid(f"Invalid string: {where}", param=where)
        if len(key) > 40:
            raise invalid(f"Metadata keys can have up to 40 characters: {key}", param=where)
        if len(value) > 500:
            raise invalid(
                f"Metadata values can have up to 500 characters, but you passed in a value "
                f"that is {len(value)} characters.",
                param=where,
            )
        if value != "":
            metadata[key] = value
    return metadata


def _url(params: Params, name: str, *, required: bool) -> str | None:
    value = opt_str(params, name)
    if value is None:
        if required:
            raise missing(name)
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise invalid("Not a valid URL", param=name, code="url_invalid")
    return value


def _line_items(params: Params) -> tuple[str, list[dict[str, Any]]]:
    lines = opt_list(params, "line_items")
    if not lines:
        raise missing("line_items")
    if len(lines) > 100:
        raise invalid("You can have at most 100 line items.", param="line_items")
    currency: str | None = None
    items: list[dict[str, Any]] = []
    for i, line in enumerate(lines):
        where = f"line_items[{i}]"
        if not isinstance(line, dict):
            raise invalid(f"Invalid hash: {where}", param=where)
        reject_unknown(line, ("price_data", "quantity", "price"), where)
        if "price" in line:
            raise not_found("price", str(line["price"]), f"{where}[price]")
        if "price_data" not in line:
            raise missing(f"{where}[price_data]")
        price = opt_dict(line, "price_data", f"{where}[price_data]")
        reject_unknown(price, ("currency", "unit_amount", "product_data"), f"{where}[price_data]")
        raw_currency = opt_str(price, "currency", f"{where}[price_data][currency]")
        if raw_currency is None:
            raise missing(f"{where}[price_data][currency]")
        item_currency = check_currency(raw_currency, f"{where}[price_data][currency]")
        if currency is not None and item_currency != currency:
            raise invalid(
                "All line items in a Checkout Session must use the same currency.",
                param=f"{where}[price_data][currency]",
            )
        currency = item_currency
        unit_amount = opt_int(price, "unit_amount", f"{where}[price_data][unit_amount]", minimum=0)
        if unit_amount is None:
            raise missing(f"{where}[price_data][unit_amount]")
        product = opt_dict(price, "product_data", f"{where}[price_data][product_data]")
        product_where = f"{where}[price_data][product_data]"
        reject_unknown(product, ("name", "description", "metadata", "images"), product_where)
        name = opt_str(product, "name", f"{product_where}[name]")
        if not name:
            raise missing(f"{product_where}[name]")
        metadata_of(product, "metadata", f"{product_where}[metadata]")
        quantity = opt_int(line, "quantity", f"{where}[quantity]", minimum=1)
        if quantity is None:
            raise missing(f"{where}[quantity]")
        items.append({"unit_amount": unit_amount, "quantity": quantity, "product_data": product})
    assert currency is not None
    return currency, items


def create_session(store: Store, params: Params, base_url: str) -> dict[str, Any]:
    reject_unknown(params, _CREATE_PARAMS)
    mode = opt_str(params, "mode")
    if mode is None:
        raise missing("mode")
    if mode in ("setup", "subscription"):
        raise invalid(f"The Stripe emulator implements only `payment` mode, not `{mode}`.",
                      param="mode")  # fmt: skip
    if mode != "payment":
        raise invalid("Invalid mode: must be one of payment, setup, or subscription", param="mode")
    spec: dict[str, Any] = {
        "success_url": _url(params, "success_url", required=True),
        "cancel_url": _url(params, "cancel_url", required=False),
        "metadata": metadata_of(params),
        "locale": opt_str(params, "locale"),
        "submit_type": opt_str(params, "submit_type"),
    }
    reference = opt_str(params, "client_reference_id")
    if reference is not None and not 1 <= len(reference) <= 200:
        raise invalid("client_reference_id must be 1 to 200 characters long.",
                      param="client_reference_id")  # fmt: skip
    spec["client_reference_id"] = reference
    email = opt_str(params, "customer_email")
    if email is not None and not _EMAIL.match(email):
        raise invalid(f"Invalid email address: {email}", param="customer_email",
                      code="email_invalid")  # fmt: skip
    spec["customer_email"] = email
    if spec["submit_type"] not in (None, "auto", "book", "donate", "pay"):
        raise invalid("Invalid submit_type: must be one of auto, book, donate, or pay",
                      param="submit_type")  # fmt: skip
    methods = opt_list(params, "payment_method_types")
    if any(m != "card" for m in methods):
        raise invalid("The Stripe emulator accepts only the `card` payment method type.",
                      param="payment_method_types")  # fmt: skip
    intent_data = opt_dict(params, "payment_intent_data")
    reject_unknown(intent_data, ("metadata", "description"), "payment_intent_data")
    currency, items = _line_items(params)
    total = sum(item["unit_amount"] * item["quantity"] for item in items)
    if total < MINIMUMS[currency]:
        raise StripeError(
            400,
            "The Checkout Session's total amount due must add up to at least "
            f"{display(MINIMUMS[currency], currency)} {currency}",
            code="amount_too_small",
        )
    if total > MAX_AMOUNT:
        raise StripeError(
            400,
            "The Checkout Session's total amount due must add up to no more than "
            f"{display(MAX_AMOUNT, currency)} {currency}",
            code="amount_too_large",
        )
    now = store.now()
    expires_at = opt_int(params, "expires_at")
    if expires_at is None:
        expires_at = now + MAX_EXPIRY
    elif expires_at > now + MAX_EXPIRY:
        raise invalid("The `expires_at` timestamp must be less than 24 hours from Checkout "
                      "Session creation.", param="expires_at")  # fmt: skip
    elif expires_at < now + MIN_EXPIRY:
        raise invalid("The `expires_at` timestamp must be at least 30 minutes from Checkout "
                      "Session creation.", param="expires_at")  # fmt: skip
    session = session_object(
        created=now,
        expires_at=expires_at,
        currency=currency,
        amount_subtotal=total,
        spec=spec,
        base_url=base_url,
    )
    store.sessions[session["id"]] = session
    store.line_items[session["id"]] = [line_item_object(i, currency, now) for i in items]
    store.extras[session["id"]] = {
        "payment_intent_metadata": metadata_of(
            intent_data, "metadata", "payment_intent_data[metadata]"
        ),
        "payment_intent_description": opt_str(intent_data, "description"),
    }
    store.changed()
    return session


def expire_session(
    store: Store, events: Events, session: dict[str, Any], request: RequestRef | None = None
) -> dict[str, Any]:
    """Expire an open session (API call, control API or its `expires_at` passing)."""
    if session["status"] != "open":
        raise invalid(
            'Only Checkout Sessions with a status in ["open"] can be expired. This Checkout '
            f'Session has a status of "{session["status"]}".'
        )
    session["status"] = "expired"
    session["url"] = None
    intent_id = session.get("payment_intent")
    if intent_id and intent_id in store.payment_intents:
        intent = store.payment_intents[intent_id]  # a declined attempt left one open
        intent.update(status="canceled", canceled_at=store.now(), cancellation_reason="expired")
    events.emit("checkout.session.expired", session, request=request)
    store.changed()
    return session


def list_sessions(store: Store, params: Params) -> dict[str, Any]:
    reject_unknown(params, ("payment_intent", "status", "limit", "starting_after",
                            "ending_before", "expand"))  # fmt: skip
    intent, status = opt_str(params, "payment_intent"), opt_str(params, "status")
    sessions = [
        s
        for s in store.sessions.values()
        if (intent is None or s["payment_intent"] == intent)
        and (status is None or s["status"] == status)
    ]
    return paginate(sessions, params, "/v1/checkout/sessions", "checkout.session")


def list_line_items(store: Store, session_id: str, params: Params) -> dict[str, Any]:
    reject_unknown(params, ("limit", "starting_after", "ending_before", "expand"))
    store.get(session_id, param="session", kind="checkout.session")
    return paginate(
        store.line_items[session_id],
        params,
        f"/v1/checkout/sessions/{session_id}/line_items",
        "item",
        newest_first=False,
    )
