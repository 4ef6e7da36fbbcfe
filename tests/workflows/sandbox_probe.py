"""A workflow for tests/workflows/test_worker_sandbox.py: imported by the sandbox like ours."""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from tests.workflows.sandbox_probe_activity import echo


@workflow.defn(name="SandboxProbe")
class SandboxProbe:
    @workflow.run
    async def run(self, read_the_clock: bool) -> str:
        if read_the_clock:
            # Not deterministic: the sandbox must refuse it, failing the workflow task.
            return datetime.now().isoformat()
        echoed: str = await workflow.execute_local_activity(
            echo, workflow.info().workflow_id, start_to_close_timeout=timedelta(seconds=10)
        )
        return echoed
