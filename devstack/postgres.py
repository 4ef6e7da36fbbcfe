"""Postgres for the local stack and the tests: `start_postgres`.

The data dir is kept across restarts; the binaries are chosen by `devstack.postgres_binaries`.

Postgres refuses to run as root. When we are root, `initdb` and `postgres` run as an unprivileged
account (the owner of an existing data dir, else `postgres`, else `nobody`; override with
`DEVSTACK_POSTGRES_OS_USER`), the data and socket dirs are chowned to it, and missing traverse
(`o+x`) bits are added to the state dir's ancestors.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import stat
import subprocess
from pathlib import Path

from devstack.ports import LOOPBACK
from devstack.postgres_binaries import PostgresBinaries, PostgresFlavor, choose_binaries
from devstack.process import (
    PIDFILE_NAME,
    Account,
    clean_env,
    pick_port,
    reap_stale,
    spawn,
    wait_until,
)
from devstack.service import Service, ServiceError

__all__ = ["start_postgres"]

log = logging.getLogger("devstack")


def _postgres_account(data_dir: Path) -> Account | None:
    """The unprivileged account to run Postgres as when we are root; None when we are not."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None
    import pwd

    if data_dir.exists():
        st = data_dir.stat()
        if st.st_uid != 0:
            try:
                return Account(pwd.getpwuid(st.st_uid).pw_name, st.st_uid, st.st_gid)
            except KeyError:
                return Account(str(st.st_uid), st.st_uid, st.st_gid)
    wanted = os.environ.get("DEVSTACK_POSTGRES_OS_USER")
    for name in [wanted] if wanted else ["postgres", "nobody"]:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        if entry.pw_uid != 0:
            return Account(entry.pw_name, entry.pw_uid, entry.pw_gid)
    raise ServiceError(
        "running as root, and Postgres refuses to run as root: no unprivileged account "
        "('postgres' or 'nobody') found; set DEVSTACK_POSTGRES_OS_USER to one"
    )


def _can_traverse(path: Path, account: Account) -> bool:
    st = path.stat()
    if st.st_uid == account.uid:
        return bool(st.st_mode & stat.S_IXUSR)
    if st.st_gid == account.gid:
        return bool(st.st_mode & stat.S_IXGRP)
    return bool(st.st_mode & stat.S_IXOTH)


def _grant_traverse(path: Path, account: Account) -> None:
    """Add o+x to every directory from / down to `path` that `account` cannot traverse."""
    for directory in reversed([path, *path.parents]):
        if not _can_traverse(directory, account):
            log.warning("adding o+x to %s so that %s can reach it", directory, account.name)
            directory.chmod(stat.S_IMODE(directory.stat().st_mode) | stat.S_IXOTH)


def _grant_read_tree(root: Path) -> None:
    """o+r on files and o+rx on dirs/executables below root (pgserver's bundle, when needed)."""
    for dirpath, _dirnames, filenames in os.walk(root):
        directory = Path(dirpath)
        directory.chmod(stat.S_IMODE(directory.stat().st_mode) | stat.S_IROTH | stat.S_IXOTH)
        for filename in filenames:
            file = directory / filename
            if file.is_symlink():
                continue
            mode = stat.S_IMODE(file.stat().st_mode)
            extra = stat.S_IROTH | (stat.S_IXOTH if mode & stat.S_IXUSR else 0)
            if mode & extra != extra:
                file.chmod(mode | extra)


def _chown(path: Path, account: Account | None) -> None:
    if account is not None:
        os.chown(path, account.uid, account.gid)


