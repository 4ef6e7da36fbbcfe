"""Scheduled reconciliation of open checkouts with Stripe (run by a Temporal Schedule the worker
upserts).

One bounded batch per run: the stale open sessions of pending orders are listed (the ones
checked longest ago first, so successive runs rotate through them), and each is looked up at
Stripe (which stamps it as checked). A paid one whose webhook never came, or an expired one, is
handed to its order's checkout run exactly as the webhook would hand it (the run is the single
writer: it records the payment once, or cancels the order / opens a new page per its rules). The
result (the counts) is what an operator sees as the schedule's last outcome."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.reconcile import LIST_STALE, RECONCILE_SESSION
    from workflows.reconcile_messages import (
        ReconcileInput,
        ReconcileOutcome,
        ReconcileResult,
        StaleCheckoutSession,
        StaleCheckoutSessions,
    )

RETRY = RetryPolicy(maximum_interval=timedelta(minutes=1), maximum_attempts=10)


@workflow.defn(name="CheckoutReconcileWorkflow")
class CheckoutReconcileWorkflow:
    def __init__(self) -> None:
        self._result = ReconcileResult()

    @workflow.run
    async def run(self, task: ReconcileInput) -> ReconcileResult:
        stale = await workflow.execute_activity(
            LIST_STALE,
            task,
            result_type=StaleCheckoutSessions,
            start_to_close_timeout=timedelta(minutes=2),
            retry_policy=RETRY,
            summary="list stale open checkout sessions",
        )
        for session in stale.sessions:
            await self._reconcile(session)
        return self._result  # no signal or update handlers: nothing to wait for

    async def _reconcile(self, session: StaleCheckoutSession) -> None:
        self._result.checked += 1
        try:
            done = await workflow.execute_activity(
                RECONCILE_SESSION,
                session,
                result_type=ReconcileOutcome,
                start_to_close_timeout=timedelta(minutes=1),
                retry_policy=RETRY,
                summary=f"reconcile a checkout session of order {session.order_id}",
            )
        except ActivityError:
            self._result.failed += 1  # the history says why; the other sessions go on
            return
        if done.outcome == "paid":
            self._result.recorded_paid += 1
        elif done.outcome == "expired":
            self._result.cancelled_expired += 1
        else:
            self._result.still_open += 1

    @workflow.query(name="status")
    def status(self) -> ReconcileResult:
        """The counts so far."""
        return self._result
