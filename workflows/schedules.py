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
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from workflows.cleanup import TokenCleanupWorkflow
from workflows.messages import CleanupInput

TOKEN_CLEANUP_SCHEDULE_ID = "cleanup-expired-tokens"


def token_cleanup_schedule(task_queue: str, interval_seconds: int) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            TokenCleanupWorkflow.run,
            CleanupInput(),
            id="cleanup-expired-tokens",
            task_queue=task_queue,
            execution_timeout=timedelta(minutes=30),
        ),
        spec=ScheduleSpec(
            intervals=[ScheduleIntervalSpec(every=timedelta(seconds=interval_seconds))]
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def upsert_schedules(client: Client, task_queue: str, cleanup_interval_seconds: int) -> None:
    schedule = token_cleanup_schedule(task_queue, cleanup_interval_seconds)
    try:
        await client.create_schedule(TOKEN_CLEANUP_SCHEDULE_ID, schedule)
    except ScheduleAlreadyRunningError:

        def replace(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(TOKEN_CLEANUP_SCHEDULE_ID).update(replace)
