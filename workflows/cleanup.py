"""Scheduled clean-up of expired tokens (run by a Temporal Schedule the worker upserts).

Each token kind is deleted in bounded batches (one short transaction per activity call) until a
batch comes back short or the run's batch budget is spent; the result (the counts) is what an
operator sees as the schedule's last outcome."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.maintenance import MaintenanceActivities
    from workflows.messages import CleanupBatch, CleanupInput, CleanupResult

KINDS = ("refresh", "activation", "password_reset")
# The patch under which runs delete in batches (runs begun before make their one old step).
BATCHED = "batched-cleanup"


@workflow.defn(name="TokenCleanupWorkflow")
class TokenCleanupWorkflow:
    def __init__(self) -> None:
        self._result = CleanupResult()

    @workflow.run
    async def run(self, task: CleanupInput) -> CleanupResult:
        if not workflow.patched(BATCHED):
            # A run the code before batches started (in flight at deploy): its one step.
            result: CleanupResult = await workflow.execute_activity(
                "delete_expired_tokens",
                CleanupInput(),
                result_type=CleanupResult,
                start_to_close_timeout=timedelta(minutes=5),
                retry_policy=RetryPolicy(
                    maximum_interval=timedelta(minutes=1), maximum_attempts=10
                ),
            )
            return result
        for kind in KINDS:
            total = await self._clean(kind, task)
            setattr(self._result, f"{kind}_tokens", total)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._result

    async def _clean(self, kind: str, task: CleanupInput) -> int:
        total = 0
        for _ in range(max(task.max_batches, 1)):
            deleted = await workflow.execute_activity_method(
                MaintenanceActivities.delete_expired_token_batch,
                CleanupBatch(kind=kind, batch_size=max(task.batch_size, 1)),
                start_to_close_timeout=timedelta(minutes=2),
                retry_policy=RetryPolicy(
                    maximum_interval=timedelta(minutes=1), maximum_attempts=10
                ),
                summary=f"delete expired {kind} tokens (batch)",
            )
            total += deleted
            if deleted < task.batch_size:
                break
        return total

    @workflow.query(name="status")
    def status(self) -> CleanupResult:
        """The counts deleted so far (the current kind still counting)."""
        return self._result
