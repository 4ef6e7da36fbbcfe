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

Activities are called by name (constants below, the names `activities/payments.py` registers),
so the workflow sandbox never loads SQLAlchemy or Stripe.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import (
    RetryPolicy,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    WorkflowAlreadyStartedError,
)
from temporalio.exceptions import (
    TimeoutError as ActivityTimedOut,
)
from temporalio.workflow import ParentClosePolicy

from workflows.checkout_policy import (
    ASYNC_FAILED,
    ASYNC_SUCCEEDED,
    CANCEL_ORDER,
    COMPLETED,
    CREATE_RETRY,
    CREATE_SESSION,
    DB_RETRY,
    DB_TIMEOUT,
    EMAIL_TIMEOUT,
    EXPIRE_SESSIONS,
    EXPIRED,
    LOAD_ORDER,
    LOCAL_ACTIVITIES,
    OPEN_UNAPPLIED_REFUND,
    PAYMENT_FAILED,
    RECORD_PAYMENT,
    REUSE_MARGIN,
    SEND_RECEIPT,
    SESSION_MARGIN,
    SET_PAYMENT_PROCESSING,
    STRIPE_MIN_SESSION,
    STRIPE_RETRY,
    STRIPE_TIMEOUT,
)

with workflow.unsafe.imports_passed_through():
    from workflows.checkout_messages import (
        CancelCheckout,
        CancelCheckoutResult,
        CancelledOrder,
        CancelOrder,
        CheckoutInput,
        CheckoutOrder,
        CheckoutResult,
        CheckoutSessionRequest,
        CheckoutSessionResult,
        CheckoutStatus,
        CreateCheckoutSession,
        CreatedCheckoutSession,
        ExpireCheckoutSessions,
        ExpiredCheckoutSessions,
        LoadCheckoutOrder,
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
    from workflows.stripe_events import STRIPE_EVENT_SIGNAL, StripeEventSignal

# Patch id (never rename): a run started before it made its first session before loading the
# order; from it on, the order (and the sessions an earlier run left open) is loaded first.
LOAD_BEFORE_SESSION = "load-order-before-first-session"
# Patch id (never rename): a run started before it kept the timer it set when it began waiting,
# so a session made during that wait was not watched; from it on, the wait is re-armed.
REARM_TIMER = "rearm-timer-when-wake-changes"


@dataclass
class _Session:
    id: str
    url: str
    expires_at: datetime
    open: bool = True


# How an activity that gave up reaches the workflow: a regular one as ActivityError (its
# cause says why), a local one as the ApplicationError (or TimeoutError) itself.
ACTIVITY_FAILED = (ActivityError, ApplicationError, ActivityTimedOut)


def _error_type(err: BaseException) -> str | None:
    cause = err.cause if isinstance(err, ActivityError) else err
    return cause.type if isinstance(cause, ApplicationError) else None


@workflow.defn(name="CheckoutWorkflow")
class CheckoutWorkflow:
    @workflow.init
    def __init__(self, input: CheckoutInput) -> None:
        self._input = input
        self._deadline = workflow.now() + timedelta(seconds=input.payment_window_seconds)
        self._lock = asyncio.Lock()
        self._inbox: list[StripeEventSignal] = []
        self._seen: set[str] = set()
        self._sessions: list[_Session] = []
        self._loaded = False
        self._rearm = False
        self._planned_wake: datetime | None = None
        self._attempts = 0
        self._outcome: str | None = None  # set once the order is settled (paid, cancelled)
        self._receipts_due: list[int] = []
        # The session whose delayed payment is in flight, and since when (None: none).
        self._processing: str | None = None
        self._processing_since: datetime | None = None
        # Sessions whose delayed payment failed: a stale `completed` (unpaid) delivered after
        # the failure must not put the order back into processing.
        self._async_failed: set[str] = set()
        self._status = CheckoutStatus(
            state="started", order_id=input.order_id, user_id=input.user_id, deadline=self._deadline
        )

    # --- the run ---------------------------------------------------------------------------
    @workflow.run
    async def run(self, input: CheckoutInput) -> CheckoutResult:
        async with self._lock:
            await self._load_order()
            self._set_state("awaiting_payment" if self._outcome is None else "settled")
        self._rearm = workflow.patched(REARM_TIMER)
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

    async def _load_order(self) -> None:
        """Once per run, under the lock, before its first session: the order's status, and the
        sessions an earlier run of the order made that our rows still hold open (that run was
        terminated or failed). This run adopts them: the page already open is handed out
        again, or closed at Stripe before a new one is made, never left open beside it."""
        if self._loaded:
            return
        order = await self._activity(
            LOAD_ORDER, LoadCheckoutOrder(self._input.order_id), CheckoutOrder
        )
        self._loaded = True
        self._status.order_status = order.status
        if order.status != "pending":
            if self._outcome is None:
                # Started for an order already settled (a late Stripe event): handle the event.
                self._outcome = "not_pending"
            return
        known = {s.id for s in self._sessions}
        for found in order.open_sessions:
            if found.session_id not in known:
                self._sessions.append(_Session(found.session_id, found.url, found.expires_at))
                self._status.sessions_adopted += 1

    def _has_work(self) -> bool:
        """An event or a receipt to handle, or the order settled; or a session made meanwhile
        (a checkout call) moved the time the run must look by itself, so it waits anew."""
        if self._inbox or self._receipts_due or self._outcome is not None:
            return True
        return self._rearm and self._wake_at() != self._planned_wake

    def _wake_at(self) -> datetime | None:
        """When the run next looks by itself: at the deadline, or earlier at the open session's
        expiry plus the grace period; None once the order is settled."""
        if self._outcome is not None:
            return None
        overdue = self._processing_overdue_at()
        if overdue is not None:  # the deadline waits for the money in flight
            return overdue
        wake = self._deadline
        current = self._current()
        if current is not None:
            # Stripe's expired event should come at the session's expiry; if it has not come
            # within the grace period, the workflow asks Stripe itself.
            grace = timedelta(seconds=self._input.expiry_grace_seconds)
            wake = min(wake, current.expires_at + grace)
        return wake

    def _next_wake(self) -> timedelta | None:
        wake = self._wake_at()
        if wake is None:
            return None
        return max(wake - workflow.now(), timedelta(seconds=1))

    def _processing_overdue_at(self) -> datetime | None:
        if self._processing_since is None:
            return None
        cap = timedelta(seconds=self._input.async_payment_max_wait_seconds)
        return max(self._deadline, self._processing_since + cap)

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
            self._status.problems.append(f"{event.event_id}: {_error_type(err) or 'failed'}")
            self._set_state(self._status.state)

    async def _handle(self, event: StripeEventSignal) -> None:
        if event.type in (COMPLETED, ASYNC_SUCCEEDED):
            if event.payment_status != "paid":
                # A delayed method: not paid yet, and nothing more can be paid on that page.
                if (
                    self._outcome is None
                    and self._processing is None
                    and event.object_id not in self._async_failed
                    and workflow.patched("async-payment-in-flight")
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

    # --- the buyer's calls -----------------------------------------------------------------
    @workflow.update(name="checkout_session")
    async def checkout_session(self, _: CheckoutSessionRequest) -> CheckoutSessionResult:
        async with self._lock:  # two calls at once: the second waits and gets the same session
            if workflow.patched(LOAD_BEFORE_SESSION):
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

    async def _new_session(self, now: datetime) -> CheckoutSessionResult:
        self._attempts += 1
        ttl = timedelta(seconds=self._input.session_ttl_seconds)
        expires_at = max(min(now + ttl, self._deadline), now + STRIPE_MIN_SESSION + SESSION_MARGIN)
        self._set_state("creating_session")
        try:
            created = await self._activity(
                CREATE_SESSION,
                CreateCheckoutSession(
                    self._input.order_id, self._attempts, expires_at, workflow.info().run_id
                ),
                CreatedCheckoutSession,
                retry=CREATE_RETRY,
                limit=STRIPE_TIMEOUT,
            )
        except ACTIVITY_FAILED as err:
            kind = _error_type(err)
            self._set_state("awaiting_checkout")
            if kind == "OrderNotPending":
                return CheckoutSessionResult(error="order_not_pending")
            if kind == "StripeRejected":
                return CheckoutSessionResult(error="payment_provider_error")
            return CheckoutSessionResult(error="payment_provider_unavailable")
        session = _Session(created.session_id, created.url, created.expires_at)
        self._sessions.append(session)
        self._status.sessions_made += 1
        self._set_state("awaiting_payment")
        return self._answer(session)

    @workflow.update(name="cancel")
    async def cancel(self, request: CancelCheckout) -> CancelCheckoutResult:
        async with self._lock:
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

    # --- steps -----------------------------------------------------------------------------
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

    async def _activity(
        self,
        name: str,
        arg: object,
        result_type: type,
        *,
        retry: RetryPolicy = DB_RETRY,
        limit: timedelta = DB_TIMEOUT,
    ) -> Any:
        """Every step but the receipt: a database transaction or one Stripe call, each short and
        idempotent. They run as local activities (in the worker, inside the workflow task: no
        activity task travels through the server, which halves the server's and the worker's
        work per checkout, see docs/benchmarks.md); runs begun before that keep their kind."""
        if workflow.patched(LOCAL_ACTIVITIES):
            return await workflow.execute_local_activity(
                name,
                arg,
                result_type=result_type,
                start_to_close_timeout=limit,
                retry_policy=retry,
            )
        return await workflow.execute_activity(
            name,
            arg,
            result_type=result_type,
            start_to_close_timeout=limit,
            retry_policy=retry,
        )

    # --- state -----------------------------------------------------------------------------
    def _current(self) -> _Session | None:
        return next((s for s in reversed(self._sessions) if s.open), None)

    def _close(self, session_id: str) -> None:
        for session in self._sessions:
            if session.id == session_id:
                session.open = False

    def _answer(self, session: _Session) -> CheckoutSessionResult:
        return CheckoutSessionResult(
            session_id=session.id, checkout_url=session.url, expires_at=session.expires_at
        )

    def _settled_answer(self) -> CheckoutSessionResult:
        error = "order_paid" if self._outcome == "paid" else "order_not_pending"
        return CheckoutSessionResult(error=error, order_status=self._status.order_status)

    def _set_state(self, state: str) -> None:
        self._status.state = state
        current = self._current()
        self._status.current_session_id = current.id if current else None
        self._status.current_session_expires_at = current.expires_at if current else None
        details = [f"**{state}**", f"deadline {self._deadline.isoformat(timespec='seconds')}"]
        if current is not None:
            details.append(f"session {current.id}")
        if self._status.unapplied_payment_ids:
            details.append(f"to refund: payments {self._status.unapplied_payment_ids}")
        workflow.set_current_details(" · ".join(details))
