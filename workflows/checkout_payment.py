"""CheckoutWorkflow's payment steps (`CheckoutPayments`): record a paid session, refund a payment
the order could not take (a child RefundWorkflow), a delayed payment in flight and its end,
expire the order's sessions at Stripe (a paid one is recorded), cancel the order, mail the
receipt.

Workflow code: imported in the sandbox, so no I/O here; the message dataclasses pass through.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.common import (
    RetryPolicy,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

from workflows.checkout_policy import (
    CANCEL_ORDER,
    EMAIL_TIMEOUT,
    EXPIRE_SESSIONS,
    LOCAL_RECEIPT_RETRY,
    LOCAL_RECEIPT_TIMEOUT,
    OPEN_UNAPPLIED_REFUND,
    RECEIPT_LOCAL_FIRST,
    RECORD_PAYMENT,
    SEND_RECEIPT,
    SET_PAYMENT_PROCESSING,
    STRIPE_RETRY,
    STRIPE_TIMEOUT,
)
from workflows.checkout_sessions import ACTIVITY_FAILED, CheckoutSessions

with workflow.unsafe.imports_passed_through():
    from workflows.checkout_messages import (
        CancelledOrder,
        CancelOrder,
        ExpireCheckoutSessions,
        ExpiredCheckoutSessions,
        RecordedPayment,
        RecordPayment,
        SendReceipt,
        SetPaymentProcessing,
    )
    from workflows.ids import ORDER_ID, USER_ID, refund_workflow_id
    from workflows.refund_messages import (
        OpenedUnappliedRefund,
        OpenUnappliedPaymentRefund,
        RefundInput,
    )


class CheckoutPayments(CheckoutSessions):
    """The steps that settle the order or move its money."""

    async def _record(
        self, session_id: str, payment_intent: str | None, amount_total: int, currency: str | None
    ) -> None:
        recorded = await self._activity(
            RECORD_PAYMENT,
            RecordPayment(
                order_id=self._input.order_id,
                session_id=session_id,
                payment_intent=payment_intent,
                amount_total=amount_total,
                currency=currency or "",
            ),
            RecordedPayment,
        )
        self._close(session_id)
        if self._processing == session_id:
            self._processing = self._processing_since = None  # its money landed
            self._status.processing_session_id = self._status.processing_since = None
        self._status.order_status = recorded.order_status
        if recorded.applied:
            # Only a run that saw the order pending paid it now (a late run finds it paid).
            if self._outcome is None:
                self._status.payment_id = recorded.payment_id
                self._outcome = "paid"
                self._set_state("paid")
                self._receipts_due.append(recorded.payment_id)
                # No second payment: any other session still open is closed at Stripe.
                if self._current() is not None:
                    await self._expire_open_sessions()
        elif recorded.payment_id not in self._status.unapplied_payment_ids:
            await self._refund_unapplied_payment(recorded.payment_id)

    async def _refund_unapplied_payment(self, payment_id: int) -> None:
        """A payment for an order that could not take it (cancelled, expired, already paid, or
        an amount that does not match) is refunded in full by its own RefundWorkflow, which
        also tells the buyer. The refund row is opened once per payment however often this
        runs (a late event handled twice, a retried activity); the child outlives this run."""
        self._status.unapplied_payment_ids.append(payment_id)
        self._set_state(self._status.state)
        opened = await self._activity(
            OPEN_UNAPPLIED_REFUND, OpenUnappliedPaymentRefund(payment_id), OpenedUnappliedRefund
        )
        # An earlier run may have started it: it is refunding (or has refunded) this payment.
        with contextlib.suppress(WorkflowAlreadyStartedError):
            await workflow.start_child_workflow(
                "RefundWorkflow",
                RefundInput(
                    refund_id=opened.refund_id,
                    order_id=opened.order_id,
                    user_id=opened.user_id,
                    poll_interval_seconds=self._input.refund_poll_interval_seconds,
                    email_retry_max_interval_seconds=self._input.email_retry_max_interval_seconds,
                ),
                id=refund_workflow_id(opened.refund_id),
                parent_close_policy=ParentClosePolicy.ABANDON,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
                static_summary=(
                    f"Refund {opened.refund_id} of order {opened.order_id} (user "
                    f"{opened.user_id}): a payment the order could not take"
                ),
                search_attributes=TypedSearchAttributes(
                    [
                        SearchAttributePair(ORDER_ID, opened.order_id),
                        SearchAttributePair(USER_ID, opened.user_id),
                    ]
                ),
            )
        if opened.refund_id not in self._status.refund_ids:
            self._status.refund_ids.append(opened.refund_id)
        self._set_state(self._status.state)

    async def _payment_in_flight(self, session_id: str) -> None:
        self._close(session_id)
        self._processing = session_id
        self._processing_since = workflow.now()
        self._status.processing_session_id = session_id
        self._status.processing_since = self._processing_since
        await self._activity(
            SET_PAYMENT_PROCESSING,
            SetPaymentProcessing(self._input.order_id, session_id, processing=True),
            type(None),
        )

    async def _payment_settled(self) -> None:
        """The money in flight failed (or was waited for long enough): no longer processing."""
        session_id = self._processing
        self._processing = self._processing_since = None
        self._status.processing_session_id = self._status.processing_since = None
        if session_id is not None:
            await self._activity(
                SET_PAYMENT_PROCESSING,
                SetPaymentProcessing(self._input.order_id, session_id, processing=False),
                type(None),
            )

    async def _expire_open_sessions(self) -> None:
        """Expire every open session of the order at Stripe; one that was paid is recorded."""
        result = await self._activity(
            EXPIRE_SESSIONS,
            ExpireCheckoutSessions(self._input.order_id),
            ExpiredCheckoutSessions,
            retry=STRIPE_RETRY,
            limit=STRIPE_TIMEOUT,
        )
        for state in result.sessions:
            if state.status != "open":
                self._close(state.session_id)
        for state in result.sessions:
            if state.status == "complete" and state.payment_status == "paid":
                await self._record(
                    state.session_id, state.payment_intent, state.amount_total, state.currency
                )

    async def _cancel_order(self, reason: str) -> None:
        result = await self._activity(
            CANCEL_ORDER, CancelOrder(self._input.order_id, reason), CancelledOrder
        )
        self._status.order_status = result.order_status
        self._outcome = "cancelled" if result.cancelled else result.order_status
        self._set_state("cancelled" if result.cancelled else result.order_status)

    async def _send_receipt(self, payment_id: int) -> None:
        self._set_state("sending_receipt")
        if self._patched(RECEIPT_LOCAL_FIRST):
            try:
                await workflow.execute_local_activity(
                    SEND_RECEIPT,
                    SendReceipt(payment_id),
                    start_to_close_timeout=LOCAL_RECEIPT_TIMEOUT,
                    retry_policy=LOCAL_RECEIPT_RETRY,
                )
            except ACTIVITY_FAILED:  # a local activity raises its error itself
                # SMTP is down or slow: a regular activity takes over (below), retried until
                # the mail goes, and visible in the UI as a pending activity with its error.
                self._set_state("receipt_retrying")
            else:
                self._set_state("paid")
                return
        await workflow.execute_activity(
            SEND_RECEIPT,
            SendReceipt(payment_id),
            start_to_close_timeout=EMAIL_TIMEOUT,
            # No attempt limit: the receipt is retried until the SMTP server accepts it.
            retry_policy=RetryPolicy(
                initial_interval=timedelta(seconds=1),
                maximum_interval=timedelta(seconds=self._input.email_retry_max_interval_seconds),
                maximum_attempts=0,
                non_retryable_error_types=["PaymentNotFound"],
            ),
        )
        self._set_state("paid")
