"""Temporal Schedules the worker upserts at start: created when missing, updated otherwise."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from workflows.cleanup import TokenCleanupWorkflow
from workflows.messages import CleanupInput

# The id operators find in the Temporal UI (README). The worker takes it from the settings
# (TOKEN_CLEANUP_SCHEDULE_ID), whose default is this; tests pass ids of their own, so a suite run
# against a developer's Temporal never overwrites or deletes the real schedule.
TOKEN_CLEANUP_SCHEDULE_ID = "cleanup-expired-tokens"

TOKEN_CLEANUP_NOTE = (
    "Deletes expired activation, password-reset and refresh tokens in bounded batches. "
    "Upserted by the worker at start (workflows/schedules.py); each run's result holds the "
    "counts deleted per kind."
)


def token_cleanup_schedule(
    task_queue: str, interval_seconds: int, schedule_id: str, batch_size: int = 1000
) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            TokenCleanupWorkflow.run,
            CleanupInput(batch_size=batch_size),
            static_summary="Scheduled clean-up of expired tokens",
            static_details=(
                f"Batches of {batch_size} rows per token kind; the result lists the counts."
            ),
            # Temporal appends the scheduled time to this id for each run.
            id=schedule_id,
            task_queue=task_queue,
            execution_timeout=timedelta(minutes=30),
        ),
        spec=ScheduleSpec(
            intervals=[ScheduleIntervalSpec(every=timedelta(seconds=interval_seconds))]
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
        state=ScheduleState(note=TOKEN_CLEANUP_NOTE),
    )


async def upsert_schedules(
    client: Client,
    task_queue: str,
    cleanup_interval_seconds: int,
    *,
    cleanup_schedule_id: str,
    cleanup_batch_size: int = 1000,
) -> None:
    """Create the clean-up schedule `cleanup_schedule_id`, or replace its spec, action and note."""
    schedule = token_cleanup_schedule(
        task_queue, cleanup_interval_seconds, cleanup_schedule_id, cleanup_batch_size
    )
    try:
        await client.create_schedule(cleanup_schedule_id, schedule)
    except ScheduleAlreadyRunningError:

        def replace(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(cleanup_schedule_id).update(replace)
