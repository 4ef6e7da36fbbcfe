"""Housekeeping activities."""

from __future__ import annotations

from temporalio import activity

from domain.accounts import repository as repo
from domain.db import SessionFactory, transaction
from workflows.messages import CleanupInput, CleanupResult


class MaintenanceActivities:
    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    @activity.defn(name="delete_expired_tokens")
    async def delete_expired_tokens(self, _: CleanupInput) -> CleanupResult:
        """Delete tokens past their expiry. Revoked refresh tokens stay until they expire, so a
        replay of a rotated token is still recognised (and revokes its family) until then."""
        async with transaction(self._sessions) as session:
            result = CleanupResult(
                refresh_tokens=await repo.delete_expired_refresh_tokens(session),
                activation_tokens=await repo.delete_expired_activation_tokens(session),
                password_reset_tokens=await repo.delete_expired_password_reset_tokens(session),
            )
        activity.logger.info("deleted expired tokens: %s", result)
        return result

    def all(self) -> list[object]:
        return [self.delete_expired_tokens]
