"""Checkout activities: each is one transaction of idempotent SQL, one Stripe call with a key
derived from our ids, or one email. The buyer's email is loaded here, never passed through the
workflow."""

from __future__ import annotations

from sqlalchemy.exc import SQLAlchemyError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.mail import deliver
from domain.config import Settings
from domain.db import SessionFactory, autocommit, transaction
from domain.email.mailer import Mailer
from domain.email.render import EmailRenderer, build_message
from domain.models import CheckoutSessionStatus, OrderStatus
from domain.payments import payment_repository as ledger
from domain.payments import repository as repo
from domain.stripe import (
    CheckoutLine,
    CheckoutSessionInfo,
    StripeGateway,
    StripeRejected,
    StripeUnavailable,
    from_minor_units,
    minor_units,
)
from workflows.checkout_messages import (
    CancelledOrder,
    CancelOrder,
    CheckoutOrder,
    CheckoutSessionState,
    CreateCheckoutSession,
    CreatedCheckoutSession,
    ExpireCheckoutSessions,
    ExpiredCheckoutSessions,
    LoadCheckoutOrder,
    OpenCheckoutSession,
    RecordedPayment,
    RecordPayment,
    SendReceipt,
    SetPaymentProcessing,
)
from workflows.checkout_policy import (
    CANCEL_ORDER,
    CREATE_SESSION,
    EXPIRE_SESSIONS,
    LOAD_ORDER,
    RECORD_PAYMENT,
    SEND_RECEIPT,
    SET_PAYMENT_PROCESSING,
)


def _order_not_found(order_id: int) -> ApplicationError:
    return ApplicationError(
        f"order {order_id} does not exist", type="OrderNotFound", non_retryable=True
    )


def _stripe_error(exc: StripeRejected | StripeUnavailable) -> ApplicationError:
    # Stripe's message names no card or person (domain/stripe.py): safe in a history.
    if isinstance(exc, StripeRejected):
        return ApplicationError(exc.message, type="StripeRejected", non_retryable=True)
    return ApplicationError(exc.message, type="StripeUnavailable")


def _state(info: CheckoutSessionInfo) -> CheckoutSessionState:
    return CheckoutSessionState(
        session_id=info.id,
        status=info.status,
        payment_status=info.payment_status,
        amount_total=info.amount_total,
        currency=info.currency,
        payment_intent=info.payment_intent,
    )


def checkout_idempotency_key(order_id: int, run_id: str, attempt: int) -> str:
    # Runs recorded before the run id was passed keep their old keys (run_id "").
    return f"checkout:{order_id}:{run_id}:{attempt}" if run_id else f"checkout:{order_id}:{attempt}"


