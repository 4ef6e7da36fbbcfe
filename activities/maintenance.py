"""Housekeeping activities."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.accounts import repository as repo
from domain.db import SessionFactory, transaction
from workflows.messages import CleanupBatch, CleanupInput, CleanupResult

_OLD_BATCH = 1000


class MaintenanceActivities:
    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    @activity.defn(name="delete_expired_token_batch")
    async def delete_expired_token_batch(self, batch: CleanupBatch) -> int:
        """Delete one bounded batch of expired tokens of one kind, in its own short transaction.
        Revoked refresh tokens stay until they expire, so a replay of a rotated token is still
        recognised (and revokes its family) until then."""
        if batch.kind not in repo.EXPIRING_TOKEN_TABLES or batch.batch_size < 1:
            raise ApplicationError(f"bad clean-up batch {batch}", non_retryable=True)
        async with transaction(self._sessions) as session:
            deleted = await repo.delete_expired_token_batch(session, batch.kind, batch.batch_size)
        activity.logger.info("deleted %d expired %s tokens", deleted, batch.kind)
        return deleted

    @activity.defn(name="delete_expired_tokens")
    async def delete_expired_tokens(self, _: CleanupInput) -> CleanupResult:
        """The one step of a clean-up run started before batches (kept for runs in flight when
        the batched workflow was deployed): every expired token, batch after batch."""
        counts = {}
        for kind in repo.EXPIRING_TOKEN_TABLES:
            counts[kind] = 0
            while True:
                async with transaction(self._sessions) as session:
                    deleted = await repo.delete_expired_token_batch(session, kind, _OLD_BATCH)
                counts[kind] += deleted
                if deleted < _OLD_BATCH:
                    break
        return CleanupResult(**{f"{kind}_tokens": n for kind, n in counts.items()})

    def all(self) -> list[object]:
        return [self.delete_expired_token_batch, self.delete_expired_tokens]
