"""domain/ast_lock.py: with it, threads parsing at once no longer fail (CPython 3.11 bug
python/cpython#106905). Without it the same load fails, almost always within a tenth of a
second (`python tests/domain/ast_stress.py 15` prints 1): the stress run below then fails too."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

STRESS = Path(__file__).with_name("ast_stress.py")


def _failures(seconds: float, *extra: str) -> int:
    done = subprocess.run(
        [sys.executable, str(STRESS), str(seconds), *extra],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    )
    return int(done.stdout.strip())


@pytest.mark.skipif(sys.version_info >= (3, 13), reason="fixed in CPython 3.13")
def test_parsing_in_several_threads_does_not_fail_with_the_lock() -> None:
    assert _failures(3, "locked") == 0


@pytest.mark.skipif(sys.version_info >= (3, 13), reason="fixed in CPython 3.13")
def test_a_parse_run_by_a_finalizer_inside_a_parse_does_not_break_it() -> None:
    """A finalizer that parses (a logged traceback) during a parse in the same thread: the
    lock lets it in, so only keeping the collector out of the parse prevents the failure (seen
    in CI at a fixture's `create_app`). Without `gc.disable()` in the lock this prints 1."""
    assert _failures(3, "locked", "nested") == 0
