"""Refunds: opening one (under a lock on the payment, never beyond what was paid) and its state
transitions, each a compare-and-set, so applying the same final state twice changes nothing.

    requested ──(Stripe accepted)──▶ pending ──▶ succeeded   purchases of its lines revoked;
        │                               │              │     order refunded once all is
        └───────(Stripe refused)────────┴──────▶ failed ◀┘    amount released; order stays paid

A succeeded refund that Stripe fails later (`refund.failed` after `succeeded`, e.g. the card's
account was closed) goes to failed once: the amount, the payment's status, the order and the
revoked purchases are put back, since the buyer did not get the money.

Services never commit: the request or the activity owns the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from domain.db import MAX_ID, constraint_name
from domain.models import (
    Order,
    OrderStatus,
    Payment,
    Refund,
    RefundReason,
    RefundStatus,
)
from domain.payments.errors import OrderNotFound
from domain.refunds import repository as repo
from domain.refunds import settlement
from domain.refunds.errors import (
    AlreadyRefunded,
    NothingToRefund,
    OrderNotPaid,
    OrderNotRefundable,
    PaymentNotFound,
    RefundExceedsPayment,
    RefundInProgress,
    RefundWindowClosed,
    UnknownOrderItems,
)

WITHIN_AMOUNT = "ck_payments_refund_within_amount"
ONE_IN_FLIGHT = "uq_refunds_payment_id_in_flight"
ONE_NOT_PAYABLE = "uq_refunds_payment_id_not_payable"


@dataclass(frozen=True)
class OpenedRefund:
    refund: Refund
    created: bool  # False: a refund already in flight was found (a retried request)


async def open_refund(
    session: AsyncSession,
    *,
    payment_id: int,
    reason: RefundReason,
    requested_by: int | None,
    order_item_ids: list[int] | None = None,
) -> Refund:
    """Open a refund of the payment's remaining lines, or of the named ones (admins, later).

    The payment row is locked first, so two requests for one payment take turns; the second
    sees the first's refund in flight.
    """
    payment = await repo.lock_payment(session, payment_id)
    if payment is None:
        raise PaymentNotFound()
    in_flight = await repo.in_flight_refund(session, payment_id)
    if in_flight is not None:
        raise RefundInProgress(refund_id=in_flight.id)
    paid_lines = await repo.payment_lines(session, payment_id)
    # Never a line twice: lines of refunds that did not fail are taken.
    taken = await repo.refunded_line_ids(session, payment_id)
    remaining = {item_id: price for item_id, price in paid_lines.items() if item_id not in taken}
    if order_item_ids is not None:
        unknown = sorted(set(order_item_ids) - set(paid_lines))
        if unknown or not order_item_ids:
            raise UnknownOrderItems(order_item_ids=unknown)
        if set(order_item_ids) - set(remaining):
            raise AlreadyRefunded("Some of these lines have been refunded already.")
        lines = {item_id: remaining[item_id] for item_id in order_item_ids}
        amount = sum(lines.values(), Decimal(0))
    elif paid_lines:
        lines, amount = remaining, sum(remaining.values(), Decimal(0))
        if not lines:
            raise AlreadyRefunded()
    else:  # a payment recorded without lines (one that paid no order): refund what is left
        lines, amount = {}, payment.amount - payment.refunded_amount
        if amount <= 0:
            raise AlreadyRefunded()
    if amount <= 0:
        raise NothingToRefund()
    try:
        await repo.reserve_amount(session, payment_id, amount)
        return await repo.insert_refund(
            session,
            payment=payment,
            amount=amount,
            reason=reason,
            requested_by=requested_by,
            lines=lines,
        )
    except IntegrityError as exc:
        # The constraints are the last line of defence behind the lock and the checks above.
        name = constraint_name(exc)
        if name == WITHIN_AMOUNT:
            raise RefundExceedsPayment() from None
        if name in (ONE_IN_FLIGHT, ONE_NOT_PAYABLE):
            raise RefundInProgress() from None
        raise


@dataclass(frozen=True)
class RefundableOrder:
    """A paid order and its applied payment, both locked until the transaction ends."""

    order: Order
    payment: Payment
    in_flight: Refund | None  # the payment's refund in flight, if any


async def lock_refundable_order(
    session: AsyncSession, order_id: int, *, owner: int | None = None
) -> RefundableOrder:
    """The checked, locked step the buyer's and the admin's refunds share: lock the order
    (only the `owner`'s, when given: another user's order is not found either), check it is
    paid, then lock its applied payment (order → payment, the repository's lock order)."""
    order = (
        await repo.lock_order(session, order_id, owner=owner) if 1 <= order_id <= MAX_ID else None
    )
    if order is None:
        raise OrderNotFound()
    if order.status == OrderStatus.PENDING:
        raise OrderNotPaid()
    if order.status == OrderStatus.REFUNDED:
        raise AlreadyRefunded(
            "This order has been refunded already.", order_status=order.status.value
        )
    if order.status != OrderStatus.PAID:
        raise OrderNotRefundable(
            f"A {order.status.value} order cannot be refunded.", order_status=order.status.value
        )
    payment_id = await repo.applied_payment_id(session, order_id)
    if payment_id is None:  # a paid order always has its payment; refuse rather than guess
        raise OrderNotPaid("No payment of this order was found.")
    payment = await repo.lock_payment(session, payment_id)
    assert payment is not None
    return RefundableOrder(order, payment, await repo.in_flight_refund(session, payment_id))


async def request_buyer_refund(
    session: AsyncSession, *, order_id: int, user_id: int, now: datetime, window: timedelta
) -> OpenedRefund:
    """The buyer asks for their paid order's money back, within `window` of paying.

    A refund already in flight for the order is returned as it is (a retried request, e.g.
    after a 503, must reach the same refund and not open a second one).
    """
    locked = await lock_refundable_order(session, order_id, owner=user_id)
    if locked.in_flight is not None:
        return OpenedRefund(locked.in_flight, created=False)
    if now - repo.paid_since(locked.order, locked.payment) > window:
        raise RefundWindowClosed()
    refund = await open_refund(
        session,
        payment_id=locked.payment.id,
        reason=RefundReason.REQUESTED_BY_CUSTOMER,
        requested_by=user_id,
    )
    return OpenedRefund(refund, created=True)


async def open_unapplied_payment_refund(session: AsyncSession, payment_id: int) -> OpenedRefund:
    """Refund a payment that paid no order (it came after the order was cancelled or paid by
    another session). At most one live refund per payment, however often this is asked."""
    payment = await repo.lock_payment(session, payment_id)
    if payment is None:
        raise PaymentNotFound()
    existing = await repo.live_refund_with_reason(
        session, payment_id, RefundReason.ORDER_NOT_PAYABLE
    )
    if existing is not None:
        return OpenedRefund(existing, created=False)
    if payment.applied:
        raise OrderNotRefundable("This payment paid its order; it is not refunded automatically.")
    refund = await open_refund(
        session, payment_id=payment_id, reason=RefundReason.ORDER_NOT_PAYABLE, requested_by=None
    )
    return OpenedRefund(refund, created=True)


# ----------------------------------------------------------------------------- transitions
async def note_retry(session: AsyncSession, refund_id: int, reason: str) -> None:
    await repo.note_retry(session, refund_id, reason)


async def mark_pending(session: AsyncSession, refund_id: int, stripe_refund_id: str) -> bool:
    """requested → pending: Stripe accepted it (its id is kept)."""
    return await repo.mark_pending(session, refund_id, stripe_refund_id)


async def mark_succeeded(session: AsyncSession, refund_id: int) -> bool:
    """→ succeeded: the payment's status follows; an applied payment's purchases of the
    refunded lines are revoked, and its order is refunded once the whole payment is."""
    current = await repo.get_refund(session, refund_id)
    if current is None or current.status not in repo.IN_FLIGHT:
        return False
    order = await repo.lock_order(session, current.order_id)
    payment = await repo.lock_payment(session, current.payment_id)
    refund = await settlement.finish_refund(session, refund_id, RefundStatus.SUCCEEDED, None)
    if refund is None or order is None or payment is None:
        return False
    await settlement.payment_follows(session, refund_id, payment, order.id, succeeded=True)
    return True


async def mark_failed(session: AsyncSession, refund_id: int, failure_reason: str) -> bool:
    """→ failed: the amount is released (refundable again); the order stays as it was."""
    current = await repo.get_refund(session, refund_id)
    if current is None or current.status not in repo.IN_FLIGHT:
        return False
    await repo.lock_order(session, current.order_id)
    await repo.lock_payment(session, current.payment_id)
    refund = await settlement.finish_refund(session, refund_id, RefundStatus.FAILED, failure_reason)
    if refund is None:
        return False
    await settlement.release_amount(session, refund.payment_id, refund.amount)
    return True


async def mark_failed_after_success(
    session: AsyncSession, refund_id: int, stripe_refund_id: str | None, failure_reason: str
) -> bool:
    """succeeded → failed, once: Stripe failed the refund after it had succeeded. The amount is
    released, the payment's status follows what is still refunded, an applied payment's
    purchases of the refund's lines come back and its order is paid again. False when nothing
    changed (not succeeded any more, or the event is about another Stripe refund)."""
    current = await repo.get_refund(session, refund_id)
    if current is None or current.status != RefundStatus.SUCCEEDED:
        return False
    if stripe_refund_id is not None and current.stripe_refund_id not in (None, stripe_refund_id):
        return False
    order = await repo.lock_order(session, current.order_id)
    payment = await repo.lock_payment(session, current.payment_id)
    refund = await settlement.finish_refund(
        session, refund_id, RefundStatus.FAILED, failure_reason, was=[RefundStatus.SUCCEEDED]
    )
    if refund is None or order is None or payment is None:
        return False
    await settlement.release_amount(session, payment.id, refund.amount)
    await settlement.payment_follows(session, refund_id, payment, order.id, succeeded=False)
    return True
