"""Helpers for the lock files in this folder (stdlib only: runs before any venv exists).

Run from the project root as `python requirements/lockfile.py COMMAND`:
    build-requires      print pyproject's [build-system] requires (an input of both locks)
    stamp LOCK...       record pyproject's dependency fingerprint in each lock
    check RUNTIME DEV   exit 1 if a lock no longer matches pyproject.toml, or the runtime lock
                        pins a version the dev lock (what the tests ran) does not
    pip-at-least X.Y    exit 1 if this interpreter's pip is older
    prune LOCK...       uninstall what no lock names (run with the venv's python)

The fingerprint is a hash of what a lock is resolved from (requires-python, dependencies, optional
dependencies, build requirements), so a comment or a version bump of the project itself does not
make the lock stale, and any change to a dependency does.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

MARK = "# pyproject.toml dependencies sha256="
NOTE = "# (also pins pyproject's [build-system] requires: the project installs without isolation)"
PROJECT = "online-cinema"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def fingerprint(pyproject: Path) -> str:
    data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    project = data.get("project", {})
    inputs = {
        "requires-python": project.get("requires-python"),
        "dependencies": project.get("dependencies", []),
        "optional-dependencies": project.get("optional-dependencies", {}),
        "build-system": data.get("build-system", {}).get("requires", []),
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def pins(lock: Path) -> set[tuple[str, str]]:
    """(name, version) of every pinned line; a name forked by markers appears once per version."""
    found = set()
    for line in lock.read_text(encoding="utf-8").splitlines():
        if m := _PIN.match(line):
            found.add((normalise(m[1]), m[2]))
    return found


def stamp(pyproject: Path, locks: list[Path]) -> None:
    mark = MARK + fingerprint(pyproject)
    for lock in locks:
        text = lock.read_text(encoding="utf-8")
        lines = [line for line in text.splitlines() if not line.startswith(MARK) and line != NOTE]
        header = next((i for i, line in enumerate(lines) if not line.startswith("#")), len(lines))
        lines[header:header] = [mark, NOTE]
        lock.write_text("\n".join(lines) + "\n", encoding="utf-8")


def check(pyproject: Path, runtime: Path, dev: Path) -> list[str]:
    mark = MARK + fingerprint(pyproject)
    problems = [
        f"{lock} was not made from this {pyproject.name}'s dependencies"
        for lock in (runtime, dev)
        if mark not in lock.read_text(encoding="utf-8").splitlines()
    ]
    strays = sorted(pins(runtime) - pins(dev))
    if strays:
        listed = ", ".join(f"{name}=={version}" for name, version in strays)
        problems.append(f"{runtime} pins what {dev} does not: {listed}")
    return problems


def pip_at_least(minimum: str) -> bool:
    def parts(version: str) -> tuple[int, ...]:
        return tuple(int(p) for p in re.findall(r"\d+", version)[:3])

    return parts(importlib.metadata.version("pip")) >= parts(minimum)


def prune(locks: list[Path]) -> None:
    keep = {PROJECT, "pip"}
    for lock in locks:
        keep |= {name for name, _ in pins(lock)}
    extra = sorted(
        {normalise(d.metadata["Name"]) for d in importlib.metadata.distributions()} - keep
    )
    if extra:
        print("removing what the lock no longer names:", " ".join(extra))
        uninstall = [sys.executable, "-m", "pip", "uninstall", "-qy", *extra]
        subprocess.run(uninstall, check=True)  # noqa: S603 (names of installed distributions)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pyproject", type=Path, default=Path("pyproject.toml"))
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("build-requires")
    sub.add_parser("stamp").add_argument("locks", type=Path, nargs="+")
    sub.add_parser("check").add_argument("locks", type=Path, nargs=2, metavar=("RUNTIME", "DEV"))
    sub.add_parser("pip-at-least").add_argument("minimum")
    sub.add_parser("prune").add_argument("locks", type=Path, nargs="+")
    args = parser.parse_args(argv)

    if args.command == "build-requires":
        data = tomllib.loads(args.pyproject.read_text(encoding="utf-8"))
        print("\n".join(data["build-system"]["requires"]))
    elif args.command == "stamp":
        stamp(args.pyproject, args.locks)
    elif args.command == "check":
        problems = check(args.pyproject, *args.locks)
        for problem in problems:
            print(f"lock out of date: {problem}", file=sys.stderr)
        if problems:
            print("run `make lock` (keeps the pins still allowed), then commit", file=sys.stderr)
            return 1
    elif args.command == "pip-at-least":
        return 0 if pip_at_least(args.minimum) else 1
    elif args.command == "prune":
        prune(args.locks)
    return 0


if __name__ == "__main__":
    sys.exit(main())
