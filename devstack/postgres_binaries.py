"""Which Postgres binaries to run: a system installation or the `pgserver` wheel's bundled build.

System ones are found through pg_config, PATH and the usual install dirs; `pgserver` is located
without importing it. An existing data dir needs binaries of the major version that created it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from devstack.service import ServiceError

__all__ = ["PostgresBinaries", "PostgresFlavor", "choose_binaries", "find_postgres_binaries"]

PostgresFlavor = Literal["auto", "system", "pgserver"]


@dataclass(frozen=True)
class PostgresBinaries:
    flavor: Literal["system", "pgserver"]
    bindir: Path
    version: str  # e.g. "15.20"

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    def exe(self, name: str) -> Path:
        return self.bindir / name


_PG_TOOLS = ("postgres", "initdb", "psql", "pg_isready")


def _pg_version(bindir: Path) -> str | None:
    try:
        out = subprocess.run(
            [str(bindir / "postgres"), "--version"], capture_output=True, text=True, timeout=20
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"(\d+(?:\.\d+)?)", out)
    return match.group(1) if match else None


def _pgserver_bindir() -> Path | None:
    # locate without importing: importing pgserver has side effects (lock files)
    spec = importlib.util.find_spec("pgserver")
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / "pginstall" / "bin"


def _system_pg_bindirs() -> Iterator[Path]:
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10
            ).stdout.strip()
            if out:
                yield Path(out)
    for tool in ("postgres", "initdb", "pg_ctl"):
        found = shutil.which(tool)
        if found:
            yield Path(found).resolve().parent

    def version_key(path: Path) -> tuple[int, ...]:
        return tuple(int(n) for n in re.findall(r"\d+", str(path))[-2:])

    for pattern in (
        "/usr/lib/postgresql/*/bin",
        "/usr/pgsql-*/bin",
        "/usr/local/pgsql/bin",
        "/opt/homebrew/opt/postgresql*/bin",
        "/usr/local/opt/postgresql*/bin",
    ):
        yield from sorted(Path("/").glob(pattern.lstrip("/")), key=version_key, reverse=True)


def find_postgres_binaries(flavor: PostgresFlavor = "auto") -> list[PostgresBinaries]:
    """Usable Postgres installations, in order of preference: system ones first, then pgserver's.

    flavor="auto" honours DEVSTACK_POSTGRES=system|pgserver when set.
    """
    if flavor == "auto":
        forced = os.environ.get("DEVSTACK_POSTGRES", "").strip().lower()
        if forced in ("system", "pgserver"):
            flavor = forced  # type: ignore[assignment]
    found: list[PostgresBinaries] = []
    seen: set[Path] = set()
    pgserver_dir = _pgserver_bindir()
    candidates: list[tuple[Literal["system", "pgserver"], Path]] = []
    if flavor in ("auto", "system"):
        candidates += [("system", p) for p in _system_pg_bindirs()]
    if flavor in ("auto", "pgserver") and pgserver_dir is not None:
        candidates.append(("pgserver", pgserver_dir))
    for kind, bindir in candidates:
        with contextlib.suppress(OSError):
            bindir = bindir.resolve()
        if bindir in seen:
            continue
        seen.add(bindir)
        if kind == "system" and pgserver_dir is not None and bindir == pgserver_dir.resolve():
            continue
        if not all(os.access(bindir / tool, os.X_OK) for tool in _PG_TOOLS):
            continue
        version = _pg_version(bindir)
        if version is not None:
            found.append(PostgresBinaries(kind, bindir, version))
    return found


def choose_binaries(flavor: PostgresFlavor, data_dir: Path) -> PostgresBinaries:
    found = find_postgres_binaries(flavor)
    if not found:
        raise ServiceError(
            f"no Postgres binaries found (flavor={flavor}); install the 'stack' extra (pgserver) "
            "or a system PostgreSQL"
        )
    version_file = data_dir / "PG_VERSION"
    if not version_file.exists():
        return found[0]
    major = int(version_file.read_text().strip().split(".")[0])
    for binaries in found:
        if binaries.major == major:
            return binaries
    available = ", ".join(f"{b.flavor} {b.version}" for b in found)
    raise ServiceError(
        f"{data_dir} was created by PostgreSQL {major}, but only {available} is available; "
        f"remove {data_dir.parent} (make clean-stack) to start afresh"
    )
