"""Carts and orders: what a buyer is about to buy, and the orders made from a cart (the payment
side, from Stripe's checkout sessions on, is domain/models/payments.py).

Money is `Numeric(10, 2)` in the shop's currency (`CURRENCY`); Stripe sees integer minor units.
Every invariant that protects money is a database constraint, so a race ends in a constraint
violation (a 409 for the API, a no-op for an activity), never in a second charge or purchase:

- one cart per user; a movie at most once per cart;
- one *pending* order per user (a partial unique index);
- an order line keeps the price the buyer was shown (`order_items.price`), and the order's
  total is the sum of those snapshots.

Order history references movies with ON DELETE RESTRICT: deleting a movie that someone
ordered archives it instead (domain/catalog). Carts cascade, so carts never block a delete.
Users are RESTRICT too: money records outlive nothing silently.
"""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from domain.models.base import MONEY, Base, enum_column, now_default, updated_at_default


class OrderStatus(enum.StrEnum):
    PENDING = "pending"  # created from the cart, not paid yet
    PAID = "paid"  # a payment was recorded; the buyer owns the movies
    CANCELLED = "cancelled"  # by the buyer, or its checkout expired; never paid
    REFUNDED = "refunded"  # paid, then refunded in full


class Cart(Base):
    __tablename__ = "carts"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    created_at: Mapped[datetime] = now_default()


class CartItem(Base):
    __tablename__ = "cart_items"
    __table_args__ = (UniqueConstraint("cart_id", "movie_id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    cart_id: Mapped[int] = mapped_column(ForeignKey("carts.id", ondelete="CASCADE"))
    # CASCADE: a cart never blocks deleting a movie (an archived one is refused at add time).
    movie_id: Mapped[int] = mapped_column(ForeignKey("movies.id", ondelete="CASCADE"), index=True)
    added_at: Mapped[datetime] = now_default()


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint("total_amount >= 0", name="total_non_negative"),
        CheckConstraint("currency ~ '^[a-z]{3}$'", name="currency_code"),
        # One pending order per user: a second create is a 409 carrying this one's id.
        Index(
            "uq_orders_user_id_pending",
            "user_id",
            unique=True,
            postgresql_where=text("status = 'pending'"),
        ),
        Index("ix_orders_user_id_created_at", "user_id", "created_at"),
        Index("ix_orders_status_created_at", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    status: Mapped[OrderStatus] = mapped_column(
        enum_column(OrderStatus, "order_status"), server_default=OrderStatus.PENDING.value
    )
    total_amount: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime] = now_default()
    updated_at: Mapped[datetime] = updated_at_default()
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Why it was cancelled: "user", "expired" (its checkout timed out), ...
    cancel_reason: Mapped[str | None] = mapped_column(String(32))


class OrderItem(Base):
    __tablename__ = "order_items"
    __table_args__ = (
        UniqueConstraint("order_id", "movie_id"),
        CheckConstraint("price >= 0", name="price_non_negative"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    # RESTRICT: a movie in someone's order history is archived, never deleted.
    movie_id: Mapped[int] = mapped_column(ForeignKey("movies.id", ondelete="RESTRICT"), index=True)
    # The price the buyer was shown when the order was made: Stripe charges exactly this.
    price: Mapped[Decimal] = mapped_column(MONEY)