def _psql(binaries: PostgresBinaries, port: int, user: str, sql: str) -> str:
    result = subprocess.run(
        [
            str(binaries.exe("psql")),
            "-X",
            "-q",
            "-tA",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            LOOPBACK,
            "-p",
            str(port),
            "-U",
            user,
            "-d",
            "postgres",
            "-c",
            sql,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env("PG", PGCONNECT_TIMEOUT="10"),
    )
    if result.returncode != 0:
        raise ServiceError(f"psql failed ({sql!r}): {result.stderr.strip()}")
    return result.stdout.strip()


def start_postgres(
    state_dir: Path,
    port: int | None = None,
    *,
    dbname: str = "cinema",
    user: str = "postgres",
    flavor: PostgresFlavor = "auto",
    durable: bool = True,
    log_path: Path | None = None,
    timeout: float = 60.0,
) -> Service:
    """Postgres with its data in `state_dir/data` (kept across restarts), on 127.0.0.1:port.

    Initialises the cluster on first use (trust auth, UTF8, C locale), creates `dbname` if
    missing, and returns a Service whose `.url` is `postgresql+asyncpg://USER@127.0.0.1:PORT/DB`;
    `.extras` holds `dsn` (plain libpq URL), `flavor`, `version`, `bindir`, `socket_dir`.
    flavor: "system" (pg_config / /usr/lib/postgresql/*/bin / PATH), "pgserver" (the wheel's
    bundled build) or "auto" (system if present, else pgserver; an existing data dir picks the
    binaries of its major version). durable=False turns fsync off: faster, fine for tests.
    """
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", dbname) or not re.fullmatch(
        r"[A-Za-z_][A-Za-z0-9_]*", user
    ):
        raise ValueError("dbname and user must be plain identifiers")
    state_dir = state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    data_dir = state_dir / "data"
    run_dir = state_dir / "run"
    log_path = log_path or state_dir / "postgres.log"
    pidfile = state_dir / PIDFILE_NAME
    reap_stale(pidfile, "postgres")
    binaries = choose_binaries(flavor, data_dir)
    account = _postgres_account(data_dir)
    port = pick_port(port, "postgres")
    server_env = clean_env("PG", "LC_", LANG="C", LC_ALL="C")

    if account is not None:
        _grant_traverse(state_dir, account)
        _grant_traverse(binaries.bindir, account)
        if binaries.flavor == "pgserver" and not (
            binaries.exe("postgres").stat().st_mode & stat.S_IXOTH
        ):
            _grant_read_tree(binaries.bindir.parent)

    if not (data_dir / "PG_VERSION").exists():
        if data_dir.exists():
            raise ServiceError(f"{data_dir} exists but is not a Postgres data dir; remove it")
        staging = state_dir / "data.initdb"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(mode=0o700)
        _chown(staging, account)
        log.info("initdb %s (%s PostgreSQL %s)", data_dir, binaries.flavor, binaries.version)
        argv = [
            str(binaries.exe("initdb")),
            "-D",
            str(staging),
            "-U",
            user,
            "--auth=trust",
            "--encoding=UTF8",
            "--no-locale",
        ]
        if not durable:
            argv.append("--no-sync")
        result = subprocess.run(
            argv,
            cwd=state_dir,
            env=server_env,
            capture_output=True,
            text=True,
            timeout=180,
            user=account.uid if account else None,
            group=account.gid if account else None,
            extra_groups=[] if account else None,
        )
        if result.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            raise ServiceError(f"initdb failed:\n{result.stdout}\n{result.stderr}")
        staging.rename(data_dir)
    elif account is not None and data_dir.stat().st_uid != account.uid:
        raise ServiceError(f"{data_dir} is not owned by {account.name}")

    run_dir.mkdir(exist_ok=True)
    run_dir.chmod(0o755)
    _chown(run_dir, account)
    socket_dir = run_dir if len(f"{run_dir}/.s.PGSQL.{port}.lock") < 100 else None
    argv = [
        str(binaries.exe("postgres")),
        "-D",
        str(data_dir),
        "-h",
        LOOPBACK,
        "-p",
        str(port),
        "-k",
        str(socket_dir or ""),
        "-c",
        "max_connections=200",
        "-c",
        "logging_collector=off",
    ]
    if not durable:
        argv += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
    url = f"postgresql+asyncpg://{user}@{LOOPBACK}:{port}/{dbname}"
    service = spawn(
        "postgres",
        argv,
        cwd=state_dir,
        env=server_env,
        log_path=log_path,
        pidfile=pidfile,
        stop_signal=signal.SIGINT,  # "fast" shutdown: do not wait for clients to disconnect
        stop_timeout=30,
        url=url,
        port=port,
        _account=account,
    )
    service.extras.update(
        dsn=f"postgresql://{user}@{LOOPBACK}:{port}/{dbname}",
        flavor=binaries.flavor,
        version=binaries.version,
        bindir=str(binaries.bindir),
        socket_dir=str(socket_dir or ""),
    )

    def ready() -> bool:
        probe = subprocess.run(
            [str(binaries.exe("pg_isready")), "-q", "-h", LOOPBACK, "-p", str(port), "-t", "2"],
            env=clean_env("PG"),
            capture_output=True,
            timeout=20,
        )
        return probe.returncode == 0

    wait_until(service, ready, timeout, interval=0.2)
    try:
        # dbname is a validated identifier (see the top of this function)
        query = f"SELECT 1 FROM pg_database WHERE datname = '{dbname}'"  # noqa: S608
        exists = _psql(binaries, port, user, query)
        if exists != "1":
            _psql(binaries, port, user, f'CREATE DATABASE "{dbname}"')
    except (ServiceError, subprocess.SubprocessError):
        service.stop()
        raise
    log.info("postgres %s ready at %s (%s)", binaries.version, url, binaries.flavor)
    return service
