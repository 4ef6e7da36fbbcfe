"""Password reset: issue a one-time token, email it, wait for the reset, a new request, or expiry.

A new request reaches the running run (signal-with-start, `request`): it issues a new token,
which replaces the old one's row, so the old link stops working, and restarts the timer. We
chose this over terminating the old run (TERMINATE_EXISTING) because a termination could cut a
`complete` mid-way (password set, caller told "failed", no notice email) and would show every
superseded reset as "terminated" in the Temporal UI.

A wrong token never reaches this workflow's state: the `complete` validator refuses any hash but
the current token's, and a refused update leaves no trace in history.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.accounts import AccountActivities
    from activities.password_reset import PasswordResetActivities
    from workflows.messages import SendAccountEmail
    from workflows.password_reset_messages import (
        CompleteResetRequest,
        CompleteResetResult,
        InvalidatePasswordResetToken,
        IssuePasswordResetToken,
        PasswordResetInput,
        PasswordResetResult,
        PasswordResetStatus,
        RequestPasswordReset,
        ResetPassword,
    )
    from workflows.registration import (
        DB_RETRY,
        DB_TIMEOUT,
        EMAIL_HEARTBEAT_TIMEOUT,
        EMAIL_TIMEOUT,
        email_retry,
    )


@workflow.defn(name="PasswordResetWorkflow")
class PasswordResetWorkflow:
    @workflow.init
    def __init__(self, input: PasswordResetInput) -> None:
        self._input = input
        self._token_hash = ""
        self._completing = False
        self._completed = False
        self._requested = False
        self._status = PasswordResetStatus(state="started", user_id=input.user_id)

    def _set_state(self, state: str) -> None:
        self._status.state = state
        expires = self._status.token_expires_at
        details = f"**{state}**"
        if expires is not None and state == "awaiting_reset":
            details += f" until {expires.isoformat(timespec='seconds')}"
        workflow.set_current_details(details)

    @workflow.run
    async def run(self, input: PasswordResetInput) -> PasswordResetResult:
        ttl = timedelta(seconds=input.token_ttl_seconds)
        retry = email_retry(input.email_retry_max_interval_seconds)
        while True:
            self._requested = False  # this issuance answers every request made so far
            nonce = str(workflow.uuid4())
            expires_at = workflow.now() + ttl
            self._status.token_expires_at = expires_at
            self._set_state("issuing_token")
            issued = await workflow.execute_activity_method(
                PasswordResetActivities.issue_password_reset_token,
                IssuePasswordResetToken(user_id=input.user_id, nonce=nonce, expires_at=expires_at),
                start_to_close_timeout=DB_TIMEOUT,
                retry_policy=DB_RETRY,
            )
            if not issued.eligible:  # deleted or deactivated since the request
                self._set_state("not_eligible")
                return await self._finish("not_eligible")
            self._token_hash = issued.token_hash
            self._set_state("sending_reset_email")
            await workflow.execute_activity_method(
                AccountActivities.send_account_email,
                SendAccountEmail(
                    user_id=input.user_id,
                    template="password_reset",
                    nonce=nonce,
                    expires_at=expires_at,
                ),
                start_to_close_timeout=EMAIL_TIMEOUT,
                heartbeat_timeout=EMAIL_HEARTBEAT_TIMEOUT,
                retry_policy=retry,
            )
            self._status.reset_emails_sent += 1
            self._set_state("awaiting_reset")
            try:
                await workflow.wait_condition(
                    lambda: self._completed or self._requested,
                    timeout=max(expires_at - workflow.now(), timedelta(seconds=1)),
                )
            except TimeoutError:
                self._set_state("expiring")  # from here the validator refuses completions
                # A completion accepted just before the timer fired may have committed: honour it.
                await workflow.wait_condition(workflow.all_handlers_finished)
                if self._completed:
                    break
                await workflow.execute_activity_method(
                    PasswordResetActivities.invalidate_password_reset_token,
                    InvalidatePasswordResetToken(user_id=input.user_id),
                    start_to_close_timeout=DB_TIMEOUT,
                    retry_policy=DB_RETRY,
                )
                if self._requested:
                    continue  # a request that came while expiring gets a fresh link
                self._set_state("expired")
                return await self._finish("expired")
            # A completion in flight decides first: a request that came meanwhile must not
            # issue a token that outlives the reset.
            await workflow.wait_condition(lambda: not self._completing)
            if self._completed:
                break
            # Otherwise a new request: loop to issue a new token (which replaces the old one).
        self._set_state("sending_notice_email")
        await workflow.execute_activity_method(
            AccountActivities.send_account_email,
            SendAccountEmail(user_id=input.user_id, template="password_changed"),
            start_to_close_timeout=EMAIL_TIMEOUT,
            heartbeat_timeout=EMAIL_HEARTBEAT_TIMEOUT,
            retry_policy=retry,
        )
        self._set_state("completed")
        return await self._finish("completed")

    async def _finish(self, outcome: str) -> PasswordResetResult:
        await workflow.wait_condition(workflow.all_handlers_finished)
        return PasswordResetResult(outcome=outcome)

    @workflow.signal(name="request")
    def request(self, _: RequestPasswordReset) -> None:
        if not self._completed:
            self._requested = True
            self._status.requests += 1

    @workflow.update(name="complete")
    async def complete(self, request: CompleteResetRequest) -> CompleteResetResult:
        self._completing = True  # one completion at a time: a second one is refused
        try:
            result = await workflow.execute_activity_method(
                PasswordResetActivities.reset_password,
                ResetPassword(
                    user_id=self._input.user_id,
                    token_hash=request.token_hash,
                    password_hash=request.password_hash,
                ),
                start_to_close_timeout=DB_TIMEOUT,
                retry_policy=DB_RETRY,
            )
        finally:
            self._completing = False
        if result.reset:
            self._completed = True
        return CompleteResetResult(reset=result.reset)

    @complete.validator
    def _validate_complete(self, request: CompleteResetRequest) -> None:
        if self._status.state != "awaiting_reset" or self._completing or self._completed:
            raise ValueError("This password reset is not awaiting completion.")
        # Only the current token: an old or wrong one is refused here, never counted or stored.
        if request.token_hash != self._token_hash:
            raise ValueError("Not the current token.")
        if not request.password_hash.startswith("$argon2"):
            raise ValueError("Malformed password hash.")

    @workflow.query(name="status")
    def status(self) -> PasswordResetStatus:
        return self._status
