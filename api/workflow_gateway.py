"""The API's side of the workflows: starts, signals, updates. The Temporal client is made once."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowUpdateFailedError,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.service import RPCError, RPCStatusCode

from domain.config import Settings
from domain.errors import ServiceUnavailable
from workflows.ids import USER_ID, account_notice_workflow_id, registration_workflow_id
from workflows.messages import (
    AccountNoticeInput,
    ActivateRequest,
    ActivateResult,
    RegistrationInput,
    ResendActivation,
)
from workflows.registration import AccountNoticeWorkflow, RegistrationWorkflow

log = logging.getLogger("cinema.api.workflows")
RPC_TIMEOUT = timedelta(seconds=10)


class WorkflowGateway:
    def __init__(self, settings: Settings, client: Client | None = None) -> None:
        self._settings = settings
        self._client = client
        self._lock = asyncio.Lock()

    async def client(self) -> Client:
        """Connect lazily, so the API starts (and reports not-ready) while Temporal is down."""
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is None:
                try:
                    self._client = await asyncio.wait_for(
                        Client.connect(
                            self._settings.temporal_address,
                            namespace=self._settings.temporal_namespace,
                        ),
                        timeout=5,
                    )
                except (RuntimeError, OSError, TimeoutError) as exc:
                    log.warning(
                        "cannot reach Temporal at %s: %s", self._settings.temporal_address, exc
                    )
                    raise ServiceUnavailable("The workflow service is unavailable.") from exc
            return self._client

    async def check_health(self) -> None:
        client = await self.client()
        await client.service_client.check_health(timeout=timedelta(seconds=2))

    def _registration_input(self, user_id: int) -> RegistrationInput:
        return RegistrationInput(
            user_id=user_id,
            activation_ttl_seconds=self._settings.activation_token_ttl_seconds,
            email_retry_max_interval_seconds=self._settings.email_retry_max_interval_seconds,
        )

    async def start_registration(self, user_id: int, *, resend: bool = False) -> None:
        """Start `registration:{user_id}`; with resend, signal the running one (or start anew)."""
        client = await self.client()
        await client.start_workflow(
            RegistrationWorkflow.run,
            self._registration_input(user_id),
            id=registration_workflow_id(user_id),
            task_queue=self._settings.temporal_task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            search_attributes=TypedSearchAttributes([SearchAttributePair(USER_ID, user_id)]),
            static_summary=f"Registration and email activation of user {user_id}",
            start_signal="resend" if resend else None,
            start_signal_args=[ResendActivation()] if resend else [],
            rpc_timeout=RPC_TIMEOUT,
        )

    async def notify_existing_account(self, user_id: int) -> None:
        client = await self.client()
        await client.start_workflow(
            AccountNoticeWorkflow.run,
            AccountNoticeInput(
                user_id=user_id,
                email_retry_max_interval_seconds=self._settings.email_retry_max_interval_seconds,
            ),
            id=account_notice_workflow_id(user_id),
            task_queue=self._settings.temporal_task_queue,
            # At most one notice in flight per account, however often someone retries.
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            search_attributes=TypedSearchAttributes([SearchAttributePair(USER_ID, user_id)]),
            static_summary=f"Notice to user {user_id}: someone tried to register their email",
            rpc_timeout=RPC_TIMEOUT,
        )

    async def activate(self, user_id: int, token_hash: str) -> bool:
        """Ask the registration workflow to activate; its answer is final (the user is active)."""
        client = await self.client()
        handle = client.get_workflow_handle(registration_workflow_id(user_id))
        try:
            result: ActivateResult = await handle.execute_update(
                "activate",
                ActivateRequest(token_hash=token_hash),
                result_type=ActivateResult,
                rpc_timeout=timedelta(seconds=30),
            )
        except WorkflowUpdateFailedError:
            return False  # rejected by the validator: expired or no longer awaiting activation
        except RPCError as exc:
            if exc.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
                return False  # the run has ended
            raise
        return result.activated

    async def registration_status(self, user_id: int) -> WorkflowExecutionStatus | None:
        client = await self.client()
        desc = await client.get_workflow_handle(registration_workflow_id(user_id)).describe()
        return desc.status
