"""Load generation: one request, repeated over N keep-alive connections for a while.

`wrk` (Debian: `apt-get install wrk`) with a Lua script is the load generator: one C thread by
default, cheap enough to share the two cores with the server under test. Without wrk an
aiohttp loop does the same (a few times more CPU per request, so it takes more of the server's
cores; httpx, used before, took ~10x aiohttp's at 16 connections). Either way the result counts
responses with the expected status (2xx, or e.g. 304 for conditional GETs), every other status,
and socket errors, and gives latency percentiles.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bench.machine import own_cpu_seconds


class BenchError(Exception):
    """A problem that stops the benchmark with a message (not a traceback)."""


@dataclass(frozen=True)
class Request:
    name: str  # the row's name in the report
    method: str
    path: str  # with its query string
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None
    expect: tuple[int, int] = (200, 299)  # the statuses that count as success

    def describe(self) -> str:
        return f"{self.method} {self.path}"


@dataclass
class RunResult:
    name: str
    method: str
    path: str
    tool: str
    concurrency: int
    seconds: float
    responses: int
    ok: int  # the expected status
    rate_limited: int  # 429
    other_status: int
    socket_errors: int  # connect/read/write errors and timeouts
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    loadgen_cpu_pct: float | None = None  # of one core
    machine_busy_before_pct: float | None = None
    machine_busy_during_pct: float | None = None  # of all cores
    load_average: tuple[float, float, float] | None = None  # right after the run
    cpu_by_group: dict[str, float] = field(default_factory=dict)  # % of one core
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def throughput(self) -> float:
        """Responses with the expected status per second."""
        return self.ok / self.seconds if self.seconds > 0 else 0.0

    @property
    def errors(self) -> int:
        return self.rate_limited + self.other_status + self.socket_errors


WRK_LUA = r"""
wrk.method = %(method)s
wrk.body = %(body)s
%(headers)s
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) ok = 0; limited = 0; other = 0 end
function response(status, headers, body)
  if status >= %(lo)d and status <= %(hi)d then ok = ok + 1
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


def wrk_script(request: Request) -> str:
    headers = "\n".join(
        f"wrk.headers[{_lua_string(k)}] = {_lua_string(v)}" for k, v in request.headers.items()
    )
    return WRK_LUA % {
        "method": _lua_string(request.method),
        "body": _lua_string(request.body),
        "headers": headers,
        "lo": request.expect[0],
        "hi": request.expect[1],
    }


def run_wrk(
    wrk: str, base_url: str, request: Request, concurrency: int, seconds: float, threads: int
) -> RunResult:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(wrk_script(request))
    threads = min(threads, concurrency)
    try:
        argv = [
            wrk,
            f"-t{threads}",
            f"-c{concurrency}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "-s",
            script.name,
            base_url.rstrip("/") + request.path,
        ]
        cpu_before = own_cpu_seconds(children=True)
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
        cpu_used = own_cpu_seconds(children=True) - cpu_before
    finally:
        os.unlink(script.name)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if proc.returncode != 0 or line is None:
        raise BenchError(f"wrk failed ({proc.returncode}): {proc.stderr or proc.stdout}")
    data = json.loads(line.removeprefix("BENCH_JSON "))
    elapsed = data["duration_us"] / 1e6
    return RunResult(
        name=request.name,
        method=request.method,
        path=request.path,
        tool=f"wrk -t{threads}",
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


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    if not sorted_values:
        return 0.0
    rank = max(0, min(len(sorted_values) - 1, round(pct / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[rank]


async def run_aiohttp(
    base_url: str, request: Request, concurrency: int, seconds: float
) -> RunResult:
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    socket_errors = 0
    content = request.body.encode() if request.body is not None else None
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=10.0)
    async with aiohttp.ClientSession(base_url, connector=connector, timeout=timeout) as client:
        deadline = time.perf_counter() + seconds

        async def lane() -> None:
            nonlocal socket_errors
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                try:
                    async with client.request(
                        request.method, request.path, headers=request.headers, data=content
                    ) as response:
                        await response.read()
                except (aiohttp.ClientError, TimeoutError):
                    socket_errors += 1
                    continue
                latencies.append(time.perf_counter() - started)
                statuses[response.status] += 1

        cpu_before = own_cpu_seconds(children=False)
        started = time.perf_counter()
        await asyncio.gather(*(lane() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        cpu_used = own_cpu_seconds(children=False) - cpu_before
    latencies.sort()
    lo, hi = request.expect
    ok = sum(n for status, n in statuses.items() if lo <= status <= hi)
    return RunResult(
        name=request.name,
        method=request.method,
        path=request.path,
        tool="aiohttp",
        concurrency=concurrency,
        seconds=elapsed,
        responses=sum(statuses.values()),
        ok=ok,
        rate_limited=statuses[429],
        other_status=sum(statuses.values()) - ok - statuses[429],
        socket_errors=socket_errors,
        p50_ms=1000 * percentile(latencies, 50),
        p90_ms=1000 * percentile(latencies, 90),
        p99_ms=1000 * percentile(latencies, 99),
        max_ms=1000 * (latencies[-1] if latencies else 0.0),
        loadgen_cpu_pct=100.0 * cpu_used / elapsed if elapsed else None,
    )
