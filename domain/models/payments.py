"""Payments: Stripe checkout sessions, payments, purchases, refunds and the Stripe events
received by the webhook (the carts and orders they pay for are domain/models/cart_orders.py).

Money is `Numeric(10, 2)` in the shop's currency, as for orders. Every invariant that protects
money is a database constraint, so a race ends in a constraint violation, never in a second
charge or purchase:

- a Stripe Checkout Session, PaymentIntent, Refund and Event is recorded at most once
  (unique Stripe ids);
- at most one payment pays an order (a partial unique index);
- a movie is bought at most once per user (`purchases`), and only through a payment;
- a payment is never refunded beyond what was paid (`refunded_amount <= amount`, a CHECK).

Money records reference orders, movies and users with ON DELETE RESTRICT: they outlive nothing
silently.
"""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from domain.models.base import MONEY, Base, enum_column, now_default, updated_at_default


class CheckoutSessionStatus(enum.StrEnum):
    OPEN = "open"
    COMPLETE = "complete"
    EXPIRED = "expired"


class PaymentStatus(enum.StrEnum):
    SUCCESSFUL = "successful"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"


class RefundStatus(enum.StrEnum):
    REQUESTED = "requested"  # our row exists; Stripe has not accepted it yet (retrying)
    PENDING = "pending"  # Stripe accepted it; the final state comes from its events
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # Stripe refused or failed it: the amount is refundable again


class RefundReason(enum.StrEnum):
    REQUESTED_BY_CUSTOMER = "requested_by_customer"
    ORDER_NOT_PAYABLE = "order_not_payable"  # paid after cancel/expiry, or a second session
    ADMIN = "admin"


