"""The JSON shapes of Checkout Sessions and their line items, as Stripe renders them (test mode).

Fields and their nullability follow Stripe's OpenAPI description (`stripe/openapi`,
`openapi/spec3.json`); features the emulator does not model carry Stripe's "off" value
(`null`, `[]`, `{"enabled": false}`), never an invented one.
"""

from __future__ import annotations

from typing import Any

from devstack.stripe_emulator.wire import new_id

__all__ = ["API_VERSION", "NO_ADDRESS", "line_item_object", "session_object"]

API_VERSION = "2026-10-28.endive"  # rendered in events; the version stripe-python 16 pins
NO_ADDRESS = dict.fromkeys(("city", "country", "line1", "line2", "postal_code", "state"))


def session_object(
    *,
    created: int,
    expires_at: int,
    currency: str,
    amount_subtotal: int,
    spec: dict[str, Any],
    base_url: str,
) -> dict[str, Any]:
    session_id = "cs_test_a1" + new_id("", 58)
    return {
        "id": session_id,
        "object": "checkout.session",
        "adaptive_pricing": {"enabled": False},
        "after_expiration": None,
        "allow_promotion_codes": None,
        "amount_subtotal": amount_subtotal,
        "amount_total": amount_subtotal,
        "automatic_tax": {"enabled": False, "liability": None, "provider": None, "status": None},
        "billing_address_collection": None,
        "cancel_url": spec.get("cancel_url"),
        "client_reference_id": spec.get("client_reference_id"),
        "client_secret": None,
        "collected_information": None,
        "consent": None,
        "consent_collection": None,
        "created": created,
        "currency": currency,
        "currency_conversion": None,
        "custom_fields": [],
        "custom_text": dict.fromkeys(
            ("after_submit", "shipping_address", "submit", "terms_of_service_acceptance")
        ),
        "customer": None,
        "customer_creation": "if_required",
        "customer_details": None,
        "customer_email": spec.get("customer_email"),
        "discounts": [],
        "expires_at": expires_at,
        "invoice": None,
        "invoice_creation": None,
        "livemode": False,
        "locale": spec.get("locale"),
        "metadata": spec.get("metadata", {}),
        "mode": "payment",
        "origin_context": None,
        "payment_intent": None,  # created when the customer pays (API versions since 2022-08-01)
        "payment_link": None,
        "payment_method_collection": "if_required",
        "payment_method_configuration_details": None,
        "payment_method_options": {"card": {"request_three_d_secure": "automatic"}},
        "payment_method_types": ["card"],
        "payment_status": "unpaid",
        "permissions": None,
        "phone_number_collection": {"enabled": False},
        "recovered_from": None,
        "saved_payment_method_options": None,
        "setup_intent": None,
        "shipping_address_collection": None,
        "shipping_cost": None,
        "shipping_options": [],
        "status": "open",
        "submit_type": spec.get("submit_type"),
        "subscription": None,
        "success_url": spec.get("success_url"),
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "ui_mode": "hosted_page",
        "url": f"{base_url}/c/pay/{session_id}",
        "wallet_options": None,
    }


def line_item_object(item: dict[str, Any], currency: str, created: int) -> dict[str, Any]:
    """One `item` of a session from its validated `price_data` line."""
    total = item["unit_amount"] * item["quantity"]
    product = item["product_data"]
    return {
        "id": new_id("li_"),
        "object": "item",
        "amount_discount": 0,
        "amount_subtotal": total,
        "amount_tax": 0,
        "amount_total": total,
        "currency": currency,
        "description": product["name"],
        "metadata": {},
        "price": {
            "id": new_id("price_"),
            "object": "price",
            "active": False,  # a price made from price_data is inline, never reusable
            "billing_scheme": "per_unit",
            "created": created,
            "currency": currency,
            "custom_unit_amount": None,
            "livemode": False,
            "lookup_key": None,
            "metadata": {},
            "nickname": None,
            "product": new_id("prod_", 14),
            "recurring": None,
            "tax_behavior": "unspecified",
            "tiers_mode": None,
            "transform_quantity": None,
            "type": "one_time",
            "unit_amount": item["unit_amount"],
            "unit_amount_decimal": str(item["unit_amount"]),
        },
        "quantity": item["quantity"],
    }
