"""The workflow sandbox, minus two costs that guard nothing.

Temporal's `SandboxedWorkflowRunner` (temporalio 1.35) enters a run's sandbox by `exec` of a
source string, and Python compiles that string again on every call. It does so for every
activation, and also to look up a serialization context, twice per payload sequence for each
of the six passes over an activation and its completion (decode and encode, external storage,
references), although that look-up only reads the run's own pending-command tables and runs
no workflow code. Under checkout load this was about a fifth of the worker's CPU (py-spy:
`_Instance._run_code` and `get_serialization_context`, docs/benchmarks.md).

`Sandbox` keeps the sandbox whole: every run is still imported afresh through the restricting
importer, and every activation, where workflow code runs, still runs inside it. It changes
two things only:

- the snippets are compiled once and the code object is executed (`exec` takes either);
- the context look-ups call the sandboxed instance's method directly instead of through a
  compiled snippet with the importer applied (they import nothing and touch no restricted
  module; their answer is the same object either way).

It builds on the SDK's private `_Instance`: the SDK version is pinned in requirements, and
`tests/workflows/test_worker_sandbox.py` fails if an upgrade changes what this relies on.
"""

from __future__ import annotations

from functools import lru_cache
from types import CodeType
from typing import Any

from temporalio.converter import SerializationContext
from temporalio.converter._extstore import StorageDriverStoreContext
from temporalio.worker import WorkflowInstance, WorkflowInstanceDetails
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner
from temporalio.worker.workflow_sandbox._runner import _Instance

IN_SANDBOX = "__temporal_in_sandbox"  # the SDK's name for the sandboxed instance's handle


@lru_cache(maxsize=128)
def _compiled(code: str) -> CodeType:
    # A handful of distinct snippets (one per workflow class for the import): bounded.
    return compile(code, "<string>", "exec")


class _CompiledOnceInstance(_Instance):
    def _run_code(self, code: str, **extra_globals: Any) -> None:
        super()._run_code(_compiled(code), **extra_globals)  # type: ignore[arg-type]

    def get_serialization_context(self, command_info: Any) -> SerializationContext | None:
        in_sandbox: Any = self.globals_and_locals[IN_SANDBOX]
        result: SerializationContext | None = in_sandbox.get_serialization_context(command_info)
        return result

    def get_external_store_context(self, command_info: Any) -> StorageDriverStoreContext:
        in_sandbox: Any = self.globals_and_locals[IN_SANDBOX]
        result: StorageDriverStoreContext = in_sandbox.get_external_store_context(command_info)
        return result


class Sandbox(SandboxedWorkflowRunner):
    """`SandboxedWorkflowRunner` with its snippets compiled once (see the module docstring)."""

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        return _CompiledOnceInstance(det, self.runner_class, self.restrictions)