class CheckoutSession(Base):
    """A Stripe Checkout Session made for an order (an order may get a new one after expiry)."""

    __tablename__ = "checkout_sessions"
    __table_args__ = (CheckConstraint("amount_total >= 0", name="amount_non_negative"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    stripe_session_id: Mapped[str] = mapped_column(String(255), unique=True)
    url: Mapped[str] = mapped_column(Text)
    status: Mapped[CheckoutSessionStatus] = mapped_column(
        enum_column(CheckoutSessionStatus, "checkout_session_status"),
        server_default=CheckoutSessionStatus.OPEN.value,
    )
    amount_total: Mapped[int] = mapped_column(BigInteger)  # minor units, as Stripe has it
    currency: Mapped[str] = mapped_column(String(3))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Completed with a delayed payment method whose money has not come yet (nor failed).
    payment_processing: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    # When the reconcile run last asked Stripe about it (whatever the answer); never: NULL.
    reconciled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = now_default()
    updated_at: Mapped[datetime] = updated_at_default()


class Payment(Base):
    """Money received from Stripe for one Checkout Session.

    `applied` is true for the payment that paid its order (and made purchases); a payment
    that arrived for an order that could no longer be paid is recorded with `applied` false
    and refunded automatically.
    """

    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint("amount >= 0", name="amount_non_negative"),
        CheckConstraint(
            "refunded_amount >= 0 AND refunded_amount <= amount", name="refund_within_amount"
        ),
        # At most one payment pays an order.
        Index(
            "uq_payments_order_id_applied",
            "order_id",
            unique=True,
            postgresql_where=text("applied"),
        ),
        Index("ix_payments_user_id_created_at", "user_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="RESTRICT"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    amount: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[PaymentStatus] = mapped_column(
        enum_column(PaymentStatus, "payment_status"),
        server_default=PaymentStatus.SUCCESSFUL.value,
    )
    applied: Mapped[bool] = mapped_column(Boolean)
    # Reserved by refunds that are requested, pending or succeeded (a failed one releases it).
    refunded_amount: Mapped[Decimal] = mapped_column(MONEY, server_default="0")
    stripe_checkout_session_id: Mapped[str] = mapped_column(String(255), unique=True)
    stripe_payment_intent_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    # When the SMTP server accepted the receipt: a retried send (a workflow task replayed after
    # its local activity ran, an activity retried after a timeout) does not mail it again.
    receipt_sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = now_default()
    updated_at: Mapped[datetime] = updated_at_default()


class PaymentItem(Base):
    """What one payment paid for, line by line (a partial refund names lines)."""

    __tablename__ = "payment_items"
    __table_args__ = (
        UniqueConstraint("payment_id", "order_item_id"),
        CheckConstraint("price >= 0", name="price_non_negative"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id", ondelete="CASCADE"))
    order_item_id: Mapped[int] = mapped_column(
        ForeignKey("order_items.id", ondelete="RESTRICT"), index=True
    )
    price: Mapped[Decimal] = mapped_column(MONEY)


class Purchase(Base):
    """A movie the user owns. Made only by the payment that paid its order; a refund of that
    line removes it."""

    __tablename__ = "purchases"
    __table_args__ = (
        UniqueConstraint("user_id", "movie_id"),
        CheckConstraint("price >= 0", name="price_non_negative"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    movie_id: Mapped[int] = mapped_column(ForeignKey("movies.id", ondelete="RESTRICT"), index=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="RESTRICT"), index=True)
    payment_id: Mapped[int] = mapped_column(
        ForeignKey("payments.id", ondelete="RESTRICT"), index=True
    )
    price: Mapped[Decimal] = mapped_column(MONEY)
    purchased_at: Mapped[datetime] = now_default()


class Refund(Base):
    __tablename__ = "refunds"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        # One refund in flight per payment: a second request joins it (or is a 409).
        Index(
            "uq_refunds_payment_id_in_flight",
            "payment_id",
            unique=True,
            postgresql_where=text("status IN ('requested', 'pending')"),
        ),
        # The automatic refund of a payment that came too late is made once (a failed one may
        # be followed by another).
        Index(
            "uq_refunds_payment_id_not_payable",
            "payment_id",
            unique=True,
            postgresql_where=text("reason = 'order_not_payable' AND status <> 'failed'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    payment_id: Mapped[int] = mapped_column(
        ForeignKey("payments.id", ondelete="RESTRICT"), index=True
    )
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="RESTRICT"), index=True)
    amount: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[RefundStatus] = mapped_column(
        enum_column(RefundStatus, "refund_status"), server_default=RefundStatus.REQUESTED.value
    )
    reason: Mapped[RefundReason] = mapped_column(enum_column(RefundReason, "refund_reason"))
    # Who asked (the buyer or an admin); null when the system refunded on its own.
    requested_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    stripe_refund_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    # The last error seen while asking Stripe (retrying), or Stripe's failure reason.
    failure_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = now_default()
    updated_at: Mapped[datetime] = updated_at_default()
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RefundItem(Base):
    """The order lines a refund covers (all of them for a full refund)."""

    __tablename__ = "refund_items"
    __table_args__ = (
        UniqueConstraint("refund_id", "order_item_id"),
        CheckConstraint("amount >= 0", name="amount_non_negative"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    refund_id: Mapped[int] = mapped_column(ForeignKey("refunds.id", ondelete="CASCADE"))
    order_item_id: Mapped[int] = mapped_column(
        ForeignKey("order_items.id", ondelete="RESTRICT"), index=True
    )
    amount: Mapped[Decimal] = mapped_column(MONEY)


class StripeEvent(Base):
    """Every Stripe event the webhook accepted, once (its id is the key): recorded before the
    webhook answers 2xx, so no payment is lost if handing it on fails."""

    __tablename__ = "stripe_events"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)  # evt_...
    type: Mapped[str] = mapped_column(String(100))
    # The object the event is about (cs_..., re_..., ch_...) and, when known, our order.
    object_id: Mapped[str | None] = mapped_column(String(255), index=True)
    order_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    stripe_created: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    received_at: Mapped[datetime] = now_default()
    # Set once the event was handed to its workflow (or found to need nothing).
    handled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
