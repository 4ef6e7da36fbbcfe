"""The API's one way to talk to workflows: start, signal, update, describe.

It knows no process: what to start is a `StartSpec` (workflows/starts.py), what to signal or
update is a workflow id and a message. The client is made once per process.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any, Generic, TypeVar

from temporalio.client import (
    Client,
    RPCTimeoutOrCancelledError,
    WithStartWorkflowOperation,
    WorkflowExecutionDescription,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
    WorkflowUpdateFailedError,
)
from temporalio.service import RPCError, RPCStatusCode

from domain.config import Settings
from domain.errors import ServiceUnavailable
from workflows.starts import StartSpec

log = logging.getLogger("cinema.api.temporal")
R = TypeVar("R")

CONNECT_TIMEOUT_SECONDS = 5
RPC_TIMEOUT = timedelta(seconds=10)
# An update waits for the workflow's handler (an activity), so it may take longer than an RPC.
UPDATE_TIMEOUT = timedelta(seconds=30)
# A query needs a worker to answer; without one it waits: answer "unknown" soon instead.
QUERY_TIMEOUT = timedelta(seconds=3)
_UNREACHABLE = (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED)
_NO_RUN = (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION)
# Tries of an update the server dropped because its workflow task failed (see `update`).
UPDATE_ATTEMPTS = 4


def _task_failed(exc: RPCError) -> bool:
    return exc.status == RPCStatusCode.FAILED_PRECONDITION and "workflow task failure" in str(
        exc.message
    )


class TemporalUnavailable(ServiceUnavailable):
    """Temporal could not be reached, or did not answer in time (503)."""

    default_detail = "The workflow service is unavailable; try again shortly."

    def __init__(self, *, sent: bool) -> None:
        super().__init__()
        # False: the call never left this process (no connection), so it had no effect.
        # True: it may have reached the server and taken effect there.
        self.sent = sent


class Refusal(StrEnum):
    REJECTED = "rejected"  # the workflow refused it: its validator said no, or the handler failed
    NO_RUN = "no_run"  # no workflow with that id, or its run has ended


@dataclass(frozen=True)
class UpdateOutcome(Generic[R]):
    """The update's result, or why the workflow did not give one."""

    result: R | None = None
    refused: Refusal | None = None


@asynccontextmanager
async def _rpc() -> AsyncIterator[None]:
    """A call that reached for the server but got no answer is `TemporalUnavailable`."""
    try:
        yield
    except RPCError as exc:
        if exc.status in _UNREACHABLE:
            log.warning("temporal call failed: %s", exc.status.name)
            raise TemporalUnavailable(sent=True) from exc
        raise
    except RPCTimeoutOrCancelledError as exc:  # an update's RPC deadline passed
        log.warning("temporal call timed out: %s", type(exc).__name__)
        raise TemporalUnavailable(sent=True) from exc


