"""Password-reset activities: each is one transaction of idempotent SQL."""

from __future__ import annotations

from redis.asyncio import Redis
from temporalio import activity

from domain.accounts import password_reset as resets
from domain.db import SessionFactory, transaction
from domain.security import OneTimeTokens
from workflows.password_reset_messages import (
    InvalidatePasswordResetToken,
    IssuePasswordResetToken,
    IssuePasswordResetTokenResult,
    ResetPassword,
    ResetPasswordResult,
)

PASSWORD_RESET = "password-reset"  # the one-time token's purpose (never rename: links in flight)


class PasswordResetActivities:
    def __init__(
        self,
        sessions: SessionFactory,
        one_time_tokens: OneTimeTokens,
        redis: Redis,
        access_ttl_seconds: int,
    ) -> None:
        self._sessions = sessions
        self._tokens = one_time_tokens
        self._redis = redis
        self._access_ttl_seconds = access_ttl_seconds

    @activity.defn(name="issue_password_reset_token")
    async def issue_password_reset_token(
        self, data: IssuePasswordResetToken
    ) -> IssuePasswordResetTokenResult:
        token_hash = self._tokens.hash(
            self._tokens.derive(PASSWORD_RESET, data.user_id, data.nonce)
        )
        async with transaction(self._sessions) as session:
            # Idempotent: the same nonce derives the same token, so a retry rewrites the same row.
            issued = await resets.store_token(session, data.user_id, token_hash, data.expires_at)
        if not issued:
            return IssuePasswordResetTokenResult(eligible=False)
        return IssuePasswordResetTokenResult(eligible=True, token_hash=token_hash)

    @activity.defn(name="reset_password")
    async def reset_password(self, data: ResetPassword) -> ResetPasswordResult:
        async with transaction(self._sessions) as session:
            reset = await resets.consume_token_and_set_password(
                session,
                self._redis,
                self._access_ttl_seconds,
                data.user_id,
                data.token_hash,
                data.password_hash,
            )
        activity.logger.info("password reset of user %s: %s", data.user_id, reset)
        return ResetPasswordResult(reset=reset)

    @activity.defn(name="invalidate_password_reset_token")
    async def invalidate_password_reset_token(self, data: InvalidatePasswordResetToken) -> None:
        async with transaction(self._sessions) as session:
            await resets.delete_token(session, data.user_id)

    def all(self) -> list[object]:
        return [
            self.issue_password_reset_token,
            self.reset_password,
            self.invalidate_password_reset_token,
        ]
