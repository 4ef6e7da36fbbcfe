"""How each process is started: its workflow, id, input, search attributes and summary.

`api/temporal.py` turns a `StartSpec` into a start, a signal-with-start or an
update-with-start; it knows no process. Not workflow code: never imported by a workflow.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)

from domain.config import Settings
from workflows.checkout import CheckoutWorkflow
from workflows.checkout_messages import CheckoutInput
from workflows.ids import (
    ORDER_ID,
    USER_ID,
    account_notice_workflow_id,
    checkout_workflow_id,
    password_changed_notice_workflow_id,
    password_reset_workflow_id,
    refund_workflow_id,
    registration_workflow_id,
)
from workflows.messages import AccountNoticeInput, RegistrationInput
from workflows.password_reset import PasswordResetWorkflow
from workflows.password_reset_messages import PasswordResetInput
from workflows.refund import RefundWorkflow
from workflows.refund_messages import RefundInput
from workflows.registration import AccountNoticeWorkflow, RegistrationWorkflow


@dataclass(frozen=True)
class StartSpec:
    """Everything Temporal needs to start one run (one dataclass in, as every workflow takes)."""

    workflow: Callable[..., Awaitable[Any]]  # the workflow's run method, e.g. X.run
    input: Any
    id: str
    summary: str  # shown in the Temporal UI: no personal data
    search_attributes: TypedSearchAttributes = TypedSearchAttributes.empty
    # A finished run may be followed by a new one under the same id...
    id_reuse_policy: WorkflowIDReusePolicy = WorkflowIDReusePolicy.ALLOW_DUPLICATE
    # ...but while one runs, starting again joins it: retries and double clicks are harmless.
    id_conflict_policy: WorkflowIDConflictPolicy = WorkflowIDConflictPolicy.USE_EXISTING


def registration_start(settings: Settings, user_id: int) -> StartSpec:
    return StartSpec(
        RegistrationWorkflow.run,
        RegistrationInput(
            user_id=user_id,
            activation_ttl_seconds=settings.activation_token_ttl_seconds,
            email_retry_max_interval_seconds=settings.email_retry_max_interval_seconds,
        ),
        id=registration_workflow_id(user_id),
        summary=f"Registration and email activation of user {user_id}",
        search_attributes=TypedSearchAttributes([SearchAttributePair(USER_ID, user_id)]),
    )


def account_notice_start(settings: Settings, user_id: int) -> StartSpec:
    # USE_EXISTING: at most one notice in flight per account, however often someone retries.
    return StartSpec(
        AccountNoticeWorkflow.run,
        AccountNoticeInput(
            user_id=user_id,
            email_retry_max_interval_seconds=settings.email_retry_max_interval_seconds,
        ),
        id=account_notice_workflow_id(user_id),
        summary=f"Notice to user {user_id}: someone tried to register their email",
        search_attributes=TypedSearchAttributes([SearchAttributePair(USER_ID, user_id)]),
    )


def password_reset_start(settings: Settings, user_id: int) -> StartSpec:
    # Signal-with-start (`request`) and USE_EXISTING: a new request reaches the running run,
    # which issues a new token replacing the old one; after a run ended, a new run starts.
    return StartSpec(
        PasswordResetWorkflow.run,
        PasswordResetInput(
            user_id=user_id,
            token_ttl_seconds=settings.password_reset_token_ttl_seconds,
            email_retry_max_interval_seconds=settings.email_retry_max_interval_seconds,
        ),
        id=password_reset_workflow_id(user_id),
        summary=f"Password reset of user {user_id}",
        search_attributes=TypedSearchAttributes([SearchAttributePair(USER_ID, user_id)]),
    )


def password_changed_notice_start(settings: Settings, user_id: int, changed_at: int) -> StartSpec:
    return StartSpec(
        AccountNoticeWorkflow.run,
        AccountNoticeInput(
            user_id=user_id,
            email_retry_max_interval_seconds=settings.email_retry_max_interval_seconds,
            template="password_changed",
        ),
        id=password_changed_notice_workflow_id(user_id, changed_at),
        summary=f"Notice to user {user_id}: their password was changed",
        search_attributes=TypedSearchAttributes([SearchAttributePair(USER_ID, user_id)]),
    )


def refund_start(settings: Settings, refund_id: int, order_id: int, user_id: int) -> StartSpec:
    # One run per refund row: a repeated start while it runs joins it (USE_EXISTING); after it
    # failed or was terminated a new one may take over (the row says where it stands).
    return StartSpec(
        RefundWorkflow.run,
        RefundInput(
            refund_id=refund_id,
            order_id=order_id,
            user_id=user_id,
            poll_interval_seconds=settings.refund_poll_interval_seconds,
            email_retry_max_interval_seconds=settings.email_retry_max_interval_seconds,
        ),
        id=refund_workflow_id(refund_id),
        summary=f"Refund {refund_id} of order {order_id} (user {user_id})",
        search_attributes=TypedSearchAttributes(
            [SearchAttributePair(ORDER_ID, order_id), SearchAttributePair(USER_ID, user_id)]
        ),
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
    )


def refund_late_failure_start(
    settings: Settings, refund_id: int, order_id: int, user_id: int
) -> StartSpec:
    # Signal-with-start for a Stripe event failing the refund: a running run of the refund
    # takes it (USE_EXISTING); after the run ended, whatever its result (ALLOW_DUPLICATE), a new
    # run in `late_failure` mode applies it once.
    spec = refund_start(settings, refund_id, order_id, user_id)
    return StartSpec(
        spec.workflow,
        replace(spec.input, late_failure=True),
        id=spec.id,
        summary=f"Refund {refund_id} of order {order_id} (user {user_id}): Stripe failed it",
        search_attributes=spec.search_attributes,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
    )


def checkout_start(settings: Settings, order_id: int, user_id: int) -> StartSpec:
    # USE_EXISTING: every checkout call and webhook of a running checkout reaches that run; a
    # run that ended is followed by a new one (a late Stripe event is still handled).
    return StartSpec(
        CheckoutWorkflow.run,
        CheckoutInput(
            order_id=order_id,
            user_id=user_id,
            session_ttl_seconds=settings.checkout_session_ttl_seconds,
            payment_window_seconds=settings.payment_window_seconds,
            expiry_grace_seconds=settings.checkout_expiry_grace_seconds,
            email_retry_max_interval_seconds=settings.email_retry_max_interval_seconds,
            refund_poll_interval_seconds=settings.refund_poll_interval_seconds,
            async_payment_max_wait_seconds=settings.checkout_async_payment_max_wait_seconds,
        ),
        id=checkout_workflow_id(order_id),
        summary=f"Checkout of order {order_id} (user {user_id})",
        search_attributes=TypedSearchAttributes(
            [SearchAttributePair(ORDER_ID, order_id), SearchAttributePair(USER_ID, user_id)]
        ),
    )
