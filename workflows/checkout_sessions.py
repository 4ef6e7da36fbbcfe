"""CheckoutWorkflow's bookkeeping of its Stripe Checkout Sessions (`CheckoutSessions`, the base
class the workflow builds on): the run's state, the sessions it made or adopted from a lost run,
which one is current, the answers the `checkout_session` update hands out, the time the run next
looks by itself, and how every step but the receipt runs an activity.

Workflow code: imported in the sandbox, so no I/O here; the message dataclasses pass through.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as ActivityTimedOut

from workflows.checkout_policy import (
    ADOPT_PAYMENT_IN_FLIGHT,
    BUNDLE_ORDER,
    BUNDLED_PATCHES,
    BUNDLES,
    CREATE_RETRY,
    CREATE_SESSION,
    DB_RETRY,
    DB_TIMEOUT,
    LOAD_ORDER,
    LOCAL_ACTIVITIES,
    SESSION_MARGIN,
    STRIPE_MIN_SESSION,
    STRIPE_TIMEOUT,
)

with workflow.unsafe.imports_passed_through():
    from workflows.checkout_messages import (
        CheckoutInput,
        CheckoutOrder,
        CheckoutSessionResult,
        CheckoutStatus,
        CreateCheckoutSession,
        CreatedCheckoutSession,
        LoadCheckoutOrder,
        Session,
    )
    from workflows.stripe_events import StripeEventSignal


# How an activity that gave up reaches the workflow: a regular one as ActivityError (its
# cause says why), a local one as the ApplicationError (or TimeoutError) itself.
ACTIVITY_FAILED = (ActivityError, ApplicationError, ActivityTimedOut)


def error_type(err: BaseException) -> str | None:
    cause = err.cause if isinstance(err, ActivityError) else err
    return cause.type if isinstance(cause, ApplicationError) else None


class CheckoutSessions:
    """The run's state (set by CheckoutWorkflow.__init__) and its session bookkeeping."""

    _input: CheckoutInput
    _deadline: datetime
    _lock: asyncio.Lock
    _inbox: list[StripeEventSignal]
    _seen: set[str]
    _sessions: list[Session]
    _loaded: bool
    _rearm: bool
    _planned_wake: datetime | None
    _attempts: int
    _outcome: str | None  # set once the order is settled (paid, cancelled)
    _receipts_due: list[int]
    # The session whose delayed payment is in flight, and since when (None: none).
    _processing: str | None
    _processing_since: datetime | None
    # Sessions whose delayed payment failed: a stale `completed` (unpaid) delivered after
    # the failure must not put the order back into processing.
    _async_failed: set[str]
    _status: CheckoutStatus
    _bundled: frozenset[str] | None  # the patches of the bundle this run took (None: not asked)

    async def _load_order(self) -> None:
        """Once per run, under the lock, before its first session: the order's status, and the
        sessions an earlier run of the order made that our rows still hold open (that run was
        terminated or failed). This run adopts them: the page already open is handed out
        again, or closed at Stripe before a new one is made, never left open beside it; and a
        delayed payment that run saw in flight is waited for here too."""
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
                self._sessions.append(Session(found.session_id, found.url, found.expires_at))
                self._status.sessions_adopted += 1
        if (
            order.processing_session_id is not None
            and self._processing is None
            and self._patched(ADOPT_PAYMENT_IN_FLIGHT)
        ):
            # The lost run saw that session's delayed payment in flight: wait for it as that
            # run would have, counting from when it began (not from this run's start).
            self._processing = order.processing_session_id
            self._processing_since = order.processing_since or workflow.now()
            self._status.processing_session_id = self._processing
            self._status.processing_since = self._processing_since

    # --- when the run looks by itself ------------------------------------------------------
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

    # --- sessions --------------------------------------------------------------------------
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
            kind = error_type(err)
            self._set_state("awaiting_checkout")
            if kind == "OrderNotPending":
                return CheckoutSessionResult(error="order_not_pending")
            if kind == "StripeRejected":
                return CheckoutSessionResult(error="payment_provider_error")
            return CheckoutSessionResult(error="payment_provider_unavailable")
        session = Session(created.session_id, created.url, created.expires_at)
        self._sessions.append(session)
        self._status.sessions_made += 1
        self._set_state("awaiting_payment")
        return self._answer(session)

    def _current(self) -> Session | None:
        return next((s for s in reversed(self._sessions) if s.open), None)

    def _close(self, session_id: str) -> None:
        for session in self._sessions:
            if session.id == session_id:
                session.open = False

    def _answer(self, session: Session) -> CheckoutSessionResult:
        return CheckoutSessionResult(
            session_id=session.id, checkout_url=session.url, expires_at=session.expires_at
        )

    def _settled_answer(self) -> CheckoutSessionResult:
        error = "order_paid" if self._outcome == "paid" else "order_not_pending"
        return CheckoutSessionResult(error=error, order_status=self._status.order_status)

    # --- patches ---------------------------------------------------------------------------
    def _patched(self, patch_id: str) -> bool:
        """`workflow.patched(patch_id)`, with bundles: a new run takes the newest bundle's
        patches on one marker. A run started before finds the bundle it recorded (or none, and
        is asked each patch as before); a patch outside its bundle is asked on its own. The
        bundle is asked at a run's first patch, which every kind of run (update- or
        signal-with-start) meets in its first workflow task, so a run's answer never changes
        partway."""
        if patch_id not in BUNDLED_PATCHES:
            return workflow.patched(patch_id)
        if self._bundled is None:
            taken = next((b for b in BUNDLE_ORDER if workflow.patched(b)), None)
            self._bundled = BUNDLES[taken] if taken is not None else frozenset()
        return patch_id in self._bundled or workflow.patched(patch_id)

    # --- state -----------------------------------------------------------------------------
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
        if self._patched(LOCAL_ACTIVITIES):
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
