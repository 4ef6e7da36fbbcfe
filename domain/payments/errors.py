"""Checkout and payment errors: the order to pay, its Checkout Sessions, the webhook, Stripe.
Each carries an HTTP status and a stable error code (the base classes: domain/errors.py)."""

from __future__ import annotations

from domain.errors import Conflict, DomainError, NotFound, ServiceUnavailable


class OrderNotFound(NotFound):
    code = "order_not_found"
    default_detail = "Order with the given id was not found."


class NoPendingOrder(NotFound):
    code = "no_pending_order"
    default_detail = "You have no pending order."


class CheckoutSessionNotFound(NotFound):
    code = "checkout_session_not_found"
    default_detail = "No checkout session with the given id."


class OrderNotPending(Conflict):
    """Carries the order's `order_status` (paid, cancelled, refunded)."""

    code = "order_not_pending"
    default_detail = "The order is not pending."


class OrderPaid(Conflict):
    """A cancel lost the race: Stripe had already taken the payment."""

    code = "order_paid"
    default_detail = "The order was paid before it could be cancelled; request a refund instead."


class PaymentProcessing(Conflict):
    """Carries `order_id`: a delayed payment (e.g. a bank debit) of this order is in flight."""

    code = "payment_processing"
    default_detail = (
        "A payment for this order is being processed; the order stays pending until it "
        "succeeds or fails."
    )


class InvalidWebhookSignature(DomainError):
    status = 400
    code = "invalid_signature"
    default_detail = "Missing or invalid Stripe signature."


class PaymentProviderError(DomainError):
    status = 502
    code = "payment_provider_error"
    default_detail = "The payment provider refused to open a checkout for this order."


class PaymentProviderUnavailable(ServiceUnavailable):
    code = "payment_provider_unavailable"
    default_detail = "The payment provider is unavailable; try again shortly."
