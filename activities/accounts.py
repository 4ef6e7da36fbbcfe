"""Account activities: each is one transaction of idempotent SQL, or one email."""

from __future__ import annotations

from datetime import datetime

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.mail import deliver
from activities.password_reset import PASSWORD_RESET
from domain.accounts import repository as repo
from domain.db import SessionFactory, transaction
from domain.email.mailer import Mailer
from domain.email.render import SUBJECTS, EmailRenderer, build_message
from domain.security import OneTimeTokens
from workflows.messages import (
    ActivateAccount,
    ActivateAccountResult,
    InvalidateActivationToken,
    IssueActivationToken,
    IssueActivationTokenResult,
    SendAccountEmail,
)

ACTIVATION = "activation"
PASSWORD_RESET_TEMPLATE = "password_reset"


def _user_not_found(user_id: int) -> ApplicationError:
    return ApplicationError(
        f"user {user_id} does not exist", type="UserNotFound", non_retryable=True
    )


def _format_expiry(expires_at: datetime) -> str:
    return expires_at.strftime("%Y-%m-%d %H:%M UTC")


class AccountActivities:
    def __init__(
        self,
        sessions: SessionFactory,
        mailer: Mailer,
        renderer: EmailRenderer,
        one_time_tokens: OneTimeTokens,
        email_from: str,
    ) -> None:
        self._sessions = sessions
        self._mailer = mailer
        self._renderer = renderer
        self._tokens = one_time_tokens
        self._from = email_from

    @activity.defn(name="issue_activation_token")
    async def issue_activation_token(
        self, data: IssueActivationToken
    ) -> IssueActivationTokenResult:
        token = self._tokens.derive(ACTIVATION, data.user_id, data.nonce)
        async with transaction(self._sessions) as session:
            active = await repo.is_user_active(session, data.user_id)
            if active is None:
                raise _user_not_found(data.user_id)
            if active:
                return IssueActivationTokenResult(already_active=True)
            # Idempotent: the same nonce derives the same token, so a retry rewrites the same row.
            await repo.store_activation_token(
                session, data.user_id, self._tokens.hash(token), data.expires_at
            )
        return IssueActivationTokenResult(already_active=False)

    @activity.defn(name="send_account_email")
    async def send_account_email(self, data: SendAccountEmail) -> None:
        if data.template not in SUBJECTS:
            raise ApplicationError(
                f"unknown template {data.template!r}", type="UnknownTemplate", non_retryable=True
            )
        async with transaction(self._sessions) as session:
            user = await repo.get_user(session, data.user_id)
        if user is None:
            raise _user_not_found(data.user_id)
        context: dict[str, object] = {"is_active": user.is_active}
        if data.template == ACTIVATION:
            if data.expires_at is None or not data.nonce:
                raise ApplicationError(
                    "activation email needs a nonce and expiry", type="BadInput", non_retryable=True
                )
            token = self._tokens.derive(ACTIVATION, data.user_id, data.nonce)
            context["activation_url"] = self._renderer.link(
                "/accounts/activate/", email=user.email, token=token
            )
            context["expires_at"] = _format_expiry(data.expires_at)
        elif data.template == PASSWORD_RESET_TEMPLATE:
            if data.expires_at is None or not data.nonce:
                raise ApplicationError(
                    "reset email needs a nonce and expiry", type="BadInput", non_retryable=True
                )
            token = self._tokens.derive(PASSWORD_RESET, data.user_id, data.nonce)
            context["reset_url"] = self._renderer.link(
                "/accounts/reset-password/", email=user.email, token=token
            )
            context["expires_at"] = _format_expiry(data.expires_at)
        elif data.template == "activation_confirmation":
            context["login_url"] = self._renderer.link("/")
        rendered = self._renderer.render(data.template, **context)
        await deliver(self._mailer, build_message(rendered, self._from, user.email))
        activity.logger.info("sent %s email to user %s", data.template, data.user_id)

    @activity.defn(name="activate_account")
    async def activate_account(self, data: ActivateAccount) -> ActivateAccountResult:
        async with transaction(self._sessions) as session:
            activated = await repo.consume_activation_token(session, data.user_id, data.token_hash)
        return ActivateAccountResult(activated=activated)

    @activity.defn(name="invalidate_activation_token")
    async def invalidate_activation_token(self, data: InvalidateActivationToken) -> None:
        async with transaction(self._sessions) as session:
            await repo.delete_activation_token(session, data.user_id)

    def all(self) -> list[object]:
        return [
            self.issue_activation_token,
            self.send_account_email,
            self.activate_account,
            self.invalidate_activation_token,
        ]
