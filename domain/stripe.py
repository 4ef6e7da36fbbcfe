"""The Stripe gateway: the only module that imports `stripe`.

Async calls through aiohttp (`stripe.AIOHTTPClient`, a third of httpx's CPU per call), so an
activity or the webhook never blocks the event loop; `close()` ends its connection pool. Every
write takes an idempotency key derived from our own ids (`checkout:{order_id}:{run_id}:
{attempt}`, `refund:{refund_id}`): a Temporal retry of an activity repeats the key, so Stripe
answers with the object it made the first time instead of making a second one.

Errors come out as two kinds: `StripeUnavailable` (network, 5xx, 429: retry later) and
`StripeRejected` (Stripe said no: a retry cannot fix it). Results are small frozen dataclasses,
so no caller handles a `stripe` object.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import aiohttp
import stripe

from domain.config import Settings

# ISO currencies Stripe treats as having no minor unit (https://docs.stripe.com/currencies).
ZERO_DECIMAL_CURRENCIES = frozenset(
    [
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    ]
)


def minor_units(amount: Decimal, currency: str) -> int:
    """`Decimal("9.99"), "usd"` → 999. Exact: an amount with more places than the currency
    has is a bug upstream, so it raises instead of rounding money away."""
    exponent = 0 if currency.lower() in ZERO_DECIMAL_CURRENCIES else 2
    scaled = amount.scaleb(exponent)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount} has more places than {currency} allows")
    return int(scaled.to_integral_value())


def from_minor_units(amount: int, currency: str) -> Decimal:
    exponent = 0 if currency.lower() in ZERO_DECIMAL_CURRENCIES else 2
    return (
        Decimal(amount)
        .scaleb(-exponent)
        .quantize(Decimal(1).scaleb(-exponent), rounding=ROUND_HALF_EVEN)
    )


class StripeFailure(Exception):
    """Base of the gateway's errors. `message` never carries card data or personal data."""

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status


class StripeUnavailable(StripeFailure):
    """Stripe could not be reached, timed out, rate-limited us or failed (5xx): retry later."""


class StripeRejected(StripeFailure):
    """Stripe refused the request (4xx other than 429): the same request will fail again."""


class InvalidWebhook(Exception):
    """A webhook whose signature is missing, wrong, too old, or whose body is not an event."""


@dataclass(frozen=True)
class CheckoutLine:
    name: str
    unit_amount: int  # minor units


@dataclass(frozen=True)
class CheckoutSessionInfo:
    id: str
    url: str | None
    status: str  # open | complete | expired
    payment_status: str  # unpaid | paid | no_payment_required
    amount_total: int
    currency: str
    payment_intent: str | None
    expires_at: datetime
    order_id: str | None  # metadata.order_id


@dataclass(frozen=True)
class RefundInfo:
    id: str
    status: str  # pending | requires_action | succeeded | failed | canceled
    amount: int
    currency: str
    failure_reason: str | None


def _get(obj: Any, key: str) -> Any:
    try:
        return obj[key]
    except (KeyError, TypeError):
        return None


def _session_info(session: Any) -> CheckoutSessionInfo:
    payment_intent = _get(session, "payment_intent")
    if payment_intent is not None and not isinstance(payment_intent, str):
        payment_intent = _get(payment_intent, "id")
    metadata = _get(session, "metadata") or {}
    return CheckoutSessionInfo(
        id=session["id"],
        url=_get(session, "url"),
        status=session["status"],
        payment_status=session["payment_status"],
        amount_total=int(_get(session, "amount_total") or 0),
        currency=str(session["currency"]),
        payment_intent=payment_intent,
        expires_at=datetime.fromtimestamp(int(session["expires_at"]), UTC),
        order_id=_get(metadata, "order_id"),
    )


def _refund_info(refund: Any) -> RefundInfo:
    return RefundInfo(
        id=refund["id"],
        status=refund["status"],
        amount=int(refund["amount"]),
        currency=str(refund["currency"]),
        failure_reason=_get(refund, "failure_reason"),
    )


def _translate(exc: stripe.StripeError) -> StripeFailure:
    status = exc.http_status
    message = exc.user_message or type(exc).__name__
    code = exc.code
    if isinstance(exc, stripe.APIConnectionError | stripe.RateLimitError) or (
        status is None or status >= 500 or status == 429
    ):
        return StripeUnavailable(message, code=code, status=status)
    return StripeRejected(message, code=code, status=status)


class _AIOHTTPClient(stripe.AIOHTTPClient):
    """stripe's AIOHTTPClient, reading the answer's body inside its error handling: stripe's own
    reads it outside, so a connection that breaks or stalls mid-answer would raise aiohttp's
    error or a bare TimeoutError, past stripe's network retry and our StripeUnavailable (the
    HTTPX client read it inside). Here it becomes an `APIConnectionError`, as for the headers.
    Its pool also honours HTTPS_PROXY / NO_PROXY from the environment, as httpx did."""

    _pool: aiohttp.ClientSession | None = None  # made on the first call, in its event loop

    @property
    def _session(self) -> aiohttp.ClientSession:
        if self._pool is None:
            tls = ssl.create_default_context(cafile=stripe.ca_bundle_path)
            self._pool = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=tls), trust_env=True
            )
        return self._pool

    async def close_async(self) -> None:
        # stripe's own would make a pool (and load the CA bundle) only to close it.
        if self._pool is not None:
            await self._pool.close()

    async def request_async(
        self, method: str, url: str, headers: Mapping[str, str], post_data: Any = None
    ) -> tuple[bytes, int, Mapping[str, str]]:
        content, status, response_headers = await self.request_stream_async(
            method, url, headers, post_data=post_data
        )
        try:
            body = await content.read()
        except Exception as exc:  # what stripe's client does for the headers
            self._handle_request_error(exc)
        return body, status, response_headers


