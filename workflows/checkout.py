"""CheckoutWorkflow `checkout:{order_id}`: from "give me a payment page" to a paid or cancelled
order.

One run per pending order. The API reaches it three ways: the update `checkout_session`
(update-with-start: answers the Stripe Checkout URL), the update `cancel` (answers whether the
order was cancelled or the payment won), and the signal `stripe_event` (the webhook, with
signal-with-start so an event for an ended run is still handled). Every step that changes
state runs under one lock, so two checkout calls make one Stripe session and a cancel never
interleaves with a payment being recorded.

A delayed payment method (a bank debit) completes the page `unpaid`: the money comes hours or
days later (`async_payment_succeeded` / `_failed`). While it is in flight the order stays
pending: no new page (the checkout update answers `payment_processing`), no cancel by the buyer,
and the payment window does not cancel it; the run waits for the outcome, at most
`async_payment_max_wait_seconds`. A failure closes it: the buyer may check out again while the
window is open.

Activities are called by name (the constants of `workflows/checkout_policy.py`, the names
`activities/payments.py` registers), so the workflow sandbox never loads SQLAlchemy or Stripe;
all but the receipt run as local activities. The run's session bookkeeping lives in
`checkout_sessions.py`, its payment steps in `checkout_payment.py`; this module holds the run
and its handlers.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow

from workflows.checkout_payment import CheckoutPayments
from workflows.checkout_policy import (
    ADOPT_PAYMENT_IN_FLIGHT,
    ASYNC_FAILED,
    ASYNC_PAYMENT_IN_FLIGHT,
    ASYNC_SUCCEEDED,
    COMPLETED,
    EXPIRED,
    LOAD_BEFORE_SESSION,
    PAYMENT_FAILED,
    REARM_TIMER,
    REUSE_MARGIN,
)
from workflows.checkout_sessions import ACTIVITY_FAILED, error_type

with workflow.unsafe.imports_passed_through():
    from workflows.checkout_messages import (
        CancelCheckout,
        CancelCheckoutResult,
        CheckoutInput,
        CheckoutResult,
        CheckoutSessionRequest,
        CheckoutSessionResult,
        CheckoutStatus,
    )
    from workflows.stripe_events import STRIPE_EVENT_SIGNAL, StripeEventSignal


@workflow.defn(name="CheckoutWorkflow")
class CheckoutWorkflow(CheckoutPayments):
    """The run, its handlers, and what an event does; the session bookkeeping is in
    `workflows/checkout_sessions.py`, the payment steps in `workflows/checkout_payment.py`."""

    @workflow.init
    def __init__(self, input: CheckoutInput) -> None:
        self._input = input
        self._deadline = workflow.now() + timedelta(seconds=input.payment_window_seconds)
        self._lock = asyncio.Lock()
        self._inbox = []
        self._seen = set()
        self._sessions = []
        self._loaded = False
        self._rearm = False
        self._bundled = None
        self._planned_wake = None
        self._attempts = 0
        self._outcome = None  # set once the order is settled (paid, cancelled)
        self._receipts_due: list[int] = []
        # The session whose delayed payment is in flight, and since when (None: none).
        self._processing = None
        self._processing_since = None
        # Sessions whose delayed payment failed: a stale `completed` (unpaid) delivered after
        # the failure must not put the order back into processing.
        self._async_failed = set()
        self._status = CheckoutStatus(
            state="started", order_id=input.order_id, user_id=input.user_id, deadline=self._deadline
        )

    # --- the run ---------------------------------------------------------------------------
    @workflow.run
    async def run(self, input: CheckoutInput) -> CheckoutResult:
        async with self._lock:
            await self._load_order()
            self._set_state("awaiting_payment" if self._outcome is None else "settled")
        self._rearm = self._patched(REARM_TIMER)
        while True:
            self._planned_wake = self._wake_at()
            try:
                await workflow.wait_condition(self._has_work, timeout=self._next_wake())
            except TimeoutError:
                async with self._lock:
                    await self._on_timer()
                continue
            async with self._lock:
                while self._inbox:
                    await self._handle_safely(self._inbox.pop(0))
            while self._receipts_due:
                await self._send_receipt(self._receipts_due.pop(0))
            if self._outcome is not None:
                await workflow.wait_condition(workflow.all_handlers_finished)
                if not (self._inbox or self._receipts_due):
                    break
        return CheckoutResult(outcome=self._outcome or "", payment_id=self._status.payment_id)

    async def _on_timer(self) -> None:
        if self._outcome is not None:
            return
        overdue = self._processing_overdue_at()
        if overdue is not None:
            if workflow.now() < overdue:
                return  # a payment is in flight: its outcome decides, not the window
            # Waited long enough: cancel; money landing after this is refunded automatically.
            self._set_state("async_payment_overdue")
            await self._payment_settled()
            await self._expire_open_sessions()
            if self._outcome is None:
                await self._cancel_order("expired")
            return
        if workflow.now() >= self._deadline:
            self._set_state("deadline_reached")
            await self._expire_open_sessions()  # Stripe first: a payment that got in wins
            if self._outcome is None:
                await self._cancel_order("expired")
            return
        self._set_state("checking_expired_session")
        await self._expire_open_sessions()
        # Past its expiry Stripe takes no money on a session, whatever our rows say (its
        # expired event may be waiting for a webhook retry): stop waiting on it.
        for session in self._sessions:
            if session.expires_at <= workflow.now():
                session.open = False
        await self._after_session_closed()

    # --- Stripe events ---------------------------------------------------------------------
    @workflow.signal(name=STRIPE_EVENT_SIGNAL)
    def stripe_event(self, event: StripeEventSignal) -> None:
        if event.event_id in self._seen:
            return  # Stripe delivers an event more than once; it acts once
        self._seen.add(event.event_id)
        self._status.events_seen += 1
        self._inbox.append(event)

    async def _handle_safely(self, event: StripeEventSignal) -> None:
        """An event that cannot be acted on (an activity refused it for good) is reported in
        the status for an operator; the checkout goes on."""
        try:
            await self._handle(event)
        except ACTIVITY_FAILED as err:
            self._status.problems.append(f"{event.event_id}: {error_type(err) or 'failed'}")
            self._set_state(self._status.state)

    async def _handle(self, event: StripeEventSignal) -> None:
        if event.type in (COMPLETED, ASYNC_SUCCEEDED):
            if event.payment_status != "paid":
                # A delayed method: not paid yet, and nothing more can be paid on that page.
                if (
                    self._outcome is None
                    and self._processing is None
                    and event.object_id not in self._async_failed
                    and self._patched(ASYNC_PAYMENT_IN_FLIGHT)
                ):
                    await self._payment_in_flight(event.object_id)
                self._set_state("awaiting_async_payment")
                return
            await self._record(
                event.object_id, event.payment_intent, event.amount_total or 0, event.currency
            )
        elif event.type == ASYNC_FAILED:
            self._status.last_decline = "async_payment_failed"
            self._async_failed.add(event.object_id)
            self._close(event.object_id)
            if self._processing == event.object_id:
                await self._payment_settled()
            await self._after_session_closed()
        elif event.type == EXPIRED:
            self._close(event.object_id)
            await self._after_session_closed()
        elif event.type == PAYMENT_FAILED:
            # The buyer may try another card on the same page: the order stays pending.
            self._status.last_decline = event.failure_reason or "declined"
            self._set_state(self._status.state)

    async def _after_session_closed(self) -> None:
        """No session is open any more: the order stays pending while a new session could still
        be made before the deadline; otherwise it is cancelled as expired."""
        if self._outcome is not None or self._current() is not None:
            return
        if self._processing is not None:
            self._set_state("awaiting_async_payment")  # the money in flight decides
            return
        if self._deadline - workflow.now() > REUSE_MARGIN:
            self._set_state("awaiting_checkout")
            return
        await self._cancel_order("expired")

    # --- the buyer's calls -----------------------------------------------------------------
    @workflow.update(name="checkout_session")
    async def checkout_session(self, _: CheckoutSessionRequest) -> CheckoutSessionResult:
        async with self._lock:  # two calls at once: the second waits and gets the same session
            if self._patched(LOAD_BEFORE_SESSION):
                # With update-with-start this runs before `run`: load the order first.
                await self._load_order()
            if self._outcome is not None:
                return self._settled_answer()
            if self._processing is not None:  # no second page while money is in flight
                return CheckoutSessionResult(error="payment_processing", order_status="pending")
            current = self._current()
            now = workflow.now()
            if current is not None and current.expires_at - now > REUSE_MARGIN:
                return self._answer(current)
            if current is not None:
                # About to expire: close it at Stripe first, so at most one page can take money.
                await self._expire_open_sessions()
                if self._outcome is not None:
                    return self._settled_answer()
            return await self._new_session(now)

    @checkout_session.validator
    def _validate_checkout_session(self, _: CheckoutSessionRequest) -> None:
        if self._outcome is not None:
            raise ValueError("This checkout has ended.")

    @workflow.update(name="cancel")
    async def cancel(self, request: CancelCheckout) -> CancelCheckoutResult:
        async with self._lock:
            if self._patched(ADOPT_PAYMENT_IN_FLIGHT):
                # With update-with-start (a lost run) this runs before `run`: load the order
                # first, so a payment in flight the lost run saw decides here too.
                await self._load_order()
                if self._outcome == "not_pending" and self._status.order_status == "cancelled":
                    # This run found the order cancelled: by this same cancel, redone because
                    # the workflow task that ran it was lost after the cancel committed (the
                    # API sends the update again), or by another cancel at the same moment.
                    # Either way the order is cancelled, as asked.
                    return CancelCheckoutResult("cancelled", "cancelled")
            if self._outcome is not None:
                return CancelCheckoutResult("not_pending", self._status.order_status or "")
            if self._processing is not None:  # the money in flight decides
                return CancelCheckoutResult("payment_processing", "pending")
            self._set_state("cancelling")
            await self._expire_open_sessions()  # Stripe first: a payment that got in wins
            if self._outcome == "paid":
                return CancelCheckoutResult("paid", "paid")
            if self._outcome is None:
                await self._cancel_order(request.reason or "user")
            cancelled = self._outcome == "cancelled"
            return CancelCheckoutResult(
                "cancelled" if cancelled else "not_pending", self._status.order_status or ""
            )

    @workflow.query(name="status")
    def status(self) -> CheckoutStatus:
        return self._status
