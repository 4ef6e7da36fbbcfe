"""The terminal of `python -m devstack up`: every line prefixed with its source, in colour.

Children's output (`pump`), log records (`ConsoleHandler`) and new mail in the maildir
(`watch_mail`) all go through the one thread-safe `console`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import IO, TextIO

__all__ = ["Console", "ConsoleHandler", "console", "pump", "watch_mail"]

_COLORS = {
    "devstack": "1;36",
    "migrate": "35",
    "api": "32",
    "worker": "33",
    "mail": "34",
    "error": "1;31",
}


class Console:
    """Thread-safe line output with a coloured `[name]` prefix."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.color = stream.isatty() and "NO_COLOR" not in os.environ
        self._lock = threading.Lock()
        self.width = max(len(name) for name in _COLORS)

    def prefix(self, name: str) -> str:
        label = f"{name:>{self.width}} |"
        if self.color:
            return f"\033[{_COLORS.get(name, '0')}m{label}\033[0m "
        return label + " "

    def line(self, name: str, text: str) -> None:
        with self._lock:
            self.stream.write(self.prefix(name) + text.rstrip("\n") + "\n")
            self.stream.flush()

    def say(self, text: str) -> None:
        for part in text.splitlines() or [""]:
            self.line("devstack", part)

    def error(self, text: str) -> None:
        for part in text.splitlines() or [""]:
            self.line("error", part)

    def table(self, title: str, rows: list[tuple[str, str]]) -> None:
        """A titled two-column block between rules (the dev stack's banner)."""
        width = max(len(k) for k, _ in rows)
        rule = "-" * 72
        lines = [rule, title, rule, *(f"  {k:<{width}}  {v}" for k, v in rows), rule]
        self.say("\n".join(lines))


console = Console(sys.stdout)


class ConsoleHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        (console.error if record.levelno >= logging.ERROR else console.say)(self.format(record))


def pump(stream: IO[bytes], name: str, log_path: Path) -> None:
    """Copy a child's output to the console (prefixed) and to its log file."""
    with log_path.open("ab") as log_file:
        for raw in iter(stream.readline, b""):
            log_file.write(raw)
            log_file.flush()
            console.line(name, raw.decode(errors="replace"))


def watch_mail(maildir: Path) -> None:
    """Print a line for every new .eml file in `maildir` (a daemon thread polling each second)."""
    seen = {p.name for p in maildir.glob("*.eml")}
    parser = BytesParser(policy=policy.default)

    def loop() -> None:
        while True:
            time.sleep(1)
            for path in sorted(maildir.glob("*.eml")):
                if path.name in seen:
                    continue
                seen.add(path.name)
                with contextlib.suppress(OSError), path.open("rb") as fp:
                    headers = parser.parse(fp, headersonly=True)
                    console.line("mail", f"to {headers['To']}: {headers['Subject']!s}  -> {path}")

    threading.Thread(target=loop, name="mail-watch", daemon=True).start()
