"""The worker's workflow runner (worker_sandbox.Sandbox) is still the sandbox: it refuses
non-deterministic calls, compiles its snippets once, and hands the data converter the same
serialization contexts as the SDK's own runner, for the run and for its activity."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError
from temporalio.converter import (
    ActivitySerializationContext,
    DataConverter,
    PayloadCodec,
    SerializationContext,
    WithSerializationContext,
    WorkflowSerializationContext,
)
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

import worker_sandbox
from tests.conftest import Stack
from tests.workflows.sandbox_probe import SandboxProbe
from tests.workflows.sandbox_probe_activity import echo
from tests.workflows.support import eventually
from worker_sandbox import Sandbox


class RecordingCodec(PayloadCodec, WithSerializationContext):
    """Changes nothing; notes the context of every payload the worker encodes or decodes."""

    def __init__(self, seen: list[str], context: SerializationContext | None = None) -> None:
        self.seen, self.context = seen, context

    def with_context(self, context: SerializationContext) -> RecordingCodec:
        return RecordingCodec(self.seen, context)

    def _note(self) -> None:
        context = self.context
        if isinstance(context, ActivitySerializationContext):
            self.seen.append(f"activity {context.activity_type} local={context.is_local}")
        elif isinstance(context, WorkflowSerializationContext):
            self.seen.append(f"workflow {context.workflow_id}")
        else:
            self.seen.append(f"none {context!r}")

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        self._note()
        return list(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        self._note()
        return list(payloads)


@asynccontextmanager
async def probe_worker(
    stack: Stack, runner: Any, codec: PayloadCodec | None = None
) -> AsyncIterator[tuple[Client, str]]:
    client = stack.client
    if codec is not None:
        config = client.config()
        config["data_converter"] = dataclasses.replace(DataConverter.default, payload_codec=codec)
        client = Client(**config)
    queue = f"test-sandbox-{uuid.uuid4().hex[:8]}"
    async with Worker(
        client,
        task_queue=queue,
        workflows=[SandboxProbe],
        activities=[echo],
        workflow_runner=runner,
    ):
        yield client, queue


async def _probe(client: Client, queue: str, *, read_the_clock: bool = False) -> Any:
    return await client.start_workflow(
        SandboxProbe.run, read_the_clock, id=f"probe-{uuid.uuid4().hex[:8]}", task_queue=queue
    )


async def test_a_clock_read_in_workflow_code_is_refused(stack: Stack) -> None:
    async with probe_worker(stack, Sandbox()) as (client, queue):
        handle = await _probe(client, queue, read_the_clock=True)

        async def task_failed() -> bool:
            history = await handle.fetch_history()
            failed = [
                e.workflow_task_failed_event_attributes.failure.message
                for e in history.events
                if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
            ]
            return any("datetime.datetime.now" in message for message in failed)

        try:
            await eventually(task_failed, timeout=20, what="the workflow task refused")
        finally:
            await handle.terminate("test: done")
        with suppress(WorkflowFailureError):
            await handle.result()


async def test_the_sandbox_snippets_are_compiled_once(stack: Stack) -> None:
    async with probe_worker(stack, Sandbox()) as (client, queue):
        before = worker_sandbox._compiled.cache_info()
        handles = [await _probe(client, queue) for _ in range(3)]
        results = await asyncio.gather(*(h.result() for h in handles))
        assert results == [h.id for h in handles]
        after = worker_sandbox._compiled.cache_info()
    # Three runs, each imported and activated: every snippet but a new one came from the cache.
    assert after.hits - before.hits >= 6
    assert after.misses - before.misses <= 3  # this workflow's import snippet, at most


async def test_serialization_contexts_are_those_of_the_sdk_runner(stack: Stack) -> None:
    seen: dict[str, list[str]] = {}
    for name, runner in (("sdk", SandboxedWorkflowRunner()), ("ours", Sandbox())):
        notes: list[str] = []
        async with probe_worker(stack, runner, RecordingCodec(notes)) as (client, queue):
            handle = await _probe(client, queue)
            assert await handle.result() == handle.id
        seen[name] = [note.replace(handle.id, "<run>") for note in notes]
    assert seen["ours"] == seen["sdk"]
    assert "workflow <run>" in seen["ours"]
    assert "activity sandbox_probe_echo local=True" in seen["ours"]
