"""The JSON shapes of PaymentIntents, Charges and Refunds, as Stripe renders them (test mode).

Fields and their nullability follow Stripe's OpenAPI description (`stripe/openapi`,
`openapi/spec3.json`); what the emulator does not model carries Stripe's "off" value.
"""

from __future__ import annotations

from typing import Any

from devstack.stripe_emulator.cards import Card
from devstack.stripe_emulator.objects import NO_ADDRESS
from devstack.stripe_emulator.wire import new_id

__all__ = ["charge_object", "payment_intent_object", "refund_object"]


def payment_intent_object(
    *, amount: int, currency: str, created: int, metadata: dict[str, str], description: str | None
) -> dict[str, Any]:
    intent_id = new_id("pi_3")
    return {
        "id": intent_id,
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": 0,
        "application": None,
        "application_fee_amount": None,
        "automatic_payment_methods": None,
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": "automatic_async",
        "client_secret": f"{intent_id}_secret_{new_id('', 25)}",
        "confirmation_method": "automatic",
        "created": created,
        "currency": currency,
        "customer": None,
        "description": description,
        "excluded_payment_method_types": None,
        "last_payment_error": None,
        "latest_charge": None,
        "livemode": False,
        "metadata": metadata,
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": None,
        "payment_method_configuration_details": None,
        "payment_method_options": {"card": {"request_three_d_secure": "automatic"}},
        "payment_method_types": ["card"],
        "processing": None,
        "receipt_email": None,
        "review": None,
        "setup_future_usage": None,
        "shipping": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "requires_payment_method",
        "transfer_data": None,
        "transfer_group": None,
    }


def charge_object(
    intent: dict[str, Any], card: Card, payment_method: str, email: str | None, created: int
) -> dict[str, Any]:
    profile = card.profile
    paid = not profile.declines
    charge_id = new_id("ch_3")
    outcome = {
        "advice_code": None if paid else "try_again_later",
        "network_advice_code": None,
        "network_decline_code": None,
        "network_status": "approved_by_network" if paid else "declined_by_network",
        "reason": None if paid else profile.decline_code,
        "risk_level": "normal",
        "risk_score": 12,
        "seller_message": "Payment complete."
        if paid
        else "The bank did not return any further details with this decline.",
        "type": "authorized" if paid else "issuer_declined",
    }
    return {
        "id": charge_id,
        "object": "charge",
        "amount": intent["amount"],
        "amount_captured": intent["amount"] if paid else 0,
        "amount_refunded": 0,
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        "balance_transaction": new_id("txn_3") if paid else None,
        "billing_details": {
            "address": dict(NO_ADDRESS),
            "email": email,
            "name": None,
            "phone": None,
            "tax_id": None,
        },
        "calculated_statement_descriptor": "EMULATOR",
        "captured": paid,
        "created": created,
        "currency": intent["currency"],
        "customer": None,
        "description": intent["description"],
        "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": profile.code,
        "failure_message": profile.message,
        "fraud_details": {},
        "livemode": False,
        "metadata": dict(intent["metadata"]),
        "on_behalf_of": None,
        "outcome": outcome,
        "paid": paid,
        "payment_intent": intent["id"],
        "payment_method": payment_method,
        "payment_method_details": {
            "card": {
                "brand": profile.brand,
                "checks": {
                    "address_line1_check": None,
                    "address_postal_code_check": None,
                    "cvc_check": "pass",
                },
                "country": profile.country,
                "exp_month": card.exp_month,
                "exp_year": card.exp_year,
                "fingerprint": card.fingerprint,
                "funding": profile.funding,
                "last4": card.last4,
                "network": profile.brand,
            },
            "type": "card",
        },
        "receipt_email": None,
        "receipt_number": None,
        "receipt_url": None,
        "refunded": False,
        "review": None,
        "shipping": None,
        "source_transfer": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "succeeded" if paid else "failed",
        "transfer_data": None,
        "transfer_group": None,
    }


def refund_object(
    charge: dict[str, Any],
    amount: int,
    created: int,
    *,
    status: str,
    reason: str | None,
    metadata: dict[str, str],
) -> dict[str, Any]:
    return {
        "id": new_id("re_3"),
        "object": "refund",
        "amount": amount,
        "balance_transaction": new_id("txn_3"),
        "charge": charge["id"],
        "created": created,
        "currency": charge["currency"],
        "customer": None,
        "customer_account": None,
        "destination_details": {"card": {"type": "refund"}, "type": "card"},
        "metadata": metadata,
        "payment_intent": charge["payment_intent"],
        "payment_method": charge["payment_method"],
        "reason": reason,
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": status,
        "transfer_reversal": None,
    }
