"""Run as a script: threads parsing at once, with finalizers switching threads mid-parse; prints
how many parses failed with CPython 3.11's `AST constructor recursion depth mismatch`.

    python tests/domain/ast_stress.py SECONDS [locked] [nested]

Stops at the first failure (it only has to show one). `locked` installs domain/ast_lock first.
`nested`: one thread, whose finalizers parse too (as asyncio's "Future exception was never
retrieved" does when it formats a traceback), so a parse runs inside a parse.
"""

from __future__ import annotations

import ast
import sys
import threading
from pathlib import Path

NESTED = "nested" in sys.argv[2:]


class _Finalized:
    def __del__(self) -> None:
        sum(range(30))  # Python code run by the garbage collector: a chance to switch threads
        if NESTED:
            ast.parse("y = 1 + 2\n" * 5)


def _garbage() -> None:
    for _ in range(100):
        a, b = _Finalized(), _Finalized()
        a.other, b.other = b, a  # type: ignore[attr-defined]


def _at_depth(depth: int) -> None:
    if depth:
        _at_depth(depth - 1)
    else:
        ast.parse("x = (a + b) * c[d]\n" * 20)


def main() -> None:
    seconds = float(sys.argv[1])
    if "locked" in sys.argv[2:]:
        sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
        from domain import ast_lock

        ast_lock.install()
    failures: list[str] = []
    stop = threading.Event()

    def parse_in_a_loop(depth: int) -> None:
        while not stop.is_set():
            _garbage()
            try:
                _at_depth(depth)
            except SystemError as exc:
                failures.append(str(exc))
                stop.set()

    sys.setswitchinterval(1e-5)
    depths = (5,) if NESTED else (5, 15, 25, 35, 45, 65)
    threads = [threading.Thread(target=parse_in_a_loop, args=(d,)) for d in depths]
    for thread in threads:
        thread.start()
    stop.wait(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    print(len(failures))


if __name__ == "__main__":
    main()
