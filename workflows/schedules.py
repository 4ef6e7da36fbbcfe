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
from workflows.reconcile import CheckoutReconcileWorkflow
from workflows.reconcile_messages import ReconcileInput

# The id operators find in the Temporal UI (README). The worker takes it from the settings
# (TOKEN_CLEANUP_SCHEDULE_ID), whose default is this; tests pass ids of their own, so a suite run
# against a developer's Temporal never overwrites or deletes the real schedule.
TOKEN_CLEANUP_SCHEDULE_ID = "cleanup-expired-tokens"

TOKEN_CLEANUP_NOTE = (
    "Deletes expired activation, password-reset and refresh tokens in bounded batches. "
    "Upserted by the worker at start (workflows/schedules.py); each run's result holds the "
    "counts deleted per kind."
)

RECONCILE_SCHEDULE_ID = "reconcile-checkouts"

RECONCILE_NOTE = (
    "Looks up checkout sessions of pending orders that are still open in our rows at Stripe; a "
    "paid one whose webhook never came, or an expired one, is handed to the order's checkout "
    "run as the webhook would. Upserted by the worker at start (workflows/schedules.py); each "
    "run's result holds the counts (checked, recorded_paid, cancelled_expired, still_open)."
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


def reconcile_schedule(
    task_queue: str,
    interval_seconds: int,
    schedule_id: str,
    min_age_seconds: int = 600,
    batch_size: int = 100,
) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            CheckoutReconcileWorkflow.run,
            ReconcileInput(min_age_seconds=min_age_seconds, batch_size=batch_size),
            static_summary="Scheduled reconciliation of open checkouts with Stripe",
            static_details=(
                f"Up to {batch_size} open sessions older than {min_age_seconds} s per run; "
                "the result lists the counts."
            ),
            id=schedule_id,
            task_queue=task_queue,
            execution_timeout=timedelta(minutes=30),
        ),
        spec=ScheduleSpec(
            intervals=[ScheduleIntervalSpec(every=timedelta(seconds=interval_seconds))]
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
        state=ScheduleState(note=RECONCILE_NOTE),
    )


async def _upsert(client: Client, schedule_id: str, schedule: Schedule) -> None:
    """Create the schedule, or replace its spec, action and note."""
    try:
        await client.create_schedule(schedule_id, schedule)
    except ScheduleAlreadyRunningError:

        def replace(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(schedule_id).update(replace)


async def upsert_schedules(
    client: Client,
    task_queue: str,
    cleanup_interval_seconds: int,
    *,
    cleanup_schedule_id: str,
    cleanup_batch_size: int = 1000,
    reconcile_schedule_id: str | None = None,
    reconcile_interval_seconds: int = 300,
    reconcile_min_age_seconds: int = 600,
    reconcile_batch_size: int = 100,
) -> None:
    """Upsert the clean-up schedule `cleanup_schedule_id` and, when an id is given, the checkout
    reconciliation schedule `reconcile_schedule_id` (the worker always gives both)."""
    await _upsert(
        client,
        cleanup_schedule_id,
        token_cleanup_schedule(
            task_queue, cleanup_interval_seconds, cleanup_schedule_id, cleanup_batch_size
        ),
    )
    if reconcile_schedule_id is not None:
        await _upsert(
            client,
            reconcile_schedule_id,
            reconcile_schedule(
                task_queue,
                reconcile_interval_seconds,
                reconcile_schedule_id,
                reconcile_min_age_seconds,
                reconcile_batch_size,
            ),
        )
