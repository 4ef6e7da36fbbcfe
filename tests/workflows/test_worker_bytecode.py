"""The worker compiles the workflow modules once, so the sandbox's import of a workflow's module
for each new run reads bytecode instead of compiling the source again."""

from __future__ import annotations

import importlib.machinery
import sys
from pathlib import Path
from typing import Any

import pytest

import workflows.checkout
from worker import cache_workflow_bytecode


def test_the_sandbox_import_of_a_workflow_module_reads_bytecode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # as in the image and on CI
    monkeypatch.setattr(sys, "pycache_prefix", None)
    source = str(Path(workflows.checkout.__file__))
    loader = importlib.machinery.SourceFileLoader("workflows.checkout", source)

    def compiles(*_: Any, **__: Any) -> Any:
        raise AssertionError("the module's source was compiled again")

    cache_workflow_bytecode(tmp_path)
    monkeypatch.setattr(loader, "source_to_code", compiles)
    code = loader.get_code("workflows.checkout")  # what every import of the module runs
    assert code is not None and code.co_filename == source
    assert any(tmp_path.rglob("checkout.*.pyc"))
