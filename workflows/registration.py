"""Registration: issue an activation token, email it, wait for activation or expiry."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.accounts import AccountActivities
    from workflows.messages import (
        AccountNoticeInput,
        ActivateAccount,
        ActivateRequest,
        ActivateResult,
        InvalidateActivationToken,
        IssueActivationToken,
        RegistrationInput,
        RegistrationResult,
        RegistrationStatus,
        ResendActivation,
        SendAccountEmail,
    )

# Patch id (never rename): runs started before the expiry race fix replay the old branch.
EXPIRY_SETTLES_RACES = "expiry-settles-activation-and-resend-races"
DB_TIMEOUT = timedelta(seconds=30)
EMAIL_TIMEOUT = timedelta(seconds=60)
# The send activity heartbeats every 2 s: a worker killed mid-send is noticed after this.
EMAIL_HEARTBEAT_TIMEOUT = timedelta(seconds=10)
DB_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=30),
    non_retryable_error_types=["UserNotFound"],
)


def email_retry(max_interval_seconds: int) -> RetryPolicy:
    # No attempt limit: an email is retried until the SMTP server accepts it.
    return RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=max_interval_seconds),
        maximum_attempts=0,
        non_retryable_error_types=["UserNotFound", "UnknownTemplate"],
    )


@workflow.defn(name="RegistrationWorkflow")
class RegistrationWorkflow:
    @workflow.init
    def __init__(self, input: RegistrationInput) -> None:
        self._input = input
        self._activated = False
        self._resend_requested = False
        self._status = RegistrationStatus(state="started", user_id=input.user_id)

    def _set_state(self, state: str) -> None:
        self._status.state = state
        # Shown as "current details" in the Temporal UI.
        expires = self._status.token_expires_at
        details = f"**{state}**"
        if expires is not None and state == "awaiting_activation":
            details += f" until {expires.isoformat(timespec='seconds')}"
        workflow.set_current_details(details)

    @workflow.run
    async def run(self, input: RegistrationInput) -> RegistrationResult:
        ttl = timedelta(seconds=input.activation_ttl_seconds)
        retry = email_retry(input.email_retry_max_interval_seconds)
        while True:
            self._resend_requested = False
            nonce = str(workflow.uuid4())
            expires_at = workflow.now() + ttl
            self._status.token_expires_at = expires_at
            self._set_state("issuing_token")
            issued = await workflow.execute_activity_method(
                AccountActivities.issue_activation_token,
                IssueActivationToken(user_id=input.user_id, nonce=nonce, expires_at=expires_at),
                start_to_close_timeout=DB_TIMEOUT,
                retry_policy=DB_RETRY,
            )
            if issued.already_active:
                self._set_state("already_active")
                return await self._finish("already_active")
            self._set_state("sending_activation_email")
            await workflow.execute_activity_method(
                AccountActivities.send_account_email,
                SendAccountEmail(
                    user_id=input.user_id, template="activation", nonce=nonce, expires_at=expires_at
                ),
                start_to_close_timeout=EMAIL_TIMEOUT,
                heartbeat_timeout=EMAIL_HEARTBEAT_TIMEOUT,
                retry_policy=retry,
            )
            self._status.activation_emails_sent += 1
            self._set_state("awaiting_activation")
            try:
                await workflow.wait_condition(
                    lambda: self._activated or self._resend_requested,
                    timeout=max(expires_at - workflow.now(), timedelta(seconds=1)),
                )
            except TimeoutError:
                self._set_state("expiring")  # from here the validator refuses new activations
                settles_races = workflow.patched(EXPIRY_SETTLES_RACES)
                if settles_races:
                    # An activation accepted just before the timer fired may already have
                    # committed in Postgres: let it finish and honour it before deciding.
                    await workflow.wait_condition(workflow.all_handlers_finished)
                    if self._activated:
                        break
                await workflow.execute_activity_method(
                    AccountActivities.invalidate_activation_token,
                    InvalidateActivationToken(user_id=input.user_id),
                    start_to_close_timeout=DB_TIMEOUT,
                    retry_policy=DB_RETRY,
                )
                if self._activated:  # an activation raced the timer and won
                    break
                if settles_races and self._resend_requested:
                    continue  # a resend that came while expiring gets a fresh link, not silence
                self._set_state("expired")
                return await self._finish("expired")
            if self._activated:
                break
        self._set_state("sending_confirmation_email")
        await workflow.execute_activity_method(
            AccountActivities.send_account_email,
            SendAccountEmail(user_id=input.user_id, template="activation_confirmation"),
            start_to_close_timeout=EMAIL_TIMEOUT,
            heartbeat_timeout=EMAIL_HEARTBEAT_TIMEOUT,
            retry_policy=retry,
        )
        self._set_state("activated")
        return await self._finish("activated")

    async def _finish(self, outcome: str) -> RegistrationResult:
        await workflow.wait_condition(workflow.all_handlers_finished)
        return RegistrationResult(outcome=outcome)

    @workflow.signal(name="resend")
    def resend(self, _: ResendActivation) -> None:
        if not self._activated:
            self._resend_requested = True
            self._status.resend_requests += 1

    @workflow.update(name="activate")
    async def activate(self, request: ActivateRequest) -> ActivateResult:
        result = await workflow.execute_activity_method(
            AccountActivities.activate_account,
            ActivateAccount(user_id=self._input.user_id, token_hash=request.token_hash),
            start_to_close_timeout=DB_TIMEOUT,
            retry_policy=DB_RETRY,
        )
        if result.activated:
            self._activated = True
        return ActivateResult(activated=result.activated)

    @activate.validator
    def _validate_activate(self, request: ActivateRequest) -> None:
        if self._status.state in ("expiring", "expired", "already_active") or self._activated:
            raise ValueError("This registration is no longer awaiting activation.")
        if len(request.token_hash) != 64:
            raise ValueError("Malformed token hash.")

    @workflow.query(name="status")
    def status(self) -> RegistrationStatus:
        return self._status


@workflow.defn(name="AccountNoticeWorkflow")
class AccountNoticeWorkflow:
    """Tells an account's owner something happened to it: someone tried to register their email
    again, or their password was changed."""

    @workflow.run
    async def run(self, input: AccountNoticeInput) -> None:
        await workflow.execute_activity_method(
            AccountActivities.send_account_email,
            SendAccountEmail(user_id=input.user_id, template=input.template),
            start_to_close_timeout=EMAIL_TIMEOUT,
            heartbeat_timeout=EMAIL_HEARTBEAT_TIMEOUT,
            retry_policy=email_retry(input.email_retry_max_interval_seconds),
        )
