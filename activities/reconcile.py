"""Checkout reconciliation activities: list stale open sessions, ask Stripe about one (stamping
it as checked, so successive runs rotate through them) and hand a paid or expired one to its
order's checkout run the webhook's way."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.config import Settings
from domain.db import SessionFactory, transaction
from domain.payments import reconcile
from domain.payments.handoff import Signaller, deliver_event
from domain.stripe import CheckoutSessionInfo, StripeGateway, StripeRejected
from workflows.reconcile_messages import (
    ReconcileInput,
    ReconcileOutcome,
    StaleCheckoutSession,
    StaleCheckoutSessions,
)

LIST_STALE = "list_stale_checkout_sessions"
RECONCILE_SESSION = "reconcile_checkout_session"


class ReconcileActivities:
    def __init__(
        self,
        sessions: SessionFactory,
        gateway: StripeGateway,
        temporal: Signaller,
        settings: Settings,
    ) -> None:
        self._sessions = sessions
        self._gateway = gateway
        self._temporal = temporal
        self._settings = settings

    @activity.defn(name=LIST_STALE)
    async def list_stale_checkout_sessions(self, task: ReconcileInput) -> StaleCheckoutSessions:
        if task.batch_size < 1 or task.min_age_seconds < 0:
            raise ApplicationError(f"bad reconcile input {task}", non_retryable=True)
        async with transaction(self._sessions) as session:
            rows = await reconcile.stale_sessions(
                session, task.min_age_seconds, task.batch_size, task.order_id
            )
        return StaleCheckoutSessions([StaleCheckoutSession(sid, oid) for sid, oid in rows])

    @activity.defn(name=RECONCILE_SESSION)
    async def reconcile_checkout_session(self, stale: StaleCheckoutSession) -> ReconcileOutcome:
        info = await self._ask_stripe(stale.session_id)
        outcome = reconcile.outcome(info)
        if outcome == "open":
            return ReconcileOutcome(outcome)
        if info.order_id is not None and info.order_id != str(stale.order_id):
            raise ApplicationError(
                f"session {stale.session_id} belongs to another order at Stripe",
                type="SessionOfAnotherOrder",
                non_retryable=True,
            )
        event = reconcile.event_for(info, stale.order_id)
        handed_on = await deliver_event(self._sessions, self._settings, self._temporal, event)
        activity.logger.info(
            "session %s of order %s: %s (handed on: %s)",
            stale.session_id,
            stale.order_id,
            outcome,
            handed_on,
        )
        return ReconcileOutcome(outcome)

    async def _ask_stripe(self, session_id: str) -> CheckoutSessionInfo:
        """What Stripe says of the session. Once Stripe answered (whatever it said) the session
        is stamped as checked, so the next runs take the ones checked longest ago first; when
        Stripe could not be reached it is not (the activity's retry asks again)."""
        try:
            info = await self._gateway.retrieve_checkout_session(session_id)
        except StripeRejected as exc:
            await self._checked(session_id)
            if exc.status != 404:  # retrying will not help
                raise ApplicationError(
                    f"Stripe refused session {session_id}: {exc.code}",
                    type="StripeRejected",
                    non_retryable=True,
                ) from None
            return reconcile.unknown_session(session_id)
        await self._checked(session_id)
        return info

    async def _checked(self, session_id: str) -> None:
        async with transaction(self._sessions) as session:
            await reconcile.mark_reconciled(session, session_id)

    def all(self) -> list[object]:
        return [self.list_stale_checkout_sessions, self.reconcile_checkout_session]
