"""Refund activities: each is one transaction of compare-and-set SQL, one Stripe call with the
key `refund:{refund_id}`, or one email."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.mail import deliver
from domain.db import SessionFactory, transaction
from domain.email.mailer import Mailer
from domain.email.render import EmailRenderer, build_message
from domain.errors import DomainError
from domain.models import RefundReason, RefundStatus
from domain.refunds import repository as repo
from domain.refunds import service
from domain.stripe import StripeGateway, StripeRejected, StripeUnavailable, minor_units
from workflows.refund_messages import (
    AppliedLateRefundFailure,
    ApplyLateRefundFailure,
    FetchRefundStatus,
    OpenedUnappliedRefund,
    OpenUnappliedPaymentRefund,
    SendRefundEmail,
    SettledRefund,
    SettleRefund,
    StripeRefundState,
    SubmitRefund,
    SubmittedRefund,
)


def refund_idempotency_key(refund_id: int) -> str:
    return f"refund:{refund_id}"


def _refund_not_found(refund_id: int) -> ApplicationError:
    return ApplicationError(
        f"refund {refund_id} does not exist", type="RefundNotFound", non_retryable=True
    )


def _stripe_down(exc: StripeUnavailable) -> ApplicationError:
    # Retryable: Temporal asks again with the same idempotency key.
    return ApplicationError(
        f"Stripe unavailable ({exc.status or 'no answer'}): {exc.message}", type="StripeUnavailable"
    )


class RefundActivities:
    def __init__(
        self,
        sessions: SessionFactory,
        gateway: StripeGateway,
        mailer: Mailer,
        renderer: EmailRenderer,
        email_from: str,
    ) -> None:
        self._sessions = sessions
        self._stripe = gateway
        self._mailer = mailer
        self._renderer = renderer
        self._from = email_from

    @activity.defn(name="open_unapplied_payment_refund")
    async def open_unapplied_payment_refund(
        self, data: OpenUnappliedPaymentRefund
    ) -> OpenedUnappliedRefund:
        """The refund of a payment that paid no order; the same one however often asked."""
        try:
            async with transaction(self._sessions) as session:
                opened = await service.open_unapplied_payment_refund(session, data.payment_id)
                payment = await repo.get_payment(session, data.payment_id)
                assert payment is not None
        except DomainError as exc:  # no such payment, or it paid its order: a retry won't help
            raise ApplicationError(
                exc.detail, type=type(exc).__name__, non_retryable=True
            ) from None
        return OpenedUnappliedRefund(
            refund_id=opened.refund.id,
            order_id=opened.refund.order_id,
            user_id=payment.user_id,
            created=opened.created,
        )

    @activity.defn(name="submit_refund")
    async def submit_refund(self, data: SubmitRefund) -> SubmittedRefund:
        async with transaction(self._sessions) as session:
            found = await repo.refund_to_submit(session, data.refund_id)
        if found is None:
            raise _refund_not_found(data.refund_id)
        refund = found.refund
        if refund.status == RefundStatus.FAILED:
            return SubmittedRefund(rejected=True, failure_reason=refund.failure_reason)
        if refund.status != RefundStatus.REQUESTED:  # Stripe accepted it on an earlier attempt
            return SubmittedRefund(stripe_refund_id=refund.stripe_refund_id, status="pending")
        if found.payment_intent is None:
            return SubmittedRefund(
                rejected=True, failure_reason="The payment has no PaymentIntent."
            )
        try:
            info = await self._stripe.create_refund(
                payment_intent=found.payment_intent,
                amount=minor_units(refund.amount, refund.currency),
                refund_id=refund.id,
                order_id=refund.order_id,
                reason=(
                    "requested_by_customer"
                    if refund.reason == RefundReason.REQUESTED_BY_CUSTOMER
                    else None
                ),
                idempotency_key=refund_idempotency_key(refund.id),
            )
        except StripeUnavailable as exc:
            attempt = activity.info().attempt
            status = exc.status or "no answer"
            note = f"Stripe is unavailable ({status}); retrying (attempt {attempt})."
            async with transaction(self._sessions) as session:
                await service.note_retry(session, refund.id, note)
            raise _stripe_down(exc) from None
        except StripeRejected as exc:
            return SubmittedRefund(
                rejected=True, failure_reason=f"Stripe refused the refund: {exc.message}"
            )
        async with transaction(self._sessions) as session:
            await service.mark_pending(session, refund.id, info.id)
        return SubmittedRefund(
            stripe_refund_id=info.id, status=info.status, failure_reason=info.failure_reason
        )

    @activity.defn(name="fetch_refund_status")
    async def fetch_refund_status(self, data: FetchRefundStatus) -> StripeRefundState:
        try:
            info = await self._stripe.retrieve_refund(data.stripe_refund_id)
        except StripeUnavailable as exc:
            raise _stripe_down(exc) from None
        except StripeRejected as exc:  # e.g. a key without access: an operator must look
            raise ApplicationError(exc.message, type="StripeRejected") from None
        return StripeRefundState(status=info.status, failure_reason=info.failure_reason)

    @activity.defn(name="settle_refund")
    async def settle_refund(self, data: SettleRefund) -> SettledRefund:
        async with transaction(self._sessions) as session:
            if data.outcome == "succeeded":
                changed = await service.mark_succeeded(session, data.refund_id)
            else:
                reason = data.failure_reason or "Stripe failed the refund."
                changed = await service.mark_failed(session, data.refund_id, reason)
            refund = await repo.get_refund(session, data.refund_id)
        if refund is None:
            raise _refund_not_found(data.refund_id)
        return SettledRefund(changed=changed, status=refund.status.value)

    @activity.defn(name="apply_late_refund_failure")
    async def apply_late_refund_failure(
        self, data: ApplyLateRefundFailure
    ) -> AppliedLateRefundFailure:
        reason = data.failure_reason or "Stripe failed the refund after it had succeeded."
        async with transaction(self._sessions) as session:
            changed = await service.mark_failed_after_success(
                session, data.refund_id, data.stripe_refund_id, reason
            )
            refund = await repo.get_refund(session, data.refund_id)
        if refund is None:
            raise _refund_not_found(data.refund_id)
        if changed:
            activity.logger.warning("refund %s failed after it had succeeded", data.refund_id)
        return AppliedLateRefundFailure(changed=changed, status=refund.status.value)

    @activity.defn(name="send_refund_email")
    async def send_refund_email(self, data: SendRefundEmail) -> None:
        async with transaction(self._sessions) as session:
            notice = await repo.refund_notice(session, data.refund_id)
        if notice is None:
            raise _refund_not_found(data.refund_id)
        refund = notice.refund
        if refund.status == RefundStatus.SUCCEEDED:
            late = refund.reason == RefundReason.ORDER_NOT_PAYABLE
            template = "refund_late_payment" if late else "refund_succeeded"
        elif refund.status == RefundStatus.FAILED:
            template = "refund_failed"
        else:
            return  # not settled: nothing to tell yet
        rendered = self._renderer.render(
            template,
            amount=f"{refund.amount} {refund.currency.upper()}",
            order_id=notice.order_id,
            order_url=self._renderer.link(f"/orders/{notice.order_id}/"),
            failure_reason=refund.failure_reason or "",
            late_payment=refund.reason == RefundReason.ORDER_NOT_PAYABLE,
            after_success=data.after_success,
        )
        await deliver(self._mailer, build_message(rendered, self._from, notice.email))
        activity.logger.info("sent %s email for refund %s", template, refund.id)

    def all(self) -> list[object]:
        return [
            self.open_unapplied_payment_refund,
            self.submit_refund,
            self.fetch_refund_status,
            self.settle_refund,
            self.apply_late_refund_failure,
            self.send_refund_email,
        ]
