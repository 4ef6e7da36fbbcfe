"""The Stripe gateway against the emulator, through the real `stripe` client: idempotent writes,
the two kinds of error, expire-after-pay, webhook signatures, and exact money conversion."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from domain.config import Settings
from domain.stripe import (
    CheckoutLine,
    InvalidWebhook,
    StripeGateway,
    StripeRejected,
    StripeUnavailable,
    from_minor_units,
    minor_units,
)
from tests.conftest import StripeEmulator


@pytest.fixture
def emulator(stripe_emulator: StripeEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{stripe_emulator.url}/_emulator", timeout=10) as control:
        assert control.post("/reset").status_code == 200
        yield control
        control.post("/reset")


def gateway(emu: StripeEmulator, **overrides: Any) -> StripeGateway:
    values: dict[str, Any] = {
        "stripe_api_base": emu.url,
        "stripe_api_key": emu.api_key,
        "stripe_webhook_secret": emu.webhook_secret,
        "stripe_timeout_seconds": 5,
        **overrides,
    }
    return StripeGateway(Settings.model_validate(values))


# One instant for every call: a retry under the same idempotency key must repeat the same
# parameters, or Stripe refuses it (so the checkout workflow fixes `expires_at` before the call).
EXPIRES_AT = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=12)


def session_args(key: str, **overrides: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "order_id": 7,
        "user_id": 3,
        "customer_email": "buyer@example.com",
        "lines": [CheckoutLine("Heat", 999), CheckoutLine("Ran", 1)],
        "currency": "usd",
        "expires_at": EXPIRES_AT,
        "success_url": "http://shop.test/payments/success/?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": "http://shop.test/payments/cancel/",
        "idempotency_key": key,
    }
    args.update(overrides)
    return args


async def test_checkout_session_is_made_once_per_key_and_carries_the_order(
    stripe_emulator: StripeEmulator, emulator: httpx.Client
) -> None:
    stripe = gateway(stripe_emulator)
    first = await stripe.create_checkout_session(**session_args("checkout:7:1"))
    again = await stripe.create_checkout_session(**session_args("checkout:7:1"))
    other = await stripe.create_checkout_session(**session_args("checkout:7:2"))
    assert again.id == first.id and other.id != first.id
    with pytest.raises(StripeRejected):  # the same key with other parameters
        await stripe.create_checkout_session(
            **session_args("checkout:7:1", expires_at=EXPIRES_AT + timedelta(minutes=1))
        )
    assert (first.status, first.payment_status) == ("open", "unpaid")
    assert (first.amount_total, first.currency, first.order_id) == (1000, "usd", "7")
    assert first.url and first.url.startswith(stripe_emulator.url)


async def test_expiring_a_paid_session_reports_the_payment(
    stripe_emulator: StripeEmulator, emulator: httpx.Client
) -> None:
    stripe = gateway(stripe_emulator)
    paid = await stripe.create_checkout_session(**session_args("checkout:7:1"))
    response = emulator.post(f"/checkout/sessions/{paid.id}/pay", json={"card": "4242424242424242"})
    assert response.status_code == 200, response.text
    after = await stripe.expire_checkout_session(paid.id)
    assert (after.status, after.payment_status) == ("complete", "paid")
    assert after.payment_intent and after.payment_intent.startswith("pi_")

    open_one = await stripe.create_checkout_session(**session_args("checkout:7:2"))
    assert (await stripe.expire_checkout_session(open_one.id)).status == "expired"


async def test_refunds_are_idempotent_and_never_exceed_the_charge(
    stripe_emulator: StripeEmulator, emulator: httpx.Client
) -> None:
    stripe = gateway(stripe_emulator)
    session = await stripe.create_checkout_session(**session_args("checkout:7:1"))
    emulator.post(f"/checkout/sessions/{session.id}/pay", json={"card": "4242424242424242"})
    intent = (await stripe.retrieve_checkout_session(session.id)).payment_intent
    assert intent is not None
    refund: dict[str, Any] = {
        "payment_intent": intent,
        "order_id": 7,
        "reason": "requested_by_customer",
    }
    first = await stripe.create_refund(
        amount=600, refund_id=1, idempotency_key="refund:1", **refund
    )
    again = await stripe.create_refund(
        amount=600, refund_id=1, idempotency_key="refund:1", **refund
    )
    assert again.id == first.id and (first.status, first.amount) == ("succeeded", 600)
    with pytest.raises(StripeRejected) as refused:
        await stripe.create_refund(amount=600, refund_id=2, idempotency_key="refund:2", **refund)
    assert refused.value.status == 400
    assert (await stripe.retrieve_refund(first.id)).amount == 600


async def test_stripe_failures_are_retryable_and_a_bad_key_is_not(
    stripe_emulator: StripeEmulator, emulator: httpx.Client
) -> None:
    assert emulator.post("/faults/api", json={"mode": "500", "count": 2}).status_code == 200
    with pytest.raises(StripeUnavailable):
        await gateway(stripe_emulator).create_checkout_session(**session_args("checkout:7:1"))
    with pytest.raises(StripeRejected) as refused:
        await gateway(stripe_emulator, stripe_api_key="sk_test_wrongwrongwrong").retrieve_refund(
            "re_123"
        )
    assert refused.value.status == 401


async def test_an_answer_that_stalls_midway_is_retried_then_unavailable(
    stripe_emulator: StripeEmulator, emulator: httpx.Client
) -> None:
    """The status and headers arrive, the body stalls: stripe's one network retry repeats the
    key and gets the session made the first time; when every attempt stalls, the caller gets
    StripeUnavailable (retryable), never aiohttp's own error."""
    slow = gateway(stripe_emulator, stripe_timeout_seconds=1)
    assert (
        emulator.post("/faults/api", json={"mode": "stall_body", "seconds": 3}).status_code == 200
    )
    made = await slow.create_checkout_session(**session_args("checkout:8:1"))
    assert made.id == (await slow.retrieve_checkout_session(made.id)).id
    stall = {"mode": "stall_body", "seconds": 3, "count": 2}
    assert emulator.post("/faults/api", json=stall).status_code == 200
    with pytest.raises(StripeUnavailable):
        await slow.retrieve_checkout_session(made.id)