class PaymentActivities:
    def __init__(
        self,
        sessions: SessionFactory,
        gateway: StripeGateway,
        mailer: Mailer,
        renderer: EmailRenderer,
        settings: Settings,
    ) -> None:
        self._sessions = sessions
        self._stripe = gateway
        self._mailer = mailer
        self._renderer = renderer
        self._settings = settings

    @activity.defn(name=LOAD_ORDER)
    async def load_checkout_order(self, data: LoadCheckoutOrder) -> CheckoutOrder:
        """The order's status, its sessions still open by our rows (an earlier run's) and the
        one whose delayed payment is in flight."""
        async with autocommit(self._sessions) as session:  # one read
            found = await repo.order_sessions(session, data.order_id)
        if found is None:
            raise _order_not_found(data.order_id)
        processing = found.processing
        return CheckoutOrder(
            status=found.order.status,
            open_sessions=[
                OpenCheckoutSession(s.stripe_session_id, s.url, s.expires_at) for s in found.open
            ],
            processing_session_id=processing.stripe_session_id if processing else None,
            processing_since=processing.since if processing else None,
        )

    @activity.defn(name=CREATE_SESSION)
    async def create_checkout_session(self, data: CreateCheckoutSession) -> CreatedCheckoutSession:
        """A Stripe Checkout Session for the order's snapshot prices, under the key
        `checkout:{order_id}:{run_id}:{attempt}`: a retry gets the session the first try made,
        and another run of the same order never meets this run's keys."""
        async with autocommit(self._sessions) as session:  # reads only
            order = await repo.checkout_order(session, data.order_id)
        if order is None:
            raise _order_not_found(data.order_id)
        if order.status != OrderStatus.PENDING:
            raise ApplicationError(
                f"order {order.id} is {order.status}", type="OrderNotPending", non_retryable=True
            )
        base = self._settings.public_base
        try:
            info = await self._stripe.create_checkout_session(
                order_id=order.id,
                user_id=order.user_id,
                customer_email=order.email,
                lines=[
                    CheckoutLine(line.name, minor_units(line.price, order.currency))
                    for line in order.lines
                ],
                currency=order.currency,
                expires_at=data.expires_at,
                # Stripe fills {CHECKOUT_SESSION_ID} in itself.
                success_url=f"{base}/payments/success/?session_id={{CHECKOUT_SESSION_ID}}",
                cancel_url=f"{base}/payments/cancel/?order_id={order.id}",
                idempotency_key=checkout_idempotency_key(order.id, data.run_id, data.attempt),
            )
        except (StripeRejected, StripeUnavailable) as exc:
            raise _stripe_error(exc) from None
        async with autocommit(self._sessions) as session:  # one statement
            await repo.save_checkout_session(
                session,
                order_id=order.id,
                stripe_session_id=info.id,
                url=info.url or "",
                amount_total=info.amount_total,
                currency=info.currency,
                expires_at=info.expires_at,
            )
        return CreatedCheckoutSession(info.id, info.url or "", info.expires_at)

    @activity.defn(name=EXPIRE_SESSIONS)
    async def expire_checkout_sessions(
        self, data: ExpireCheckoutSessions
    ) -> ExpiredCheckoutSessions:
        """Expire every session of the order still open at Stripe, and say what each became:
        Stripe refuses to expire a paid one, and then its payment wins."""
        async with transaction(self._sessions) as session:
            open_ids = await repo.open_session_ids(session, data.order_id)
        states = []
        for session_id in open_ids:
            try:
                state = _state(await self._stripe.expire_checkout_session(session_id))
            except StripeRejected as exc:
                if exc.status != 404:
                    raise _stripe_error(exc) from None
                # Stripe does not know it (any more): it can take no money.
                state = CheckoutSessionState(session_id, "expired", "unpaid", 0, "")
            except StripeUnavailable as exc:
                raise _stripe_error(exc) from None
            states.append(state)
            if state.status != "open":
                async with transaction(self._sessions) as session:
                    await repo.set_session_status(
                        session, session_id, CheckoutSessionStatus(state.status)
                    )
        return ExpiredCheckoutSessions(states)

    @activity.defn(name=RECORD_PAYMENT)
    async def record_payment(self, data: RecordPayment) -> RecordedPayment:
        """One transaction: the payment is recorded once (unique session id); if the order is
        still pending and the amount and currency are the snapshot's, the order is paid, with
        its payment lines and purchases. Otherwise the payment stays `applied` false."""
        async with transaction(self._sessions) as session:
            order = await ledger.lock_order(session, data.order_id)
            if order is None:
                raise _order_not_found(data.order_id)
            currency = data.currency.lower() or order.currency
            payment_id = await ledger.insert_payment(
                session,
                order_id=order.id,
                amount=from_minor_units(data.amount_total, currency),
                currency=currency,
                stripe_session_id=data.session_id,
                payment_intent=data.payment_intent,
            )
            await repo.set_session_status(session, data.session_id, CheckoutSessionStatus.COMPLETE)
            if payment_id is None:  # recorded before (a retry, or a second event about it)
                found = await ledger.payment_of_session(
                    session, data.session_id, data.payment_intent
                )
                if found is None or found[1] != order.id:
                    # Stripe's ids are recorded for another order: never count them for this one.
                    raise ApplicationError(
                        f"session {data.session_id} is recorded for another order",
                        type="PaymentOfAnotherOrder",
                        non_retryable=True,
                    )
                return RecordedPayment(found[0], found[2], str(order.status))
            matches = currency == order.currency and data.amount_total == minor_units(
                order.total_amount, order.currency
            )
            applied = (
                matches
                and order.status == OrderStatus.PENDING
                and await ledger.apply_payment(session, order.id, payment_id)
            )
            status = OrderStatus.PAID if applied else order.status
        activity.logger.info(
            "payment %s for order %s recorded (applied: %s)", payment_id, order.id, applied
        )
        return RecordedPayment(payment_id, applied, str(status))

    @activity.defn(name=SET_PAYMENT_PROCESSING)
    async def set_payment_processing(self, data: SetPaymentProcessing) -> None:
        async with transaction(self._sessions) as session:
            await repo.set_payment_processing(
                session, data.order_id, data.session_id, data.processing
            )

    @activity.defn(name=CANCEL_ORDER)
    async def cancel_order(self, data: CancelOrder) -> CancelledOrder:
        async with transaction(self._sessions) as session:
            cancelled = await repo.cancel_pending_order(session, data.order_id, data.reason)
            order = await repo.order_ref(session, data.order_id)
        if order is None:
            raise _order_not_found(data.order_id)
        return CancelledOrder(cancelled, order.status)

    @activity.defn(name=SEND_RECEIPT)
    async def send_receipt(self, data: SendReceipt) -> None:
        async with autocommit(self._sessions) as session:  # reads only
            found = await ledger.receipt(session, data.payment_id)
        if found is None:
            raise ApplicationError(
                f"payment {data.payment_id} does not exist",
                type="PaymentNotFound",
                non_retryable=True,
            )
        if found.sent:
            # A retry after the mail went out (a replayed workflow task re-runs its local
            # activities): once is enough. Only a crash between the send and this row's update
            # can send it twice.
            activity.logger.info("the receipt of payment %s was sent before", data.payment_id)
            return
        rendered = self._renderer.render(
            "receipt",
            order_id=found.order_id,
            lines=found.lines,
            total=found.amount,
            currency=found.currency.upper(),
            order_url=self._renderer.link(f"/orders/{found.order_id}/"),
        )
        await deliver(self._mailer, build_message(rendered, self._settings.email_from, found.email))
        try:
            async with autocommit(self._sessions) as session:  # one statement
                await ledger.mark_receipt_sent(session, data.payment_id)
        except SQLAlchemyError as exc:
            # The mail went out: failing now would only send it again on the retry.
            activity.logger.warning(
                "sent the receipt of payment %s but could not note it (%s)",
                data.payment_id,
                type(exc).__name__,
            )
            return
        activity.logger.info("sent the receipt of payment %s", data.payment_id)

    def all(self) -> list[object]:
        return [
            self.load_checkout_order,
            self.create_checkout_session,
            self.expire_checkout_sessions,
            self.record_payment,
            self.cancel_order,
            self.send_receipt,
            self.set_payment_processing,
        ]
