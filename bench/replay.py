"""CPU per workflow run of the worker's workflow runner against the SDK's own sandbox (and no
sandbox at all, for reference), measured by replaying one recorded history many times in this
process (no server, no I/O).

    .venv/bin/python -m bench.replay                       # the paid checkout, 200 runs, 3 rounds
    .venv/bin/python -m bench.replay --runs 500 tests/workflows/histories/refund_succeeded.json

Rounds alternate the runners, so a machine whose speed drifts favours neither; the
figure is process CPU time per replayed run (importing the run's modules into the sandbox,
every activation, and the payload passes over each).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from worker import WORKFLOWS, cache_workflow_bytecode
from worker_sandbox import Sandbox

PAID_CHECKOUT = Path("tests/workflows/histories/checkout_paid.json")


async def cpu_ms_per_run(runner: WorkflowRunner, history: WorkflowHistory, runs: int) -> float:
    async def histories() -> AsyncIterator[WorkflowHistory]:
        for n in range(runs):
            yield WorkflowHistory(f"{history.workflow_id}-{n}", history.events)

    replayer = Replayer(workflows=list(WORKFLOWS), workflow_runner=runner)
    started = time.process_time()
    results = await replayer.replay_workflows(histories(), raise_on_replay_failure=False)
    spent = time.process_time() - started
    if results.replay_failures:
        raise SystemExit(f"replay failed: {next(iter(results.replay_failures.values()))}")
    return spent / runs * 1000


async def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.replay", description=__doc__)
    parser.add_argument("history", nargs="?", type=Path, default=PAID_CHECKOUT)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    history = WorkflowHistory.from_json("replayed", args.history.read_text())
    runners: dict[str, WorkflowRunner] = {
        "SDK SandboxedWorkflowRunner": SandboxedWorkflowRunner(),
        "worker_sandbox.Sandbox": Sandbox(),
        "no sandbox (reference)": UnsandboxedWorkflowRunner(),
    }
    for runner in runners.values():  # warm-up: first imports, caches
        await cpu_ms_per_run(runner, history, 20)
    for _ in range(args.rounds):
        row = [
            f"{name} {await cpu_ms_per_run(runner, history, args.runs):.2f} ms/run"
            for name, runner in runners.items()
        ]
        print("   ".join(row), flush=True)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="bench-replay-bytecode-") as bytecode:
        cache_workflow_bytecode(Path(bytecode))  # as the worker does
        asyncio.run(main())
