"""RefundWorkflow `refund:{refund_id}`: ask Stripe for the refund, wait for its final state,
settle it in Postgres, tell the buyer.

The refund row exists before the run starts (the API or the checkout workflow opened it), so
a failure anywhere leaves a visible state: `requested` (with the last error while Stripe is
retried), `pending` (Stripe accepted it), then `succeeded` or `failed`. Never half-refunded:
the purchases and the order change only in the one settling transaction.

Stripe's answer to the create call is not its final word (a refund may stay pending, or fail
after it looked done): the final state comes from its `refund.*` events, signalled here by the
webhook, or from polling Stripe when no event comes.

Stripe may also fail a refund after it succeeded (`refund.failed`, e.g. the card's account was
closed). A failure that reaches this run after it settled `succeeded` is applied before the run
ends; one that comes after the run ended starts a new run of this workflow for the same refund
(signal-with-start, `late_failure=True`) that only applies it: the row goes succeeded → failed
once, the payment, the order and the purchases are put back, and the buyer is told.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.refunds import RefundActivities
    from workflows.refund_messages import (
        ApplyLateRefundFailure,
        FetchRefundStatus,
        RefundInput,
        RefundProgress,
        RefundResult,
        SendRefundEmail,
        SettleRefund,
        SubmitRefund,
    )
    from workflows.registration import EMAIL_HEARTBEAT_TIMEOUT, EMAIL_TIMEOUT, email_retry
    from workflows.stripe_events import STRIPE_EVENT_SIGNAL, StripeEventSignal

STRIPE_TIMEOUT = timedelta(seconds=60)
DB_TIMEOUT = timedelta(seconds=30)
# Stripe down for hours delays a refund, never loses it: no attempt limit.
STRIPE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=0,
    non_retryable_error_types=["RefundNotFound"],
)
DB_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=30),
    non_retryable_error_types=["RefundNotFound"],
)
# Polls back off from the configured interval to this, so a refund pending for days keeps a
# short history.
MAX_POLL_INTERVAL = timedelta(hours=1)
FINAL = ("succeeded", "failed", "canceled")
# Stripe refund statuses that fail a refund, also after it succeeded (the webhook routes an
# event with one to a late-failure run: domain/payments/events.REFUND_FAILED is this).
FAILED = ("failed", "canceled")
# A late-failure run gets its event with its start; it waits this long for it at most.
LATE_EVENT_WAIT = timedelta(minutes=1)


@workflow.defn(name="RefundWorkflow")
class RefundWorkflow:
    @workflow.init
    def __init__(self, input: RefundInput) -> None:
        self._input = input
        self._seen_events: set[str] = set()
        # Final states Stripe's events reported, by Stripe refund id: an event may arrive
        # before the create call's answer tells us which refund is ours.
        self._reported: dict[str, tuple[str, str | None]] = {}
        # Every failure Stripe reported (Stripe refund id, reason), in arrival order, and how
        # many of them were looked at: one may come after the refund settled succeeded.
        self._failures: list[tuple[str, str | None]] = []
        self._failures_done = 0
        self._progress = RefundProgress(
            state="submitting", refund_id=input.refund_id, order_id=input.order_id
        )

    def _set_state(self, state: str) -> None:
        self._progress.state = state
        details = f"**{state}**"
        if self._progress.stripe_refund_id:
            details += f" (Stripe {self._progress.stripe_refund_id}"
            details += f": {self._progress.stripe_status})" if self._progress.stripe_status else ")"
        if self._progress.failure_reason:
            details += f"\n\n{self._progress.failure_reason}"
        workflow.set_current_details(details)

    @workflow.run
    async def run(self, input: RefundInput) -> RefundResult:
        if input.late_failure:
            return await self._late_failure_run(input)
        self._set_state("submitting")
        submitted = await workflow.execute_activity_method(
            RefundActivities.submit_refund,
            SubmitRefund(refund_id=input.refund_id),
            start_to_close_timeout=STRIPE_TIMEOUT,
            retry_policy=STRIPE_RETRY,
        )
        reason: str | None
        if submitted.rejected or submitted.stripe_refund_id is None:
            outcome, reason = "failed", submitted.failure_reason or "Stripe refused the refund."
        else:
            self._progress.stripe_refund_id = submitted.stripe_refund_id
            self._progress.stripe_status = submitted.status
            outcome, reason = await self._final_state(submitted.stripe_refund_id)
        self._progress.failure_reason = reason
        self._set_state("settling")
        settled = await workflow.execute_activity_method(
            RefundActivities.settle_refund,
            SettleRefund(refund_id=input.refund_id, outcome=outcome, failure_reason=reason),
            start_to_close_timeout=DB_TIMEOUT,
            retry_policy=DB_RETRY,
        )
        if settled.changed:  # a second settle (a reset run) does not email twice
            self._set_state("emailing")
            await workflow.execute_activity_method(
                RefundActivities.send_refund_email,
                SendRefundEmail(refund_id=input.refund_id),
                start_to_close_timeout=EMAIL_TIMEOUT,
                heartbeat_timeout=EMAIL_HEARTBEAT_TIMEOUT,
                retry_policy=email_retry(input.email_retry_max_interval_seconds),
            )
        final = settled.status or outcome
        self._set_state(final)
        await workflow.wait_condition(workflow.all_handlers_finished)
        # Stripe failed it after it succeeded, while this run settled or mailed: apply it here
        # (a failure arriving after the run ended starts a late-failure run instead).
        if (
            final == "succeeded"
            and self._failures_done < len(self._failures)
            and workflow.patched("refund-late-failure")
        ):
            if await self._apply_late_failures():
                final = "failed"
            self._set_state(final)
        return RefundResult(refund_id=input.refund_id, status=final)

    async def _late_failure_run(self, input: RefundInput) -> RefundResult:
        self._set_state("applying_late_failure")
        # Signal-with-start hands the event over with the start; without one, nothing to do.
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(lambda: bool(self._failures), timeout=LATE_EVENT_WAIT)
        while True:
            await self._apply_late_failures()
            await workflow.wait_condition(workflow.all_handlers_finished)
            if self._failures_done >= len(self._failures):
                break
        final = "failed" if self._progress.failed_after_success else "unchanged"
        self._set_state(final)
        return RefundResult(refund_id=input.refund_id, status=final)

    async def _apply_late_failures(self) -> bool:
        """Apply each failure Stripe reported after the refund succeeded; True if one changed
        the refund (it is failed now, and the buyer was told)."""
        applied = False
        while self._failures_done < len(self._failures):
            stripe_refund_id, reason = self._failures[self._failures_done]
            self._failures_done += 1
            ours = self._progress.stripe_refund_id
            if ours is not None and stripe_refund_id != ours:
                continue  # about another refund of the same charge
            self._set_state("applying_late_failure")
            result = await workflow.execute_activity_method(
                RefundActivities.apply_late_refund_failure,
                ApplyLateRefundFailure(
                    refund_id=self._input.refund_id,
                    stripe_refund_id=stripe_refund_id,
                    failure_reason=reason,
                ),
                start_to_close_timeout=DB_TIMEOUT,
                retry_policy=DB_RETRY,
            )
            if not result.changed:
                continue  # applied before (a duplicate), or the refund never succeeded
            applied = True
            self._progress.failed_after_success = True
            self._progress.stripe_status = "failed"
            self._progress.failure_reason = reason or "Stripe failed the refund after success."
            self._set_state("emailing")
            await workflow.execute_activity_method(
                RefundActivities.send_refund_email,
                SendRefundEmail(refund_id=self._input.refund_id, after_success=True),
                start_to_close_timeout=EMAIL_TIMEOUT,
                heartbeat_timeout=EMAIL_HEARTBEAT_TIMEOUT,
                retry_policy=email_retry(self._input.email_retry_max_interval_seconds),
            )
        return applied

    async def _final_state(self, stripe_refund_id: str) -> tuple[str, str | None]:
        """Wait for Stripe's final word: an event, or a poll when none comes in time."""
        interval = timedelta(seconds=self._input.poll_interval_seconds)
        while True:
            self._set_state("awaiting_stripe")
            try:
                await workflow.wait_condition(
                    lambda: stripe_refund_id in self._reported, timeout=interval
                )
            except TimeoutError:
                state = await workflow.execute_activity_method(
                    RefundActivities.fetch_refund_status,
                    FetchRefundStatus(stripe_refund_id=stripe_refund_id),
                    start_to_close_timeout=STRIPE_TIMEOUT,
                    retry_policy=STRIPE_RETRY,
                )
                self._progress.polls += 1
                self._progress.stripe_status = state.status
                if state.status in FINAL:
                    return _outcome(state.status, state.failure_reason)
                interval = min(interval * 2, max(MAX_POLL_INTERVAL, interval))
                continue
            status, reason = self._reported[stripe_refund_id]
            self._progress.stripe_status = status
            return _outcome(status, reason)

    @workflow.signal(name=STRIPE_EVENT_SIGNAL)
    def stripe_event(self, event: StripeEventSignal) -> None:
        if event.event_id in self._seen_events:
            return  # Stripe delivered it twice
        self._seen_events.add(event.event_id)
        self._progress.events_seen += 1
        if event.type.startswith("refund.") and event.status in FAILED:
            self._failures.append((event.object_id, event.failure_reason))
        # Only a refund's own events say its state; charge.refunded etc. are about the charge.
        if not event.type.startswith("refund.") or event.status not in FINAL:
            return
        ours = self._progress.stripe_refund_id
        if ours is not None and event.object_id != ours:
            return  # about another refund of the same charge
        # The first final state wins: a refund settles once. (Stripe failing a refund after
        # it succeeded is applied after settling: see run.)
        self._reported.setdefault(event.object_id, (event.status, event.failure_reason))

    @workflow.query(name="status")
    def status(self) -> RefundProgress:
        return self._progress


def _outcome(stripe_status: str, reason: str | None) -> tuple[str, str | None]:
    if stripe_status == "succeeded":
        return "succeeded", None
    return "failed", reason or f"Stripe reports the refund {stripe_status}."
