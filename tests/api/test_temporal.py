"""The generic workflow helper (api/temporal.py) against the real Temporal server.

A small workflow of its own, on a task queue of its own, shows every way the API talks to a
process: start, signal (-with-start), update (-with-start) and its refusals, describe.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from temporalio import workflow
from temporalio.client import (
    Client,
    Interceptor,
    OutboundInterceptor,
    StartWorkflowUpdateInput,
    WorkflowExecutionStatus,
    WorkflowUpdateHandle,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from api.temporal import Refusal, Temporal, TemporalUnavailable
from domain.config import Settings
from tests.conftest import Stack
from workflows.ids import USER_ID
from workflows.starts import StartSpec, registration_start


@dataclass
class Amount:
    value: int


@dataclass
class Total:
    value: int


@workflow.defn(name="TestTallyWorkflow")
class TallyWorkflow:
    """Adds up what it is sent until told to finish."""

    @workflow.init
    def __init__(self, start: Amount) -> None:
        self._total = start.value
        self._finished = False

    @workflow.run
    async def run(self, start: Amount) -> Total:
        await workflow.wait_condition(lambda: self._finished)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return Total(self._total)

    @workflow.signal(name="add")
    def add(self, amount: Amount) -> None:
        self._total += amount.value

    @workflow.signal(name="finish")
    def finish(self, _: Amount) -> None:
        self._finished = True

    @workflow.update(name="add_and_tell")
    def add_and_tell(self, amount: Amount) -> Total:
        self._total += amount.value
        return Total(self._total)

    @add_and_tell.validator
    def _only_positive(self, amount: Amount) -> None:
        if amount.value <= 0:
            raise ValueError("Only positive amounts.")


def tally(start: int = 0) -> StartSpec:
    return StartSpec(
        TallyWorkflow.run, Amount(start), id=f"test-tally:{uuid.uuid4().hex}", summary="test"
    )


@pytest.fixture
def settings(stack: Stack) -> Settings:
    return stack.with_overrides(temporal_task_queue=f"test-tally-{uuid.uuid4().hex[:8]}")


@pytest.fixture
async def temporal(stack: Stack, settings: Settings) -> AsyncIterator[Temporal]:
    async with Worker(
        stack.client,
        task_queue=settings.temporal_task_queue,
        workflows=[TallyWorkflow],
        workflow_runner=UnsandboxedWorkflowRunner(),  # a test workflow: no sandbox needed
    ):
        yield Temporal(settings, stack.client)


async def status(temporal: Temporal, workflow_id: str) -> WorkflowExecutionStatus | None:
    described = await temporal.describe(workflow_id)
    return None if described is None else described.status


async def test_start_describe_and_start_again_joins_the_run(temporal: Temporal) -> None:
    spec = tally(1)
    assert await temporal.describe(spec.id) is None
    await temporal.start(spec)
    await temporal.start(spec)  # USE_EXISTING: the same run, not an error and not a second one
    described = await temporal.describe(spec.id)
    assert described is not None and described.status == WorkflowExecutionStatus.RUNNING
    assert await described.static_summary() == "test"
    outcome = await temporal.update(spec.id, "add_and_tell", Amount(2), result_type=Total)
    assert outcome.result == Total(3)


async def test_signal_and_signal_with_start(temporal: Temporal) -> None:
    spec = tally(10)
    assert await temporal.signal(spec.id, "add", Amount(1)) is False  # nothing runs yet
    assert await temporal.signal(spec, "add", Amount(5)) is True  # started, then signalled
    assert await temporal.signal(spec.id, "add", Amount(1)) is True
    outcome = await temporal.update(spec.id, "add_and_tell", Amount(1), result_type=Total)
    assert outcome.result == Total(17)


async def test_update_outcomes(temporal: Temporal) -> None:
    spec = tally()
    missing = await temporal.update(spec.id, "add_and_tell", Amount(1), result_type=Total)
    assert (missing.result, missing.refused) == (None, Refusal.NO_RUN)

    await temporal.start(spec)
    rejected = await temporal.update(spec.id, "add_and_tell", Amount(-1), result_type=Total)
    assert (rejected.result, rejected.refused) == (None, Refusal.REJECTED)
    accepted = await temporal.update(spec.id, "add_and_tell", Amount(4), result_type=Total)
    assert (accepted.result, accepted.refused) == (Total(4), None)

    await temporal.signal(spec.id, "finish", Amount(0))
    handle = (await temporal.client()).get_workflow_handle(spec.id, result_type=Total)
    assert await handle.result() == Total(4)
    ended = await temporal.update(spec.id, "add_and_tell", Amount(1), result_type=Total)
    assert (ended.result, ended.refused) == (None, Refusal.NO_RUN)


async def test_update_with_start(temporal: Temporal) -> None:
    spec = tally(100)
    first = await temporal.update(spec, "add_and_tell", Amount(1), result_type=Total)
    assert first.result == Total(101)  # started with 100, then updated
    again = await temporal.update(spec, "add_and_tell", Amount(1), result_type=Total)
    assert again.result == Total(102)  # the running one was updated, not a new one started
    assert await status(temporal, spec.id) == WorkflowExecutionStatus.RUNNING


class _UpdateTimesOut(Interceptor):
    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        class Outbound(OutboundInterceptor):
            async def start_workflow_update(
                self, input: StartWorkflowUpdateInput
            ) -> WorkflowUpdateHandle[Any]:
                raise WorkflowUpdateRPCTimeoutOrCancelledError()

        return Outbound(next)


async def test_calls_that_get_no_answer_are_unavailable(
    temporal: Temporal, stack: Stack, settings: Settings
) -> None:
    spec = tally()
    await temporal.start(spec)
    config = stack.client.config()
    config["interceptors"] = [_UpdateTimesOut()]
    slow = Temporal(settings, Client(**config))
    with pytest.raises(TemporalUnavailable) as caught:
        await slow.update(spec.id, "add_and_tell", Amount(1), result_type=Total)
    assert caught.value.sent is True and caught.value.status == 503

    unreachable = Temporal(settings.model_copy(update={"temporal_address": "127.0.0.1:1"}))
    with pytest.raises(TemporalUnavailable) as caught:
        await unreachable.describe(spec.id)
    assert caught.value.sent is False


async def test_other_rpc_errors_are_not_hidden(temporal: Temporal) -> None:
    with pytest.raises(RPCError) as caught:
        await temporal.signal("", "add", Amount(1))  # an empty id is the caller's mistake
    assert caught.value.status == RPCStatusCode.INVALID_ARGUMENT


async def test_registration_runs_are_findable_by_user_id(
    temporal: Temporal, settings: Settings
) -> None:
    user_id = 10**12 + secrets.randbelow(10**6)  # no real user: nothing serves this task queue
    spec = registration_start(settings, user_id)
    await temporal.start(spec)
    try:
        described = await temporal.describe(f"registration:{user_id}")
        assert described is not None
        assert described.workflow_type == "RegistrationWorkflow"
        assert described.typed_search_attributes.get(USER_ID) == user_id
        summary = await described.static_summary()
        assert summary is not None and str(user_id) in summary
    finally:
        await (await temporal.client()).get_workflow_handle(spec.id).terminate("test over")