class Temporal:
    def __init__(self, settings: Settings, client: Client | None = None) -> None:
        self._settings = settings
        self._client = client
        self._lock = asyncio.Lock()

    async def client(self) -> Client:
        """Connect lazily, so the API starts (and reports not-ready) while Temporal is down."""
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is None:
                try:
                    self._client = await asyncio.wait_for(
                        Client.connect(
                            self._settings.temporal_address,
                            namespace=self._settings.temporal_namespace,
                        ),
                        timeout=CONNECT_TIMEOUT_SECONDS,
                    )
                except (RuntimeError, OSError, TimeoutError) as exc:
                    log.warning(
                        "cannot reach Temporal at %s: %s", self._settings.temporal_address, exc
                    )
                    raise TemporalUnavailable(sent=False) from exc
            return self._client

    async def check_health(self) -> None:
        client = await self.client()
        await client.service_client.check_health(timeout=timedelta(seconds=2))

    async def start(self, spec: StartSpec) -> None:
        """Start the run; if one with that id is running, its conflict policy decides."""
        await self._start(spec)

    async def signal(self, target: str | StartSpec, signal: str, arg: Any) -> bool:
        """Signal the running workflow `target` (an id); False if none is running. Given a
        StartSpec, signal-with-start: the run is started first when none is running."""
        if isinstance(target, StartSpec):
            await self._start(target, start_signal=signal, start_signal_args=[arg])
            return True
        client = await self.client()
        try:
            async with _rpc():
                await client.get_workflow_handle(target).signal(
                    signal, arg, rpc_timeout=RPC_TIMEOUT
                )
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return False
            raise
        return True

    async def update(
        self,
        target: str | StartSpec,
        update: str,
        arg: Any,
        *,
        result_type: type[R],
        rpc_timeout: timedelta = UPDATE_TIMEOUT,
    ) -> UpdateOutcome[R]:
        """Send an update to the workflow `target` (an id) and wait for its result. Given a
        StartSpec, update-with-start: the run is started first when none is running (its
        `id_conflict_policy` must then be USE_EXISTING to reach a running one).

        The server drops an update whose workflow task failed (e.g. a signal arrived while the
        task completed the run: "unhandled command") and tells the caller so. The update is
        sent again under the same id, which the server deduplicates: one update, one result."""
        client = await self.client()
        update_id = str(uuid.uuid4())
        for attempt in range(1, UPDATE_ATTEMPTS + 1):
            try:
                async with _rpc():
                    if isinstance(target, StartSpec):
                        result = await client.execute_update_with_start_workflow(
                            update,
                            arg,
                            id=update_id,
                            start_workflow_operation=self._with_start(target),
                            result_type=result_type,
                            rpc_timeout=rpc_timeout,
                        )
                    else:
                        result = await client.get_workflow_handle(target).execute_update(
                            update,
                            arg,
                            id=update_id,
                            result_type=result_type,
                            rpc_timeout=rpc_timeout,
                        )
            except WorkflowUpdateFailedError:
                return UpdateOutcome(refused=Refusal.REJECTED)
            except RPCError as exc:
                if _task_failed(exc) and attempt < UPDATE_ATTEMPTS:
                    log.info("update %s lost to a failed workflow task; sending it again", update)
                    await asyncio.sleep(0.05 * attempt)
                    continue
                if exc.status in _NO_RUN:
                    return UpdateOutcome(refused=Refusal.NO_RUN)
                raise
            return UpdateOutcome(result=result)
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def describe(self, workflow_id: str) -> WorkflowExecutionDescription | None:
        """The latest run with this id (running or not), or None if there never was one."""
        client = await self.client()
        try:
            async with _rpc():
                return await client.get_workflow_handle(workflow_id).describe(
                    rpc_timeout=RPC_TIMEOUT
                )
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return None
            raise

    async def query(self, workflow_id: str, query: str, *, run_id: str | None = None) -> Any:
        """The run's answer to `query` (JSON-decoded), or None when it cannot answer now (no
        worker polling, the query failed or was rejected)."""
        client = await self.client()
        handle = client.get_workflow_handle(workflow_id, run_id=run_id)
        try:
            return await handle.query(query, rpc_timeout=QUERY_TIMEOUT)
        except (
            WorkflowQueryFailedError,
            WorkflowQueryRejectedError,
            RPCError,
            RPCTimeoutOrCancelledError,
        ) as exc:
            log.warning("query %s of a run failed: %s", query, type(exc).__name__)
            return None

    def _start_options(self, spec: StartSpec) -> dict[str, Any]:
        """What a start and an update-with-start both say about the run to start."""
        return {
            "args": [spec.input],
            "id": spec.id,
            "task_queue": self._settings.temporal_task_queue,
            "id_reuse_policy": spec.id_reuse_policy,
            "id_conflict_policy": spec.id_conflict_policy,
            "search_attributes": spec.search_attributes,
            "static_summary": spec.summary,
        }

    async def _start(
        self,
        spec: StartSpec,
        start_signal: str | None = None,
        start_signal_args: Sequence[Any] = (),
    ) -> None:
        client = await self.client()
        async with _rpc():
            await client.start_workflow(
                spec.workflow,
                **self._start_options(spec),
                start_signal=start_signal,
                start_signal_args=start_signal_args,
                rpc_timeout=RPC_TIMEOUT,
            )

    def _with_start(self, spec: StartSpec) -> WithStartWorkflowOperation[Any, Any]:
        return WithStartWorkflowOperation(spec.workflow, **self._start_options(spec))