class StripeGateway:
    def __init__(self, settings: Settings) -> None:
        self._webhook_secret = settings.stripe_webhook_secret.get_secret_value()
        base = {"api": settings.stripe_api_base} if settings.stripe_api_base else None
        self._http = _AIOHTTPClient(
            timeout=aiohttp.ClientTimeout(total=settings.stripe_timeout_seconds)
        )
        self._client = stripe.StripeClient(
            settings.stripe_api_key.get_secret_value(),
            base_addresses=base,  # type: ignore[arg-type]
            # Our retries are Temporal's (same idempotency key); one quick retry of a dropped
            # connection here saves an activity attempt.
            max_network_retries=1,
            http_client=self._http,
        )

    async def close(self) -> None:
        """Close the connection pool (after the last call; in the loop that made the calls)."""
        await self._http.close_async()

    async def create_checkout_session(
        self,
        *,
        order_id: int,
        user_id: int,
        customer_email: str,
        lines: list[CheckoutLine],
        currency: str,
        expires_at: datetime,
        success_url: str,
        cancel_url: str,
        idempotency_key: str,
    ) -> CheckoutSessionInfo:
        params: dict[str, Any] = {
            "mode": "payment",
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": currency,
                        "unit_amount": line.unit_amount,
                        "product_data": {"name": line.name},
                    },
                }
                for line in lines
            ],
            "success_url": success_url,
            "cancel_url": cancel_url,
            "client_reference_id": str(user_id),
            "customer_email": customer_email,
            "metadata": {"order_id": str(order_id)},
            "payment_intent_data": {"metadata": {"order_id": str(order_id)}},
            "expires_at": int(expires_at.timestamp()),
        }
        try:
            session = await self._client.v1.checkout.sessions.create_async(
                params,  # type: ignore[arg-type]
                {"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as exc:
            raise _translate(exc) from None
        return _session_info(session)

    async def retrieve_checkout_session(self, session_id: str) -> CheckoutSessionInfo:
        try:
            session = await self._client.v1.checkout.sessions.retrieve_async(session_id)
        except stripe.StripeError as exc:
            raise _translate(exc) from None
        return _session_info(session)

    async def expire_checkout_session(self, session_id: str) -> CheckoutSessionInfo:
        """Expire an open session. If it is no longer open (paid, or already expired), Stripe
        refuses; the session's current state is returned instead, so the caller can tell
        "expired" from "the payment won"."""
        try:
            session = await self._client.v1.checkout.sessions.expire_async(session_id)
        except stripe.StripeError as exc:
            failure = _translate(exc)
            if isinstance(failure, StripeRejected) and failure.status != 404:
                return await self.retrieve_checkout_session(session_id)
            raise failure from None
        return _session_info(session)

    async def create_refund(
        self,
        *,
        payment_intent: str,
        amount: int,
        refund_id: int,
        order_id: int,
        reason: str | None,
        idempotency_key: str,
    ) -> RefundInfo:
        params: dict[str, Any] = {
            "payment_intent": payment_intent,
            "amount": amount,
            "metadata": {"refund_id": str(refund_id), "order_id": str(order_id)},
        }
        if reason in ("duplicate", "fraudulent", "requested_by_customer"):
            params["reason"] = reason
        try:
            refund = await self._client.v1.refunds.create_async(
                params,  # type: ignore[arg-type]
                {"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as exc:
            raise _translate(exc) from None
        return _refund_info(refund)

    async def retrieve_refund(self, stripe_refund_id: str) -> RefundInfo:
        try:
            refund = await self._client.v1.refunds.retrieve_async(stripe_refund_id)
        except stripe.StripeError as exc:
            raise _translate(exc) from None
        return _refund_info(refund)

    def parse_webhook(self, payload: bytes, signature: str | None) -> dict[str, Any]:
        """Verify the signature on the raw body (Stripe's default 300 s tolerance) and return
        the event as plain JSON data."""
        if not signature:
            raise InvalidWebhook("Missing Stripe-Signature header.")
        try:
            stripe.WebhookSignature.verify_header(
                payload.decode("utf-8"), signature, self._webhook_secret, tolerance=300
            )
            event = json.loads(payload)
        except (stripe.SignatureVerificationError, UnicodeDecodeError, ValueError):
            raise InvalidWebhook("Invalid Stripe webhook signature or payload.") from None
        if not isinstance(event, dict) or not isinstance(event.get("id"), str):
            raise InvalidWebhook("The payload is not a Stripe event.")
        if not isinstance(event.get("type"), str) or not isinstance(event.get("data"), dict):
            raise InvalidWebhook("The payload is not a Stripe event.")
        return event
