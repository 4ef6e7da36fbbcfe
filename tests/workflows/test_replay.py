"""Every recorded history replays against today's workflow code.

A change that would break a running workflow (a reordered step, a renamed activity, a branch
without a `workflow.patched` guard) fails here. Refresh the recordings on purpose with
`RECORD_HISTORIES=1 make test`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from tests.workflows.support import HISTORIES
from worker import WORKFLOWS
from worker_sandbox import Sandbox

RECORDED = sorted(HISTORIES.glob("*.json"))


@pytest.mark.parametrize("path", RECORDED, ids=lambda p: p.stem)
async def test_replay_recorded_history(path: Path) -> None:
    history = WorkflowHistory.from_json("recorded", path.read_text())
    await Replayer(workflows=list(WORKFLOWS), workflow_runner=Sandbox()).replay_workflow(history)


def test_every_workflow_type_has_a_recorded_history() -> None:
    recorded = {
        WorkflowHistory.from_json("recorded", path.read_text())
        .events[0]
        .workflow_execution_started_event_attributes.workflow_type.name
        for path in RECORDED
    }
    registered = {getattr(wf, "__temporal_workflow_definition").name for wf in WORKFLOWS}
    assert registered <= recorded, f"no recorded history for {sorted(registered - recorded)}"
