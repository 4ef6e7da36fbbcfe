"""Refund errors.
Each carries an HTTP status and a stable error code (the base classes: domain/errors.py)."""

from __future__ import annotations

from domain.errors import Conflict, DomainError, NotFound


class PaymentNotFound(NotFound):
    code = "payment_not_found"
    default_detail = "Payment with the given ID was not found."


class OrderNotPaid(Conflict):
    code = "order_not_paid"
    default_detail = "The order is not paid."


class OrderNotRefundable(Conflict):
    """Carries the order's `order_status` (e.g. cancelled)."""

    code = "order_not_refundable"
    default_detail = "This order cannot be refunded."


class RefundWindowClosed(Conflict):
    code = "refund_window_closed"
    default_detail = "The time to ask for a refund of this order has passed."


class AlreadyRefunded(Conflict):
    code = "already_refunded"
    default_detail = "Everything this payment paid for has been refunded already."


class RefundInProgress(Conflict):
    """Carries the `refund_id` of the refund in flight."""

    code = "refund_in_progress"
    default_detail = "A refund of this payment is already in progress."


class RefundExceedsPayment(Conflict):
    """The database refused it: the refunds would exceed what was paid."""

    code = "refund_exceeds_payment"
    default_detail = "The refund would exceed the amount paid."


class NothingToRefund(Conflict):
    code = "nothing_to_refund"
    default_detail = "The lines to refund add up to nothing."


class UnknownOrderItems(DomainError):
    status = 422
    code = "unknown_order_items"
    default_detail = "Some lines to refund are not part of this payment."
