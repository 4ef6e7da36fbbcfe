"""One `ast.parse` at a time per process: a workaround for a CPython 3.11 bug.

CPython 3.11 keeps the AST constructor's recursion counter in state shared by every thread
(python/cpython#106905). Two threads in `ast.parse` at once, one of them switched out mid-way (a
garbage collection running a finalizer is enough), make one of them fail with `SystemError: AST
constructor recursion depth mismatch`. Python 3.11 parses source more often than one would think:
every traceback it formats calls `ast.parse` for the `^^^^` markers. In the worker, the Temporal
SDK formats a workflow exception's stack in its activation threads while the event loop's
thread may be formatting another (a logged activity error), and in the test process Werkzeug
also parses each route it compiles. Seen in the suite as a fixture failing in `create_app`, and
reproduced with two threads and a finalizer-heavy heap; with `install()` the same reproduction
runs clean. Each parse is short, so the lock costs nothing measurable.
"""

from __future__ import annotations

import ast
import functools
import gc
import sys
import threading
from typing import Any

_lock = threading.RLock()


def install() -> None:
    """Wrap `ast.parse` in a process-wide lock (idempotent; nothing to do from 3.13 on, where
    the counter lives in each call's own state)."""
    if sys.version_info >= (3, 13) or getattr(ast.parse, "_cinema_locked", False):
        return
    original = ast.parse

    @functools.wraps(original)
    def parse(*args: Any, **kwargs: Any) -> Any:
        with _lock:
            # No garbage collection mid-parse: a finalizer it runs can parse too, in this very
            # thread (asyncio's "Future exception was never retrieved" formats a traceback,
            # whose carets 3.11 finds with ast.parse). The lock lets that nested parse in, and
            # it breaks the outer one the same way (seen in CI). Each parse is short.
            collecting = gc.isenabled()
            gc.disable()
            try:
                return original(*args, **kwargs)
            finally:
                if collecting:
                    gc.enable()

    parse._cinema_locked = True  # type: ignore[attr-defined]
    ast.parse = parse