def signed(body: bytes, secret: str, at: int) -> str:
    digest = hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={at},v1={digest}"


def test_webhook_signatures(stripe_emulator: StripeEmulator) -> None:
    stripe = gateway(stripe_emulator)
    body = json.dumps({"id": "evt_1", "type": "checkout.session.expired", "data": {}}).encode()
    secret, now = stripe_emulator.webhook_secret, int(time.time())
    assert stripe.parse_webhook(body, signed(body, secret, now))["id"] == "evt_1"
    refused = [
        (body, None),
        (body, ""),
        (body, signed(body, "whsec_someoneelse", now)),
        (body, signed(body, secret, now - 301)),  # older than Stripe's 300 s tolerance
        (body, signed(body + b" ", secret, now)),  # the signature of another body
        (b"[1]", signed(b"[1]", secret, now)),  # signed, but not an event
    ]
    for payload, header in refused:
        with pytest.raises(InvalidWebhook):
            stripe.parse_webhook(payload, header)


def test_money_converts_exactly() -> None:
    assert minor_units(Decimal("9.99"), "usd") == 999
    assert minor_units(Decimal("0.10"), "eur") == 10
    assert minor_units(Decimal("500"), "jpy") == 500
    assert from_minor_units(999, "usd") == Decimal("9.99")
    assert from_minor_units(500, "JPY") == Decimal("500")
    with pytest.raises(ValueError):
        minor_units(Decimal("9.999"), "usd")  # never rounds money away
    with pytest.raises(ValueError):
        minor_units(Decimal("1.5"), "jpy")
