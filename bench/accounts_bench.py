"""Accounts benchmark against a running stack (`make dev`): login and `GET /accounts/me/`.

    RATE_LIMIT_LOGIN=100000000 make dev          # terminal 1: the stack, login limit lifted
    make bench                                    # terminal 2: this script, default arguments

What it does, in order:

1. Prepares an activated account (`--user-setup`): `db` runs the `cinema create-admin` code path
   against the stack's database (DATABASE_URL, `--database-url`, or `.stack/env`); `mail`
   registers through the API and follows the activation link from the SMTP sink's `.eml` files.
2. Logs in once (preflight: a 429 means the stack runs with the default login rate limit) and
   reads the password hash the server stored, so the argon2 parameters reported are the
   server's (the login rehashes if the server's parameters differ from this process's).
3. Measures the argon2 cost on this machine: `--hash-samples` sequential
   `PasswordHasher.verify` calls (the server's code path) give t seconds per hash; what the hash
   cost allows is os.cpu_count() / t logins per second.
4. Runs each scenario for `--duration` seconds at `--concurrency` connections, after a short
   warm-up: `login` (POST /accounts/login/), `me` (GET /accounts/me/ with a bearer token) and
   optionally `live` (GET /health/live, the bare-endpoint reference). The load generator is
   `wrk` with a Lua script when it is installed (one C thread: cheap, it shares the cores with
   the server), else an httpx.AsyncClient loop (several times more CPU per request).
5. Prints Markdown tables: results, where the CPU went (per process group, from /proc), and the
   targets; `--json FILE` for scripts. Exits 3 on 429s, 1 on other errors.

The machine may be shared: before each measurement the script records how busy it is
(`--wait-idle` waits for it to be idle), and a run during which processes outside the stack used
over 15 % of a core is run again (`--retry-busy`).

Traffic goes only to `--base-url`, which must be a loopback address.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email
import json
import os
import platform
import re
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from email import policy
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

REPO_ROOT = Path(__file__).resolve().parent.parent
RATE_LIMIT_HINT = (
    "The API answered 429 Too Many Requests: the stack's login rate limit is in force "
    "(RATE_LIMIT_LOGIN, default 10 logins per minute per email). Restart it with the limit "
    "lifted, e.g.\n"
    "    RATE_LIMIT_LOGIN=100000000 make dev\n"
    "and run the benchmark again."
)
DEFAULT_EMAIL = "bench-user@example.com"
DEFAULT_PASSWORD = "Bench-Passw0rd!"  # the bench account only ever lives in a dev database
LOGIN_TARGET_RATIO = 0.80
ME_TARGET_RPS = 1500.0
SCENARIOS = ("login", "me", "live")
IDLE_BUSY_PCT = 10.0  # whole-machine CPU use under which we call the machine idle
BUSY_WARNING_PCT = 15.0


class BenchError(Exception):
    """A problem that stops the benchmark with a message (not a traceback)."""


class RateLimitedError(BenchError):
    pass


# ------------------------------------------------------------------------------------- machine


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs, from /proc/stat; (0, 0) where there is none."""
    try:
        first = Path("/proc/stat").read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return 0, 0
    values = [int(v) for v in first[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    total = sum(values[:8])  # guest time is already counted in user
    return total - idle, total


class CpuMeter:
    """Whole-machine CPU use between start() and stop(), in percent of all cores."""

    def __init__(self) -> None:
        self._start = (0, 0)

    def start(self) -> None:
        self._start = _cpu_times()

    def stop(self) -> float | None:
        busy, total = _cpu_times()
        if total <= self._start[1]:
            return None
        return 100.0 * (busy - self._start[0]) / (total - self._start[1])


def machine_busy(seconds: float = 1.0) -> float | None:
    """CPU use of the whole machine over `seconds` while we send nothing."""
    meter = CpuMeter()
    meter.start()
    time.sleep(seconds)
    return meter.stop()


def wait_until_idle(max_wait: float) -> float | None:
    """Sample 1 s windows until one is under IDLE_BUSY_PCT busy or `max_wait` seconds pass.

    Returns the last sample: what the machine did just before we start measuring.
    """
    deadline = time.monotonic() + max_wait
    while True:
        busy = machine_busy(1.0)
        if busy is None or busy < IDLE_BUSY_PCT or time.monotonic() >= deadline:
            return busy


CPU_GROUPS = ("API server", "postgres", "redis", "bench + wrk", "Temporal + worker", "other")


def _cpu_group(pid: int, comm: str) -> str:
    if pid == os.getpid() or comm == "wrk":
        return "bench + wrk"  # wrk, our child, lands in our children's time when it exits
    if comm.startswith("python"):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            return "other"
        if any(server in cmdline for server in ("granian", "uvicorn", "hypercorn")):
            return "API server"
        if "worker.py" in cmdline:
            return "Temporal + worker"
        return "other"
    if comm == "postgres":
        return "postgres"  # backends that exit are in the postmaster's children's time
    if comm.startswith("redis"):
        return "redis"
    if comm == "temporal":
        return "Temporal + worker"
    return "other"


ProcSnapshot = dict[int, tuple[str, int, int]]  # pid: (group, own ticks, reaped children ticks)


def process_snapshot() -> ProcSnapshot:
    """CPU ticks of every process, from /proc/<pid>/stat (empty where there is no /proc).

    A process is grouped by its own name and command line, or else by its parent's group: the
    worker processes of a multi-process server (e.g. uvicorn's spawned workers) are its own.
    """
    raw_stats: dict[int, tuple[str, int, int, int]] = {}  # pid: (comm, ppid, own, children)
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                raw = Path(entry.path, "stat").read_text()
            except OSError:
                continue
            comm = raw[raw.index("(") + 1 : raw.rindex(")")]
            fields = raw[raw.rindex(")") + 2 :].split()
            # after ")": state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14)
            raw_stats[int(entry.name)] = (
                comm,
                int(fields[1]),
                int(fields[11]) + int(fields[12]),
                int(fields[13]) + int(fields[14]),
            )
    own_group = {pid: _cpu_group(pid, comm) for pid, (comm, *_) in raw_stats.items()}
    snapshot: ProcSnapshot = {}
    for pid, (_, ppid, own, children) in raw_stats.items():
        group = own_group[pid]
        if group == "other" and own_group.get(ppid, "other") != "other":
            group = own_group[ppid]
        snapshot[pid] = (group, own, children)
    return snapshot


def cpu_by_group(before: ProcSnapshot, after: ProcSnapshot, seconds: float) -> dict[str, float]:
    """Percent of one core used by each group of processes between two snapshots."""
    ticks: Counter[str] = Counter()
    for pid, (group, own, children) in after.items():
        _, own0, children0 = before.get(pid, (group, 0, 0))
        ticks[group] += (own - own0) + (children - children0)
    if seconds <= 0:
        return {}
    hertz = os.sysconf("SC_CLK_TCK")
    # A long-lived process that reaps a child gets the child's whole lifetime in its children's
    # time; no group can really have used more than every core.
    ceiling = 100.0 * (os.cpu_count() or 1)
    return {g: min(ceiling, 100.0 * ticks[g] / hertz / seconds) for g in CPU_GROUPS}


def load_average() -> str:
    try:
        return " / ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def _own_cpu_seconds(children: bool) -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# ------------------------------------------------------------------------------------- settings


def find_database_url(explicit: str | None) -> str | None:
    """--database-url, else DATABASE_URL, else the `export DATABASE_URL=...` of .stack/env."""
    if explicit:
        return explicit
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    state = Path(os.environ.get("DEVSTACK_STATE_DIR") or REPO_ROOT / ".stack")
    env_file = state / "env"
    with contextlib.suppress(OSError):
        for line in env_file.read_text().splitlines():
            parts = shlex.split(line)
            if len(parts) == 2 and parts[0] == "export" and parts[1].startswith("DATABASE_URL="):
                return parts[1].split("=", 1)[1]
    return None


def default_mail_dir() -> Path:
    return Path(os.environ.get("DEVSTACK_STATE_DIR") or REPO_ROOT / ".stack") / "mail"


@dataclass(frozen=True)
class Argon2Params:
    variant: str
    time_cost: int
    memory_kib: int
    parallelism: int

    @classmethod
    def from_hash(cls, encoded: str) -> Argon2Params:
        """Parse `$argon2id$v=19$m=19456,t=2,p=1$salt$hash`."""
        match = re.match(r"^\$(argon2(?:id|i|d))\$v=\d+\$m=(\d+),t=(\d+),p=(\d+)\$", encoded)
        if match is None:
            raise BenchError(f"not an argon2 hash: {encoded[:20]}...")
        variant, m, t, p = match.groups()
        return cls(variant=variant, time_cost=int(t), memory_kib=int(m), parallelism=int(p))

    def describe(self) -> str:
        mib = self.memory_kib / 1024
        return (
            f"{self.variant} t={self.time_cost}, m={self.memory_kib} KiB ({mib:g} MiB), "
            f"p={self.parallelism}"
        )


# ------------------------------------------------------------------------------------- account


async def _db_create_account(database_url: str, email_: str, password: str) -> str:
    """The `cinema create-admin` code path: an activated account whose password is reset."""
    from cli import create_admin
    from domain.config import Settings

    user_id, created = await create_admin(Settings(database_url=database_url), email_, password)
    what = "created" if created else "existing account, password reset"
    return f"`cinema create-admin` code path: user id {user_id} ({what})"


ACCOUNT_EXISTS = "exists"  # _activation_link: the mail says the account already exists


def _activation_link(mail_dir: Path, email_: str, since: float) -> str | None:
    """The activation link mailed to `email_` since `since`, ACCOUNT_EXISTS, or None (yet)."""
    for path in sorted(mail_dir.glob("*.eml"), key=lambda p: p.stat().st_mtime, reverse=True):
        if path.stat().st_mtime < since:
            break
        with path.open("rb") as fp:
            message = email.message_from_binary_file(fp, policy=policy.default)
        if str(message["To"]).strip().lower() != email_:
            continue
        body = message.get_body(preferencelist=("plain",))
        text = body.get_content() if body is not None else ""
        match = re.search(r"https?://\S+/accounts/activate/\?\S+", str(text))
        if match:
            return match.group(0)
        if "register" in str(message["Subject"]).lower():  # "Someone tried to register with..."
            return ACCOUNT_EXISTS
    return None


async def _mail_create_account(
    client: httpx.AsyncClient, mail_dir: Path, email_: str, password: str, wait_seconds: float
) -> str:
    """Register through the API, then open the activation link from the SMTP sink's mail."""
    started = time.time() - 1
    response = await client.post(
        "/accounts/register/", json={"email": email_, "password": password}
    )
    if response.status_code == 429:
        raise BenchError(f"registration was rate limited (429): {response.text}")
    if response.status_code != 202:
        raise BenchError(f"registration failed: {response.status_code} {response.text}")
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        link = _activation_link(mail_dir, email_, started)
        if link == ACCOUNT_EXISTS:
            return "registered through the API: the account exists already (notice mailed)"
        if link is not None:
            parts = urlsplit(link)
            activated = await client.get(f"{parts.path}?{parts.query}")
            if activated.status_code != 200:
                raise BenchError(f"activation failed: {activated.status_code} {activated.text}")
            return f"registered through the API, activated from {mail_dir}"
        await asyncio.sleep(0.5)
    # No activation mail: the account may exist and be active already (a second run).
    return f"registered through the API; no activation mail in {mail_dir} (existing account?)"


async def _stored_hash(database_url: str, email_: str) -> str | None:
    from domain.accounts import repository as repo
    from domain.config import Settings
    from domain.db import create_engine, create_session_factory, transaction

    engine = create_engine(Settings(database_url=database_url))
    try:
        async with transaction(create_session_factory(engine)) as session:
            user = await repo.get_user_by_email(session, email_)
            return user.hashed_password if user is not None else None
    finally:
        await engine.dispose()


async def login_once(client: httpx.AsyncClient, email_: str, password: str) -> str:
    """A fresh access token; raises with a clear message on 429 or any other failure."""
    response = await client.post("/accounts/login/", json={"email": email_, "password": password})
    if response.status_code == 429:
        raise RateLimitedError(RATE_LIMIT_HINT)
    if response.status_code != 200:
        raise BenchError(
            f"login failed: {response.status_code} {response.text}\n"
            "Is the account prepared in the database the API uses (--database-url)?"
        )
    token: str = response.json()["access_token"]
    return token


# ------------------------------------------------------------------------------------- hash cost


@dataclass
class HashCost:
    params: Argon2Params
    samples: int
    seconds_per_hash: float
    cores: int
    bound_per_second: float  # cores / seconds_per_hash
    parallel_per_second: float  # measured with `cores` in flight
    machine_busy_before_pct: float | None = None


async def measure_hash_cost(
    params: Argon2Params, encoded: str, password: str, samples: int
) -> HashCost:
    """Sequential verifies (one in flight: single-threaded), then `cores` in flight."""
    from domain.config import Settings
    from domain.security import PasswordHasher

    hasher = PasswordHasher(
        Settings(
            argon2_time_cost=params.time_cost,
            argon2_memory_kib=params.memory_kib,
            argon2_parallelism=params.parallelism,
        )
    )
    for _ in range(3):  # warm-up: thread pool, memory
        ok, _ = await hasher.verify(password, encoded)
        if not ok:
            raise BenchError("the stored hash does not verify with the bench password")
    started = time.perf_counter()
    for _ in range(samples):
        await hasher.verify(password, encoded)
    per_hash = (time.perf_counter() - started) / samples
    cores = os.cpu_count() or 1

    async def lane(count: int) -> None:
        for _ in range(count):
            await hasher.verify(password, encoded)

    started = time.perf_counter()
    await asyncio.gather(*(lane(samples) for _ in range(cores)))
    parallel = cores * samples / (time.perf_counter() - started)
    return HashCost(params, samples, per_hash, cores, cores / per_hash, parallel)


# ------------------------------------------------------------------------------------- load


@dataclass
class RunResult:
    scenario: str
    method: str
    path: str
    tool: str
    concurrency: int
    seconds: float
    responses: int
    ok: int  # 2xx
    rate_limited: int  # 429
    other_status: int
    socket_errors: int  # connect/read/write errors and timeouts
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    machine_busy_before_pct: float | None = None
    machine_busy_during_pct: float | None = None
    machine_busy_after_pct: float | None = None
    loadgen_cpu_pct: float | None = None  # of one core
    cpu_by_group: dict[str, float] = field(default_factory=dict)  # % of one core
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def throughput(self) -> float:
        """Successful (2xx) responses per second."""
        return self.ok / self.seconds if self.seconds > 0 else 0.0

    @property
    def errors(self) -> int:
        return self.rate_limited + self.other_status + self.socket_errors


@dataclass(frozen=True)
class Request:
    scenario: str
    method: str
    path: str
    headers: dict[str, str]
    body: str | None


WRK_LUA = r"""
wrk.method = %(method)s
wrk.body = %(body)s
%(headers)s
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) ok = 0; limited = 0; other = 0 end
function response(status, headers, body)
  if status >= 200 and status < 300 then ok = ok + 1
  elseif status == 429 then limited = limited + 1
  else other = other + 1 end
end
function done(summary, latency, requests)
  local a, b, c = 0, 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("ok"); b = b + t:get("limited"); c = c + t:get("other")
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"responses": %%d, "duration_us": %%d, "ok": %%d, "rate_limited": %%d, ' ..
    '"other_status": %%d, "socket_errors": %%d, "p50_us": %%d, "p90_us": %%d, "p99_us": %%d, ' ..
    '"max_us": %%d}\n',
    summary.requests, summary.duration, a, b, c, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


def _lua_string(value: str | None) -> str:
    if value is None:
        return "nil"
    return json.dumps(value)  # a JSON string of ASCII text is a valid Lua string literal


def _wrk_script(request: Request) -> str:
    headers = "\n".join(
        f"wrk.headers[{_lua_string(k)}] = {_lua_string(v)}" for k, v in request.headers.items()
    )
    return WRK_LUA % {
        "method": _lua_string(request.method),
        "body": _lua_string(request.body),
        "headers": headers,
    }


def run_wrk(
    wrk: str, base_url: str, request: Request, concurrency: int, seconds: int, threads: int
) -> RunResult:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_wrk_script(request))
    try:
        argv = [
            wrk,
            f"-t{min(threads, concurrency)}",
            f"-c{concurrency}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "-s",
            script.name,
            base_url.rstrip("/") + request.path,
        ]
        cpu_before = _own_cpu_seconds(children=True)
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
        cpu_used = _own_cpu_seconds(children=True) - cpu_before
    finally:
        os.unlink(script.name)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if proc.returncode != 0 or line is None:
        raise BenchError(f"wrk failed ({proc.returncode}): {proc.stderr or proc.stdout}")
    data = json.loads(line.removeprefix("BENCH_JSON "))
    elapsed = data["duration_us"] / 1e6
    return RunResult(
        scenario=request.scenario,
        method=request.method,
        path=request.path,
        tool=f"wrk -t{min(threads, concurrency)}",
        concurrency=concurrency,
        seconds=elapsed,
        responses=data["responses"],
        ok=data["ok"],
        rate_limited=data["rate_limited"],
        other_status=data["other_status"],
        socket_errors=data["socket_errors"],
        p50_ms=data["p50_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
        loadgen_cpu_pct=100.0 * cpu_used / elapsed if elapsed else None,
    )


def _percentile(sorted_values: Sequence[float], pct: float) -> float:
    if not sorted_values:
        return 0.0
    rank = max(0, min(len(sorted_values) - 1, round(pct / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[rank]


async def run_httpx(base_url: str, request: Request, concurrency: int, seconds: float) -> RunResult:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    socket_errors = 0
    content = request.body.encode() if request.body is not None else None
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=10.0) as client:
        deadline = time.perf_counter() + seconds

        async def lane() -> None:
            nonlocal socket_errors
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                try:
                    response = await client.request(
                        request.method, request.path, headers=request.headers, content=content
                    )
                except httpx.HTTPError:
                    socket_errors += 1
                    continue
                latencies.append(time.perf_counter() - started)
                statuses[response.status_code] += 1

        cpu_before = _own_cpu_seconds(children=False)
        started = time.perf_counter()
        await asyncio.gather(*(lane() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        cpu_used = _own_cpu_seconds(children=False) - cpu_before
    latencies.sort()
    ok = sum(n for status, n in statuses.items() if 200 <= status < 300)
    return RunResult(
        scenario=request.scenario,
        method=request.method,
        path=request.path,
        tool="httpx",
        concurrency=concurrency,
        seconds=elapsed,
        responses=sum(statuses.values()),
        ok=ok,
        rate_limited=statuses[429],
        other_status=sum(statuses.values()) - ok - statuses[429],
        socket_errors=socket_errors,
        p50_ms=1000 * _percentile(latencies, 50),
        p90_ms=1000 * _percentile(latencies, 90),
        p99_ms=1000 * _percentile(latencies, 99),
        max_ms=1000 * (latencies[-1] if latencies else 0.0),
        loadgen_cpu_pct=100.0 * cpu_used / elapsed if elapsed else None,
    )


# ------------------------------------------------------------------------------------- report


def _fmt(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def results_table(results: Sequence[RunResult]) -> str:
    lines = [
        "| scenario | request | load generator | conc. | seconds | 2xx/s | p50 ms | p90 ms "
        "| p99 ms | max ms | errors (429 / other / socket) "
        "| machine busy before / during / after | load-gen CPU |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.scenario} | `{r.method} {r.path}` | {r.tool} | {r.concurrency} "
            f"| {r.seconds:.1f} | **{r.throughput:,.0f}** | {r.p50_ms:.1f} | {r.p90_ms:.1f} "
            f"| {r.p99_ms:.1f} | {r.max_ms:.1f} "
            f"| {r.errors} ({r.rate_limited} / {r.other_status} / {r.socket_errors}) "
            f"| {_fmt(r.machine_busy_before_pct, 0)}% / {_fmt(r.machine_busy_during_pct, 0)}% "
            f"/ {_fmt(r.machine_busy_after_pct, 0)}% "
            f"| {_fmt(r.loadgen_cpu_pct, 0)}% |"
        )
    return "\n".join(lines)


def cpu_table(results: Sequence[RunResult]) -> str:
    cores = os.cpu_count() or 1
    lines = [
        f"| scenario | {' | '.join(CPU_GROUPS)} | machine |",
        "|---|" + "---:|" * (len(CPU_GROUPS) + 1),
    ]
    for r in results:
        cells = [f"{r.cpu_by_group.get(g, 0.0):.0f}%" for g in CPU_GROUPS]
        machine = (
            "n/a"
            if r.machine_busy_during_pct is None
            else f"{cores * r.machine_busy_during_pct:.0f}%"
        )
        lines.append(f"| {r.scenario} | {' | '.join(cells)} | {machine} |")
    return "\n".join(lines)


def hash_table(cost: HashCost) -> str:
    return "\n".join(
        [
            "| argon2 (as stored by the server) | per verify, 1 thread | cores | "
            "bound = cores / t | measured, `cores` in flight |",
            "|---|---:|---:|---:|---:|",
            f"| {cost.params.describe()} | {1000 * cost.seconds_per_hash:.1f} ms "
            f"({cost.samples} samples) | {cost.cores} | **{cost.bound_per_second:,.1f} logins/s** "
            f"| {cost.parallel_per_second:,.1f} verifies/s |",
        ]
    )


def targets_table(results: Sequence[RunResult], cost: HashCost | None) -> str:
    lines = ["| target | measured | met? |", "|---|---|---|"]
    for r in results:
        if r.scenario == "login" and cost is not None:
            ratio = r.throughput / cost.bound_per_second
            need = LOGIN_TARGET_RATIO * cost.bound_per_second
            lines.append(
                f"| login >= {LOGIN_TARGET_RATIO:.0%} of the hash-cost bound "
                f"({need:,.1f}/s of {cost.bound_per_second:,.1f}/s) "
                f"| {r.throughput:,.1f}/s = {ratio:.0%} "
                f"| {'yes' if ratio >= LOGIN_TARGET_RATIO else 'NO'} |"
            )
        if r.scenario == "me":
            met = r.throughput >= ME_TARGET_RPS
            lines.append(
                f"| `GET /accounts/me/` > {ME_TARGET_RPS:,.0f} req/s on {os.cpu_count()} cores "
                f"| {r.throughput:,.0f}/s | {'yes' if met else 'NO'} |"
            )
    return "\n".join(lines)


# ------------------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--base-url",
        default=os.environ.get("BENCH_BASE_URL")
        or f"http://127.0.0.1:{os.environ.get('API_PORT', '8001')}",
        help="the API (default: BENCH_BASE_URL, else http://127.0.0.1:$API_PORT or :8001)",
    )
    parser.add_argument("--concurrency", type=int, default=16, help="connections (default 16)")
    parser.add_argument(
        "--duration", type=int, default=15, help="seconds per scenario (default 15)"
    )
    parser.add_argument(
        "--warmup", type=int, default=2, help="seconds of warm-up per scenario (0: none)"
    )
    parser.add_argument(
        "--scenarios",
        default="login,me",
        help=f"comma-separated, from {', '.join(SCENARIOS)} (default login,me)",
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="the stack's database, to prepare the account and read its hash "
        "(default: DATABASE_URL, else .stack/env)",
    )
    parser.add_argument(
        "--user-setup",
        choices=("auto", "db", "mail", "none"),
        default="auto",
        help="db: the create-admin code path; mail: register + activation mail; "
        "none: the account exists; auto: db when a database URL is known, else mail",
    )
    parser.add_argument("--mail-dir", type=Path, default=default_mail_dir())
    parser.add_argument("--email", default=DEFAULT_EMAIL)
    parser.add_argument("--password", default=DEFAULT_PASSWORD)
    parser.add_argument(
        "--hash-samples", type=int, default=30, help="argon2 verifies to time (default 30)"
    )
    parser.add_argument(
        "--tool",
        choices=("auto", "wrk", "httpx"),
        default="auto",
        help="load generator (auto: wrk when installed)",
    )
    parser.add_argument("--wrk-threads", type=int, default=1, help="wrk threads (default 1)")
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=0.0,
        help="before each measurement, wait up to this many seconds for the machine to be idle "
        f"(under {IDLE_BUSY_PCT:.0f}%% CPU over 1 s); default 0: just record how busy it was",
    )
    parser.add_argument(
        "--retry-busy",
        type=int,
        default=2,
        help="run a scenario again, up to this many times, when processes outside the stack "
        f"used over {BUSY_WARNING_PCT:.0f}%% of a core during it (default 2)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--label", default="", help="a note carried into --json (e.g. server)")
    args = parser.parse_args(argv)
    if not 1 <= args.duration <= 600 or not 0 <= args.warmup <= 60:
        parser.error("--duration must be 1..600 seconds and --warmup 0..60")
    if not 1 <= args.concurrency <= 1024:
        parser.error("--concurrency must be 1..1024")
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    host = urlsplit(args.base_url).hostname or ""
    if not (host == "localhost" or host.startswith("127.") or host == "::1"):
        parser.error("--base-url must be a loopback address (127.0.0.0/8, localhost, ::1)")
    return args


async def run_scenario(
    args: argparse.Namespace, wrk: str | None, request: Request, seconds: int
) -> RunResult:
    if wrk is not None:
        return await asyncio.to_thread(
            run_wrk, wrk, args.base_url, request, args.concurrency, seconds, args.wrk_threads
        )
    return await run_httpx(args.base_url, request, args.concurrency, seconds)


async def measure(args: argparse.Namespace, wrk: str | None, request: Request) -> RunResult:
    """One run of `request`; again (up to --retry-busy times) while other processes used the CPU."""
    attempt = 0
    while True:
        busy_before = await asyncio.to_thread(wait_until_idle, args.wait_idle)
        meter = CpuMeter()
        meter.start()
        procs_before = process_snapshot()
        result = await run_scenario(args, wrk, request, args.duration)
        result.cpu_by_group = cpu_by_group(procs_before, process_snapshot(), result.seconds)
        result.machine_busy_during_pct = meter.stop()
        result.machine_busy_before_pct = busy_before
        result.machine_busy_after_pct = await asyncio.to_thread(machine_busy, 1.0)
        result.extra["attempt"] = attempt + 1
        foreign = result.cpu_by_group.get("other", 0.0)
        if foreign <= BUSY_WARNING_PCT or attempt >= args.retry_busy:
            return result
        attempt += 1
        print(
            f"- {request.scenario}: other processes used {foreign:.0f}% of a core during the "
            f"run ({result.throughput:,.0f} 2xx/s); measuring again",
            file=sys.stderr,
        )


async def amain(args: argparse.Namespace) -> int:
    wrk = shutil.which("wrk") if args.tool in ("auto", "wrk") else None
    if args.tool == "wrk" and wrk is None:
        raise BenchError("wrk is not installed (apt-get install wrk), or use --tool httpx")
    email_ = args.email.strip().lower()
    database_url = find_database_url(args.database_url)
    setup = args.user_setup
    if setup == "auto":
        setup = "db" if database_url else "mail"
    if setup == "db" and not database_url:
        raise BenchError("--user-setup db needs --database-url, DATABASE_URL or .stack/env")

    print("# Accounts benchmark\n")
    print(f"- API: {args.base_url}")
    print(f"- machine: {os.cpu_count()} cores, {cpu_model()}, load average {load_average()}")
    print(f"- load generator: {'wrk (' + wrk + ')' if wrk else 'httpx.AsyncClient'}")

    async with httpx.AsyncClient(base_url=args.base_url, timeout=30.0) as client:
        try:
            live = await client.get("/health/live")
        except httpx.HTTPError as exc:
            raise BenchError(f"the API is not reachable at {args.base_url}: {exc}") from None
        if live.status_code != 200:
            raise BenchError(f"/health/live answered {live.status_code}")

        if setup == "db":
            how = await _db_create_account(database_url or "", email_, args.password)
        elif setup == "mail":
            how = await _mail_create_account(
                client, args.mail_dir, email_, args.password, wait_seconds=30
            )
        else:
            how = "existing account (--user-setup none)"
        print(f"- account: {email_}: {how}")
        await login_once(client, email_, args.password)  # preflight; rehashes if needed

    cost: HashCost | None = None
    if "login" in args.scenarios:
        if not database_url:
            print("- hash cost: skipped (no database URL to read the server's hash from)")
        else:
            stored = await _stored_hash(database_url, email_)
            if stored is None:
                raise BenchError(f"{email_} is not in {database_url}: wrong --database-url?")
            params = Argon2Params.from_hash(stored)
            for attempt in range(args.retry_busy + 1):
                busy_before = await asyncio.to_thread(wait_until_idle, args.wait_idle)
                started, procs_before = time.perf_counter(), process_snapshot()
                cost = await measure_hash_cost(params, stored, args.password, args.hash_samples)
                elapsed = time.perf_counter() - started
                cost.machine_busy_before_pct = busy_before
                foreign = cpu_by_group(procs_before, process_snapshot(), elapsed).get("other", 0)
                if foreign <= BUSY_WARNING_PCT:
                    break
                if attempt < args.retry_busy:
                    print(
                        f"- hash cost: other processes used {foreign:.0f}% of a core; again",
                        file=sys.stderr,
                    )
            print(f"- argon2: {params.describe()}")

    results: list[RunResult] = []
    for scenario in args.scenarios:
        if scenario == "login":
            body = json.dumps({"email": email_, "password": args.password})
            request = Request(
                "login", "POST", "/accounts/login/", {"Content-Type": "application/json"}, body
            )
        elif scenario == "me":
            async with httpx.AsyncClient(base_url=args.base_url, timeout=30.0) as client:
                token = await login_once(client, email_, args.password)
            request = Request(
                "me", "GET", "/accounts/me/", {"Authorization": f"Bearer {token}"}, None
            )
        else:
            request = Request("live", "GET", "/health/live", {}, None)
        if args.warmup > 0:
            await run_scenario(args, wrk, request, args.warmup)
        result = await measure(args, wrk, request)
        results.append(result)
        sys.stdout.flush()
        print(
            f"- {scenario}: {result.throughput:,.0f} 2xx/s, p50 {result.p50_ms:.1f} ms, "
            f"p99 {result.p99_ms:.1f} ms, errors {result.errors}",
            file=sys.stderr,
        )
        if result.rate_limited:
            print(f"- {scenario}: answered 429; the remaining scenarios are skipped")
            break

    print(f"- load average after: {load_average()}\n")
    if cost is not None:
        print("## Hash cost\n")
        print(hash_table(cost) + "\n")
    print(f"## Results ({args.concurrency} connections, {args.duration} s per scenario)\n")
    print(results_table(results) + "\n")
    if any(r.cpu_by_group for r in results):
        cores = os.cpu_count() or 1
        print(f"## Where the CPU went (% of one core; {cores} cores = {100 * cores}%)\n")
        print(cpu_table(results) + "\n")
    print("## Targets\n")
    print(targets_table(results, cost) + "\n")
    busy = [r for r in results if r.cpu_by_group.get("other", 0.0) > BUSY_WARNING_PCT]
    if cost is not None and (cost.machine_busy_before_pct or 0) > BUSY_WARNING_PCT:
        print(
            f"WARNING: the machine was {cost.machine_busy_before_pct:.0f}% busy before the "
            "hash-cost measurement; the bound may be too low.\n"
        )
    if busy:
        print(
            "WARNING: the machine was busy around "
            + ", ".join(r.scenario for r in busy)
            + " (the `other` CPU column): something outside the stack was running; measure "
            "again when the machine is idle (--wait-idle, --retry-busy).\n"
        )

    if args.json is not None:
        payload = {
            "label": args.label,
            "base_url": args.base_url,
            "cores": os.cpu_count(),
            "cpu_model": cpu_model(),
            "hash_cost": asdict(cost) if cost is not None else None,
            "results": [asdict(r) | {"throughput": r.throughput} for r in results],
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n")

    if any(r.rate_limited for r in results):
        print(RATE_LIMIT_HINT, file=sys.stderr)
        return 3
    if any(r.errors for r in results):
        print("some requests failed: see the errors column", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return asyncio.run(amain(args))
    except RateLimitedError as exc:
        print(str(exc), file=sys.stderr)
        return 3
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
