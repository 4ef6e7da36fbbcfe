"""Scheduled clean-up of expired tokens (run by a Temporal Schedule the worker upserts)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.maintenance import MaintenanceActivities
    from workflows.messages import CleanupInput, CleanupResult


@workflow.defn(name="TokenCleanupWorkflow")
class TokenCleanupWorkflow:
    @workflow.run
    async def run(self, _: CleanupInput) -> CleanupResult:
        return await workflow.execute_activity_method(
            MaintenanceActivities.delete_expired_tokens,
            CleanupInput(),
            start_to_close_timeout=timedelta(minutes=5),
            retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1), maximum_attempts=10),
        )
